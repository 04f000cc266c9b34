"""Base encoder + classification head: resolve the base model offline, build it with our label map; and
:class:`TorchEngine`, the trained PyTorch weights behind the serving engine's interface (parity checks)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hatespeech.base_models import resolve_base_model
from hatespeech.data import LABELS
from hatespeech.engines.base import BaseEngine, Encoded
from hatespeech.errors import ModelError

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ID2LABEL = dict(enumerate(LABELS))
LABEL2ID = {label: i for i, label in ID2LABEL.items()}
HATE_ID = LABEL2ID["hate"]


def load_base(name: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and a sequence-classification model with a fresh two-class head on ``name``'s encoder."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = resolve_base_model(name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # the "newly initialised head" warning is expected here
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=len(LABELS), id2label=ID2LABEL, label2id=LABEL2ID
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load base model {name!r}: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    return tokenizer, model


def load_trained(directory: Path) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and fine-tuned model from a model directory (PyTorch weights)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForSequenceClassification.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model from {directory}: {exc}") from exc
    model.eval()
    return tokenizer, model


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters that stage 1 trains: everything outside the base encoder."""
    base_prefix = getattr(model, "base_model_prefix", "")
    return {
        name for name, _ in model.named_parameters() if not name.startswith(f"{base_prefix}.") or ".pooler." in name
    }


def layer_depth(name: str, num_layers: int) -> int:
    """Distance of a parameter from the top of the encoder: 0 for the head, ``num_layers`` for embeddings."""
    if ".embeddings." in name:
        return num_layers
    marker = ".layer."
    if marker in name:
        index = name.split(marker, 1)[1].split(".", 1)[0]
        if index.isdigit():
            return num_layers - 1 - int(index)
    return 0


def parameter_groups(
    model: nn.Module, learning_rate: float, weight_decay: float, layer_decay: float
) -> list[dict[str, Any]]:
    """AdamW groups with layer-wise lr decay and no weight decay on biases and LayerNorm weights."""
    num_layers = int(getattr(model.config, "num_hidden_layers", 0))
    groups: list[dict[str, Any]] = []
    for name, param in model.named_parameters():
        no_decay = name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name
        groups.append(
            {
                "params": [param],
                "lr": learning_rate * layer_decay ** layer_depth(name, num_layers),
                "weight_decay": 0.0 if no_decay else weight_decay,
            }
        )
    return groups


class TorchEngine(BaseEngine):
    """The PyTorch weights of a model dir, behind the same interface (imports torch)."""

    def __init__(self, directory: Path, threshold: float | None = None) -> None:
        super().__init__(directory, threshold)
        _, self.model = load_trained(directory)
        self.uses_token_types = "token_type_ids" in inspect.signature(self.model.forward).parameters

    def forward(self, batch: Encoded) -> np.ndarray:
        import torch

        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if self.uses_token_types:
            inputs["token_type_ids"] = batch.token_type_ids
        with torch.inference_mode():
            outputs = self.model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        result: np.ndarray = outputs.logits.float().numpy()
        return result
