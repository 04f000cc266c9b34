"""Classification metrics (scikit-learn) and their rich table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.table import Table
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import make_pipeline, make_union

from hatespeech.data import LABELS, Example

Labels = Sequence[int] | npt.NDArray[np.integer[Any]]
Scores = Sequence[float] | npt.NDArray[np.floating[Any]]


def compute_metrics(labels: Labels, hate_scores: Scores, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, macro-F1, ROC-AUC, per-class precision/recall/F1 and the confusion matrix.

    ``hate_scores`` are P(hate); a text is predicted hate when its score is at or above ``threshold``.
    The confusion matrix is ``[[tn, fp], [fn, tp]]`` with rows = true label, in ``LABELS`` order.
    """
    y_true = np.asarray(labels, dtype=int)
    scores = np.asarray(hate_scores, dtype=float)
    y_pred = (scores >= threshold).astype(int)
    class_ids = list(range(len(LABELS)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=class_ids, zero_division=0)
    has_both = len(set(y_true.tolist())) == len(LABELS)
    return {
        "n": len(y_true),
        "threshold": threshold,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if has_both else None,
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=class_ids, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, scores)) if has_both else None,
        "per_class": {
            LABELS[i]: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in class_ids
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=class_ids).tolist(),
    }


def balanced_accuracy(labels: Labels, hate_scores: Scores, threshold: float = 0.5) -> float:
    """Mean recall of the two classes (plain accuracy when only one class is present)."""
    y_true = np.asarray(labels, dtype=int)
    y_pred = (np.asarray(hate_scores, dtype=float) >= threshold).astype(int)
    if len(set(y_true.tolist())) < 2:
        return float(accuracy_score(y_true, y_pred))
    return float(balanced_accuracy_score(y_true, y_pred))


def natural_false_alarms(examples: Sequence[Example], hate_scores: Scores, threshold: float) -> dict[str, Any] | None:
    """False-positive rate on the natural (ordinary-traffic) noHate texts: how often ordinary talk is flagged."""
    scores = np.asarray(hate_scores, dtype=float)
    mask = np.array([e.natural and e.label == 0 for e in examples], dtype=bool)
    if not mask.any():
        return None
    flagged = int((scores[mask] >= threshold).sum())
    return {"n": int(mask.sum()), "flagged": flagged, "false_positive_rate": flagged / int(mask.sum())}


RANKING_RECALL = 0.8
"""The hate recall at which false alarms are compared: a threshold-free figure of the ranking."""


def ranking(hate_scores: Scores, ordinary_scores: Scores, recall: float = RANKING_RECALL) -> dict[str, Any]:
    """How well P(hate) ranks hateful texts above ordinary ones, whatever the threshold: ROC-AUC, average
    precision, and the share of ordinary texts flagged at the lowest threshold that finds ``recall`` of the hate.
    A change that only moves the threshold leaves all three where they were."""
    hate = np.asarray(hate_scores, dtype=float)
    ordinary = np.asarray(ordinary_scores, dtype=float)
    y = np.r_[np.ones(len(hate)), np.zeros(len(ordinary))]
    scores = np.r_[hate, ordinary]
    fpr, tpr, thresholds = roc_curve(y, scores, drop_intermediate=False)
    reached = int(np.argmax(tpr >= recall))
    return {
        "hate": len(hate),
        "ordinary": len(ordinary),
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "recall": recall,
        "false_alarms_at_recall": float(fpr[reached]),
        "threshold_at_recall": float(min(thresholds[reached], 1.0)),
    }


def validation_report(examples: Sequence[Example], hate_scores: Scores, threshold: float) -> dict[str, Any]:
    """Validation metrics of a mix: ``validation`` on the balanced-sample texts (comparable with published
    figures), and with natural texts present ``validation_all`` on every text, ``natural`` false alarms and
    ``ranking`` of the sample's hate against the natural noHate texts;
    with contrast-set texts present, ``contrast``: their accuracy (out of fold: on frames not trained on); with
    public corpora present, ``sources``: ROC-AUC per corpus and platform (:func:`source_rankings`)."""
    scores = np.asarray(hate_scores, dtype=float)
    labels = np.array([e.label for e in examples], dtype=int)
    contrast = np.array([e.contrast for e in examples], dtype=bool)
    own = np.array([e.source in ("", "stormfront", "feedback", "extra") for e in examples], dtype=bool)
    sample = np.array([not e.natural for e in examples], dtype=bool) & ~contrast & own
    natural = natural_false_alarms(examples, scores, threshold)
    mixed = (natural is not None or contrast.any()) and sample.any()
    shown = sample if mixed else np.ones(len(labels), dtype=bool)
    report: dict[str, Any] = {"validation": compute_metrics(labels[shown], scores[shown], threshold)}
    if mixed:
        report["validation_all"] = compute_metrics(labels, scores, threshold)
    if natural is not None:
        report["natural"] = natural
        hateful = sample & (labels == 1)
        ordinary = np.array([e.natural and e.label == 0 for e in examples], dtype=bool)
        if hateful.any():
            report["ranking"] = ranking(scores[hateful], scores[ordinary])
    if contrast.any():
        correct = (scores[contrast] >= threshold).astype(int) == labels[contrast]
        report["contrast"] = {"n": int(contrast.sum()), "accuracy": float(correct.mean())}
    if (~own & ~contrast).any():
        report["sources"] = source_rankings(examples, scores)
    return report


def reported_figures(examples: Sequence[Example], hate_scores: Scores, threshold: float) -> dict[str, float]:
    """A reporting set's figures (``metrics.json``'s ``reports``): ROC-AUC overall and per platform where both
    classes are present; for the behaviour suite (platform = category) the accuracy of its hate and noHate halves
    (the mean of their categories' accuracies)."""
    scores = np.asarray(hate_scores, dtype=float)
    labels = np.array([e.label for e in examples], dtype=int)
    platforms = np.array([e.platform for e in examples])
    if examples and examples[0].source == "behaviour":
        correct = (scores >= threshold).astype(int) == labels
        halves: dict[int, list[float]] = {0: [], 1: []}
        for category in sorted(set(platforms)):
            chosen = platforms == category
            halves[int(labels[chosen][0])].append(float(correct[chosen].mean()))
        return {"hate half": float(np.mean(halves[1])), "noHate half": float(np.mean(halves[0]))}
    figures = {"ROC-AUC": float(roc_auc_score(labels, scores))}
    for platform in sorted(set(platforms) - {""}):
        chosen = platforms == platform
        if min(labels[chosen].sum(), (1 - labels[chosen]).sum()) >= MIN_CLASS_TEXTS and len(set(platforms)) > 1:
            figures[f"{platform.capitalize()} ROC-AUC"] = float(roc_auc_score(labels[chosen], scores[chosen]))
    return figures


def behaviour_categories(examples: Sequence[Example], hate_scores: Scores, threshold: float) -> dict[str, float]:
    """The behaviour suite's accuracy per category (its examples' platform)."""
    correct: dict[str, list[bool]] = {}
    for example, score in zip(examples, hate_scores, strict=True):
        correct.setdefault(example.platform, []).append(int(score >= threshold) == example.label)
    return {category: float(np.mean(values)) for category, values in sorted(correct.items())}


MIN_CLASS_TEXTS = 10
"""A source or platform gets a ROC-AUC only with at least this many texts of each class (HateXplain's 28 posts
of neither platform, say, do not)."""


def source_rankings(examples: Sequence[Example], hate_scores: Scores) -> dict[str, Any]:
    """ROC-AUC and the hate/noHate counts of each public corpus's texts, overall and per platform (``hatexplain``,
    ``hatexplain/twitter``, ...), where each class has at least ``MIN_CLASS_TEXTS`` texts."""
    groups: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        if example.source in ("hatexplain", "davidson"):
            groups.setdefault(example.source, []).append(index)
            groups.setdefault(f"{example.source}/{example.platform}", []).append(index)
    for name in [n for n in groups if "/" in n]:  # a source of one platform: no second, identical row
        if len(groups[name]) == len(groups[name.split("/")[0]]):
            del groups[name]
    figures: dict[str, Any] = {}
    for name, indices in sorted(groups.items()):
        labels = [examples[i].label for i in indices]
        if min(sum(labels), len(labels) - sum(labels)) >= MIN_CLASS_TEXTS:
            scores = [float(hate_scores[i]) for i in indices]
            figures[name] = {"hate": sum(labels), "noHate": len(labels) - sum(labels),
                             "roc_auc": float(roc_auc_score(labels, scores))}  # fmt: skip
    return figures


def metrics_table(metrics: dict[str, Any], title: str = "Evaluation") -> Table:
    """The metrics as a rich table: summary rows, per-class rows and the confusion matrix."""
    table = Table(title=title)
    table.add_column("")
    table.add_column("precision", justify="right")
    table.add_column("recall", justify="right")
    table.add_column("F1", justify="right")
    table.add_column("support", justify="right")
    for label, row in metrics["per_class"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    table.add_section()
    auc = metrics["roc_auc"]
    table.add_row("accuracy", "", "", f"{metrics['accuracy']:.3f}", str(metrics["n"]))
    table.add_row("macro F1", "", "", f"{metrics['macro_f1']:.3f}", "")
    table.add_row("ROC-AUC", "", "", "n/a" if auc is None else f"{auc:.3f}", "")
    matrix = metrics["confusion_matrix"]
    table.add_section()
    for i, label in enumerate(LABELS):
        cells = "  ".join(f"pred {LABELS[j]}: {matrix[i][j]}" for j in range(len(LABELS)))
        table.add_row(f"true {label}", cells, "", "", "")
    return table


def tfidf_baseline(train_texts: Sequence[str], train_labels: Sequence[int], test_texts: Sequence[str]) -> list[float]:
    """The TF-IDF baseline every benchmark reports beside the model: word (1-2) + char (2-5) n-gram TF-IDF with
    logistic regression (classes balanced). P(hate) per text."""
    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ),
        LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced"),
    )
    model.fit(list(train_texts), list(train_labels))
    return [float(p) for p in model.predict_proba(list(test_texts))[:, 1]]
