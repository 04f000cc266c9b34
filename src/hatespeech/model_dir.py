"""One reader for what a model dir says about itself: ``config.json``, ``data.json``, ``metrics.json``,
``export.json``, the manifest, the saved validation scores and the training arguments.

Every caller (the engines, versions, calibration, distillation, the CLI, the benchmarks) reads through
:class:`ModelDir`, so each file's name and fallbacks are written once. No torch here: the server uses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hatespeech.config import TRAINING_ARGS_FILE, TrainConfig
from hatespeech.data import LABELS
from hatespeech.errors import ModelError

CONFIG_FILE = "config.json"  # the Hugging Face config, plus our labels, threshold and prior
DATA_FILE = "data.json"  # the training data's fingerprint, counts and the prior the scores assume
METRICS_FILE = "metrics.json"
EXPORT_FILE = "export.json"  # the ONNX export's parity report (fp32 and int8 accuracy)
VALIDATION_SCORES_FILE = "validation_scores.json"  # out-of-fold P(hate) saved at training time
CALIBRATION_FILE = "calibration.json"
CARD_FILE = "README.md"  # the model card (hatespeech.model_card), Hugging Face's format


def read_json(directory: Path, name: str) -> dict[str, Any]:
    """A JSON file of the model dir, or {} when it is absent; ModelError when it is not valid JSON."""
    path = directory / name
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} does not hold a JSON object")
    return data


class ModelDir:
    """The files of one model dir, each read once. ``lenient``: an unreadable file reads as {} (listing the
    versions of a store must not stop at one damaged dir); otherwise it raises :class:`ModelError`."""

    def __init__(self, path: Path, *, lenient: bool = False) -> None:
        self.path = path
        self.lenient = lenient
        self._files: dict[str, dict[str, Any]] = {}

    def read(self, name: str) -> dict[str, Any]:
        """A JSON file of the dir (read once), {} when absent (e.g. ``read(METRICS_FILE)``)."""
        if name not in self._files:
            try:
                self._files[name] = read_json(self.path, name)
            except ModelError:
                if not self.lenient:
                    raise
                self._files[name] = {}
        return self._files[name]

    @property
    def config(self) -> dict[str, Any]:
        """``config.json``: required (ModelError when absent, unless lenient)."""
        if not (self.path / CONFIG_FILE).is_file() and not self.lenient:
            raise ModelError(f"{self.path} is not a model directory (no {CONFIG_FILE})")
        return self.read(CONFIG_FILE)

    @property
    def metrics(self) -> dict[str, Any]:
        return self.read(METRICS_FILE)

    @property
    def quick(self) -> bool:
        """Whether it is the quick first model (``TrainConfig.quick`` in its training arguments)."""
        return bool(self.read(TRAINING_ARGS_FILE).get("quick", False))

    @property
    def data_mix(self) -> dict[str, Any]:
        """The sources it learnt from (``data`` of its training arguments): corpora, their shares per epoch and what
        the corpora's offensive class became; before 0.7, the forum alone."""
        data = self.read(TRAINING_ARGS_FILE).get("data") or {}
        return {"corpora": data.get("corpora", []), "shares": data.get("shares", {}),
                "offensive": data.get("offensive", "skip")}  # fmt: skip

    @property
    def base_model(self) -> str:
        """The encoder it was fine-tuned from (``base_model``, else the Hugging Face ``_name_or_path``)."""
        return str(self.config.get("base_model", self.config.get("_name_or_path", "")))

    @property
    def fingerprint(self) -> str:
        """sha256 of the training texts and labels (``hatespeech.data.fingerprint``), or "" when unknown."""
        return str(self.read(DATA_FILE).get("fingerprint", ""))

    @property
    def labels(self) -> tuple[str, ...]:
        """The class names in output order (``id2label``; :data:`hatespeech.data.LABELS` when absent)."""
        id2label = self.config.get("id2label")
        if not id2label:
            return LABELS
        if not isinstance(id2label, dict):
            raise ModelError(f"{self.path / CONFIG_FILE}: id2label is not an object")
        try:
            return tuple(str(id2label[str(i)]) for i in range(len(id2label)))
        except KeyError as exc:
            raise ModelError(f"{self.path / CONFIG_FILE}: id2label is not numbered 0..{len(id2label) - 1}") from exc

    @property
    def score_prior(self) -> float:
        """The share of hate the model's scores assume: ``score_prior`` (0.5 after class-balanced epochs),
        else the share in the training data (older model dirs), else 0.5."""
        prior = self.read(DATA_FILE).get("score_prior")
        if isinstance(prior, int | float):
            return float(prior)
        per_label = self.read(DATA_FILE).get("per_label") or {}
        total = sum(per_label.values())
        return float(per_label.get("hate", 0) / total) if total else 0.5

    def training_args(self) -> TrainConfig:
        """The arguments it was trained with, data recipe included (:meth:`TrainConfig.load`)."""
        try:
            return TrainConfig.load(self.path)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the training arguments of {self.path}: {exc}") from exc
