"""What a training run writes into its model dir: weights, tokenizer, config, data record, metrics, scores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hatespeech.config import TrainConfig
from hatespeech.data import LABELS, Dataset, Example, fingerprint
from hatespeech.model_dir import DATA_FILE, METRICS_FILE, VALIDATION_SCORES_FILE
from hatespeech.normalization import CONFIG_KEY

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def save_validation_scores(directory: Path, kind: str, examples: Sequence[Example], scores: np.ndarray) -> None:
    """The validation texts' labels, P(hate) as the engines compute it (before any prior shift) and what each
    text is (``sample``, ``natural`` or ``contrast``: ``benchmarks/accuracy.py`` measures the ranking from them).

    ``hatespeech calibrate`` chooses thresholds on these when the validation is out-of-fold: the final model
    has trained on every text, so only the fold models' scores are honest about unseen data.
    """
    record = {
        "kind": kind,
        "labels": [int(e.label) for e in examples],
        "scores": [round(float(p), 6) for p in scores],
        "texts": [text_kind(e) for e in examples],
        "sources": [e.source for e in examples],
        "platforms": [e.platform for e in examples],
    }
    (directory / VALIDATION_SCORES_FILE).write_text(json.dumps(record) + "\n")


def text_kind(example: Example) -> str:
    """``contrast`` (generated), ``natural`` (ordinary traffic) or ``sample`` (the labelled sample, extra rows)."""
    return "contrast" if example.contrast else "natural" if example.natural else "sample"


def per_source(examples: Sequence[Example]) -> dict[str, dict[str, int]]:
    """Texts per source and label (``data.json``): what the mix held before each epoch's draw."""
    counts: dict[str, dict[str, int]] = {}
    for example in examples:
        by_label = counts.setdefault(example.source or "unnamed", dict.fromkeys(LABELS, 0))
        by_label[LABELS[example.label]] += 1
    return counts


def save_model_dir(
    directory: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: TrainConfig,
    max_length: int,
    train_data: Dataset,
    metrics: dict[str, Any],
    score_prior: float,
) -> None:
    """Write weights (safetensors), tokenizer, config with labels/threshold, arguments, data and metrics.

    ``score_prior`` is the share of hate the model's scores assume (0.5 when epochs were class-balanced): what
    ``hatespeech calibrate --prior`` shifts from.
    """
    model.config.decision_threshold = config.threshold
    model.config.max_seq_length = max_length
    model.config.base_model = config.base_model
    setattr(model.config, CONFIG_KEY, config.normalization)
    tokenizer.model_max_length = max_length
    model.cpu().save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    config.save(directory)
    data_info = {
        "fingerprint": fingerprint(train_data.examples),
        "source": train_data.report.source,
        "examples": len(train_data),
        "per_label": {label: train_data.labels.count(i) for i, label in enumerate(LABELS)},
        "natural": sum(e.natural for e in train_data.examples),
        "per_source": per_source(train_data.examples),
        "score_prior": score_prior,
        "load_report": train_data.report.summary(),
    }
    (directory / DATA_FILE).write_text(json.dumps(data_info, indent=2) + "\n")
    (directory / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
