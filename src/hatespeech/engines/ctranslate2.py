"""CTranslate2 engine: the model's encoder converted at export, run padding-free, int8 or f32.

Optional (``pip install '.[ctranslate2]'``); imports ctranslate2, numpy and tokenizers only, never torch. The
model dir's ``ctranslate2/`` holds the encoder (``model.bin`` in float32, with its ``config.json`` and
vocabulary) and the classification head (``head.npz``: logits = pooled output @ weight.T + bias), both written by
:func:`hatespeech.export.export_ctranslate2`. CTranslate2 drops padding inside the encoder on CPU, so a batch
costs its real tokens: :attr:`padding_free` tells the micro-batcher to count those.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hatespeech.artifact import CT2_DIR
from hatespeech.engines.base import BaseEngine, Encoded, optional_module
from hatespeech.errors import ModelError

HEAD_FILE = "head.npz"
COMPUTE_TYPES = {"f32": "float32", "int8": "int8_float32"}


def available() -> bool:
    """Whether CTranslate2 is installed."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return False
    return True


class CTranslate2Engine(BaseEngine):
    """A model dir's CTranslate2 encoder plus its head, at ``precision`` (f32 or int8)."""

    padding_free = True

    def __init__(
        self,
        directory: Path,
        *,
        precision: str = "f32",
        threads: int | None = None,
        threshold: float | None = None,
    ) -> None:
        ctranslate2 = optional_module("ctranslate2", "ctranslate2", "CTranslate2")
        if precision not in COMPUTE_TYPES:
            raise ModelError(f"unknown CTranslate2 precision {precision!r}: use {' or '.join(COMPUTE_TYPES)}")
        super().__init__(directory, threshold)
        folder = directory / CT2_DIR
        if not (folder / "model.bin").is_file() or not (folder / HEAD_FILE).is_file():
            raise ModelError(
                f"{folder} not found or incomplete: export it with CTranslate2 installed "
                f"(pip install '.[ctranslate2]', then `hatespeech export --model {directory}`)"
            )
        try:
            with np.load(folder / HEAD_FILE) as head:
                self.weight = np.asarray(head["weight"], dtype=np.float32)
                self.bias = np.asarray(head["bias"], dtype=np.float32)
            self.encoder = ctranslate2.Encoder(
                str(folder), device="cpu", compute_type=COMPUTE_TYPES[precision],
                intra_threads=threads or os.cpu_count() or 1, inter_threads=1,
            )  # fmt: skip
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"CTranslate2 cannot load {folder}: {exc}") from exc
        labels = len(self.info.labels)
        if self.weight.ndim != 2 or self.weight.shape[0] != labels or self.bias.shape != (labels,):
            raise ModelError(f"{folder / HEAD_FILE}: head of shape {self.weight.shape} does not match the labels")
        self.precision = precision

    def forward(self, batch: Encoded) -> np.ndarray:
        lengths = batch.attention_mask.sum(axis=1)
        ids = [row[:n].tolist() for row, n in zip(batch.input_ids, lengths, strict=True)]
        types = [row[:n].tolist() for row, n in zip(batch.token_type_ids, lengths, strict=True)]
        output = self.encoder.forward_batch(ids, token_type_ids=types)
        if output.pooler_output is None:
            raise ModelError(f"{self.info.directory / CT2_DIR} has no pooler: the head needs the pooled output")
        pooled = np.asarray(output.pooler_output, dtype=np.float32)
        logits: np.ndarray = pooled @ self.weight.T + self.bias
        return logits
