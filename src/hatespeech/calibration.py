"""Decision threshold and class prior: choose them on the validation split, store them in the model dir.

The model is trained on balanced data, so its P(hate) assumes half the texts are hate. Real forum traffic
is mostly not hate (about 1 in 9 sentences in the full upstream dataset). Given the expected share of hate
(the *prior*), scores are adjusted by Bayes' rule, a shift of the log-odds:

    logit(p') = logit(p) + logit(prior) - logit(training prior)

and the validation metrics are re-weighted so that hate makes up ``prior`` of the texts, which is what
precision and F1 would be on such traffic. The engines apply the shift and the threshold from config.json.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hatespeech import artifact
from hatespeech.data import LABELS
from hatespeech.errors import InputError
from hatespeech.model_dir import CALIBRATION_FILE, CONFIG_FILE, VALIDATION_SCORES_FILE, ModelDir

Objective = Literal["f1", "precision", "recall"]
EPS = 1e-12


def logit(p: float | npt.NDArray[np.floating]) -> Any:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def prior_shift(prior: float | None, training_prior: float) -> float:
    """The log-odds shift that moves scores from the training prior to ``prior`` (0 when no prior)."""
    if prior is None:
        return 0.0
    return float(logit(prior) - logit(training_prior))


def apply_shift(scores: npt.NDArray[np.floating], shift: float) -> npt.NDArray[np.float64]:
    """P(hate) under another prior: the scores' log-odds moved by ``shift``."""
    if shift == 0.0:
        return np.asarray(scores, dtype=np.float64)
    return np.asarray(1.0 / (1.0 + np.exp(-(logit(np.asarray(scores, dtype=np.float64)) + shift))))


def prior_weights(labels: Sequence[int], prior: float | None) -> npt.NDArray[np.float64]:
    """Per-text weights that make hate (label 1) ``prior`` of the total weight (all ones without a prior)."""
    y = np.asarray(labels, dtype=int)
    if prior is None:
        return np.ones(len(y))
    share = float(y.mean())
    return np.where(y == 1, prior / share, (1 - prior) / (1 - share))


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold and what it gives on the (re-weighted) validation split, hate as the positive class."""

    threshold: float
    precision: float
    recall: float
    f1: float
    accuracy: float
    false_positive_rate: float
    flagged_per_1000: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def threshold_sweep(
    labels: Sequence[int] | npt.NDArray[np.integer],
    hate_scores: Sequence[float] | npt.NDArray[np.floating],
    weights: npt.NDArray[np.floating] | None = None,
    thresholds: npt.NDArray[np.floating] | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """Hate-class precision, recall, F1, accuracy, false-positive rate and texts flagged per 1,000 at each
    threshold (default: 0.01 ... 0.99). ``weights`` re-weight the texts (e.g. to another class prior)."""
    y = np.asarray(labels, dtype=int) == LABELS.index("hate")
    scores = np.asarray(hate_scores, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    grid = np.round(np.arange(1, 100) / 100, 2) if thresholds is None else np.asarray(thresholds, dtype=float)
    flagged = scores[None, :] >= grid[:, None]  # (thresholds, texts)
    tp = (flagged & y).astype(float) @ w
    fp = (flagged & ~y).astype(float) @ w
    positives, negatives = float(w[y].sum()), float(w[~y].sum())
    fn = positives - tp
    precision = np.divide(tp, tp + fp, out=np.ones_like(tp), where=(tp + fp) > 0)
    recall = tp / positives if positives else np.zeros_like(tp)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    total = positives + negatives
    return {
        "threshold": grid,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + negatives - fp) / total,
        "false_positive_rate": fp / negatives if negatives else np.zeros_like(tp),
        "flagged_per_1000": 1000 * (tp + fp) / total,
        "missed_per_1000": 1000 * fn / total,
    }


def operating_points(
    labels: Sequence[int], scores: npt.NDArray[np.floating], weights: npt.NDArray[np.floating]
) -> list[OperatingPoint]:
    """Every threshold of the 0.001 grid with its precision, recall, F1, accuracy and alarm rate."""
    sweep = threshold_sweep(labels, scores, weights, np.round(np.arange(1, 1000) / 1000, 3))
    return [
        OperatingPoint(*(float(sweep[key][i]) for key in (
            "threshold", "precision", "recall", "f1", "accuracy", "false_positive_rate", "flagged_per_1000")))
        for i in range(len(sweep["threshold"]))
    ]  # fmt: skip


def choose_threshold(points: Sequence[OperatingPoint], objective: Objective, target: float | None) -> OperatingPoint:
    """Maximum F1; or the highest recall with precision >= target; or the highest precision with recall >=
    target. Ties go to the threshold nearest 0.5."""

    def nearest_half(p: OperatingPoint) -> float:
        return -abs(p.threshold - 0.5)

    if objective == "f1":
        return max(points, key=lambda p: (round(p.f1, 6), nearest_half(p)))
    if target is None or not 0 < target <= 1:
        raise InputError(f"--target in (0, 1] is required with --objective {objective}")
    if objective == "precision":
        meeting = [p for p in points if p.precision >= target and p.recall > 0]
        if not meeting:
            best = max(p.precision for p in points)
            raise InputError(f"no threshold reaches precision {target} on the validation split (best {best:.3f})")
        return max(meeting, key=lambda p: (round(p.recall, 6), nearest_half(p)))
    meeting = [p for p in points if p.recall >= target]
    return max(meeting, key=lambda p: (round(p.precision, 6), nearest_half(p)))


def stored_validation_scores(directory: Path) -> tuple[list[int], npt.NDArray[np.float64], str]:
    """Labels, P(hate) and kind of the validation scores saved at training time (``validation_scores.json``)."""
    record = ModelDir(directory).read(VALIDATION_SCORES_FILE)
    labels, scores = record.get("labels"), record.get("scores")
    if not isinstance(labels, list) or not isinstance(scores, list) or len(labels) != len(scores) or not labels:
        raise InputError(f"{directory} has no usable {VALIDATION_SCORES_FILE}: retrain the model to calibrate it")
    return [int(y) for y in labels], np.asarray(scores, dtype=np.float64), str(record.get("kind", ""))


def save_calibration(target: Path, threshold: float, prior: float | None, record: dict[str, Any]) -> Path:
    """Publish a new version of the model at ``target`` with this threshold and prior (atomic, old kept)."""
    source = target.resolve()
    train_prior = ModelDir(source).score_prior

    def change(staged: Path) -> None:
        config_path = staged / CONFIG_FILE
        config = ModelDir(staged).config
        config["decision_threshold"] = threshold
        config["hate_prior"] = prior
        config["training_hate_prior"] = train_prior
        _replace_text(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")
        _replace_text(staged / CALIBRATION_FILE, json.dumps(record, indent=2) + "\n")

    return artifact.revise(target, change)


def _replace_text(path: Path, text: str) -> None:
    """Write by rename, never in place: files of a revised version may be hard links to the old one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def validate_prior(prior: float | None) -> float | None:
    if prior is not None and not (0.0 < prior < 1.0 and math.isfinite(prior)):
        raise InputError(f"--prior must be a share of hate between 0 and 1 (exclusive), got {prior}")
    return prior
