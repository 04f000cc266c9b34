"""Token batches for training and scoring: length limit, length-bucketed epochs, dynamic padding, identity masks."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hatespeech.data import LABELS, Example
from hatespeech.engines.base import length_batches
from hatespeech.training.groups import mask_identity_terms

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def choose_max_length(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], percentile: float = 99.0) -> int:
    """Token limit from the data: the given percentile of token lengths, rounded up to a multiple of 8."""
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    limit = int(getattr(tokenizer, "model_max_length", 512) or 512)
    wanted = int(math.ceil(float(np.percentile(lengths, percentile)) / 8.0) * 8)
    return max(16, min(wanted, limit, 512))


@dataclass
class TrainBatch:
    """One padded batch: its inputs, labels and (with a teacher) soft targets; with the identity-term regulariser,
    the inputs again for the ``masked_rows`` that name a group, with every group's name masked."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    soft: torch.Tensor | None = None
    masked: dict[str, torch.Tensor] | None = None
    masked_rows: torch.Tensor | None = None


def tensor_batches(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    batches: Sequence[Sequence[int]],
    max_length: int,
    device: torch.device,
    targets: Mapping[Example, float] | None = None,
    mask_identity: bool = False,
) -> Iterator[TrainBatch]:
    """Tokenized batches (lists of example indices) with dynamic padding: each padded to its longest text.

    Each comes with its labels and, given ``targets`` (a teacher's P(hate) per example), the soft targets; with
    ``mask_identity``, the texts that name a group once more with the names masked (the tokenizer's mask token)."""
    import torch

    def encode(texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        return {k: v.to(device) for k, v in encoded.items()}

    for indices in batches:
        chunk = [examples[i] for i in indices]
        labels = torch.tensor([e.label for e in chunk], dtype=torch.long).to(device)
        soft = None if targets is None else torch.tensor([targets[e] for e in chunk], dtype=torch.float32).to(device)
        batch = TrainBatch(encode([e.text for e in chunk]), labels, soft)
        if mask_identity:
            masked = [(row, mask_identity_terms(e.text, str(tokenizer.mask_token))) for row, e in enumerate(chunk)]
            named = [(row, text) for row, text in masked if text is not None]
            if named:
                batch.masked = encode([text for _, text in named])
                batch.masked_rows = torch.tensor([row for row, _ in named], dtype=torch.long, device=device)
        yield batch


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, pool_batches: int = 8
) -> list[list[int]]:
    """One epoch of shuffled batches whose texts have similar lengths (less padding, same randomness).

    The data is shuffled, cut into pools of ``pool_batches`` batches, each pool sorted by length and cut
    into batches, and the batches shuffled. On this dataset it halves the padded tokens per epoch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool_size = batch_size * pool_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start : start + pool_size], key=lambda i: lengths[i])
        batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    rng.shuffle(batches)
    return batches


def score_examples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    max_length: int,
    batch_size: int = 64,
) -> np.ndarray:
    """P(hate) for each example with the PyTorch model, in input order (batches sorted by length)."""
    import torch

    device = next(model.parameters()).device
    batches = length_batches([len(e.text) for e in examples], batch_size)
    scores = np.zeros(len(examples), dtype=np.float64)
    hate_id = LABELS.index("hate")
    model.eval()  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        for indices, batch in zip(
            batches, tensor_batches(tokenizer, examples, batches, max_length, device), strict=True
        ):
            probs = torch.softmax(model(**batch.inputs).logits.float(), dim=-1)[:, hate_id]
            scores[indices] = probs.cpu().numpy()
    return scores
