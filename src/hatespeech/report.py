"""Evaluation report: ``report.html`` with plots (matplotlib, no display) and the most confident errors."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from hatespeech.calibration import threshold_sweep
from hatespeech.data import LABELS
from hatespeech.evaluation import compute_metrics

PLOTS = {
    "confusion_matrix.png": "Confusion matrix",
    "roc_curve.png": "ROC curve",
    "precision_recall_curve.png": "Precision-recall curve",
    "score_histogram.png": "Scores per true class",
    "threshold_metrics.png": "Precision, recall and F1 against the threshold",
}
HATE_COLOUR, NO_HATE_COLOUR = "#b3261e", "#1e6b34"


@dataclass(frozen=True)
class Scored:
    """A labelled split and the model's P(hate) for each text."""

    texts: Sequence[str]
    labels: np.ndarray
    scores: np.ndarray
    threshold: float


def write_report(directory: Path, scored: Scored, title: str, model: str, n_errors: int = 10) -> Path:
    """Write the plots and ``report.html`` into ``directory``; returns the HTML file."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    directory.mkdir(parents=True, exist_ok=True)
    metrics = compute_metrics(scored.labels, scored.scores, scored.threshold)
    _plot_confusion(directory / "confusion_matrix.png", metrics)
    _plot_roc(directory / "roc_curve.png", scored, metrics)
    _plot_precision_recall(directory / "precision_recall_curve.png", scored, metrics)
    _plot_histogram(directory / "score_histogram.png", scored)
    _plot_thresholds(directory / "threshold_metrics.png", scored)
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    page = directory / "report.html"
    page.write_text(_html(scored, metrics, title, model, n_errors), encoding="utf-8")
    return page


def confident_errors(scored: Scored, n: int) -> dict[str, list[tuple[float, str]]]:
    """The ``n`` false positives and false negatives the model was surest of, most confident first."""
    predicted = scored.scores >= scored.threshold
    hate = scored.labels == LABELS.index("hate")
    fp = np.flatnonzero(predicted & ~hate)
    fn = np.flatnonzero(~predicted & hate)
    return {
        "false positives (noHate predicted hate)": [
            (float(scored.scores[i]), scored.texts[i]) for i in fp[np.argsort(-scored.scores[fp])][:n]
        ],
        "false negatives (hate predicted noHate)": [
            (float(scored.scores[i]), scored.texts[i]) for i in fn[np.argsort(scored.scores[fn])][:n]
        ],
    }


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, ax


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_confusion(path: Path, metrics: dict[str, Any]) -> None:
    matrix = np.asarray(metrics["confusion_matrix"])
    fig, ax = _figure(f"Confusion matrix (threshold {metrics['threshold']:g})", "predicted label", "true label")
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, label="texts")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    for (row, col), value in np.ndenumerate(matrix):
        dark = value > matrix.max() / 2
        ax.text(col, row, str(value), ha="center", va="center", color="white" if dark else "black", fontsize=14)
    _save(fig, path)


def _plot_roc(path: Path, scored: Scored, metrics: dict[str, Any]) -> None:
    fpr, tpr, _ = roc_curve(scored.labels, scored.scores)
    fig, ax = _figure("ROC curve (positive class: hate)", "false positive rate", "true positive rate (recall)")
    auc = metrics["roc_auc"]
    ax.plot(fpr, tpr, color=HATE_COLOUR, label=f"model (AUC {auc:.3f})" if auc is not None else "model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    cm = np.asarray(metrics["confusion_matrix"])
    ax.scatter([cm[0, 1] / max(1, cm[0].sum())], [cm[1, 1] / max(1, cm[1].sum())], color="black", zorder=3,
               label=f"threshold {scored.threshold:g}")  # fmt: skip
    ax.legend(loc="lower right")
    _save(fig, path)


def _plot_precision_recall(path: Path, scored: Scored, metrics: dict[str, Any]) -> None:
    precision, recall, _ = precision_recall_curve(scored.labels, scored.scores)
    ap = average_precision_score(scored.labels, scored.scores)
    fig, ax = _figure("Precision-recall curve (positive class: hate)", "recall", "precision")
    ax.plot(recall, precision, color=HATE_COLOUR, label=f"model (average precision {ap:.3f})")
    base = float(np.mean(scored.labels))
    ax.axhline(base, linestyle="--", color="grey", label=f"chance (share of hate {base:.2f})")
    point = metrics["per_class"]["hate"]
    ax.scatter([point["recall"]], [point["precision"]], color="black", zorder=3,
               label=f"threshold {scored.threshold:g}")  # fmt: skip
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    _save(fig, path)


def _plot_histogram(path: Path, scored: Scored) -> None:
    fig, ax = _figure("Scores per true class", "P(hate)", "texts")
    bins = np.linspace(0, 1, 26)
    for label, colour in (("noHate", NO_HATE_COLOUR), ("hate", HATE_COLOUR)):
        values = scored.scores[scored.labels == LABELS.index(label)]
        ax.hist(values, bins=bins, alpha=0.6, color=colour, label=f"true {label} ({len(values)})")
    ax.axvline(scored.threshold, color="black", linestyle="--", label=f"threshold {scored.threshold:g}")
    ax.legend(loc="upper center")
    _save(fig, path)


def _plot_thresholds(path: Path, scored: Scored) -> None:
    sweep = threshold_sweep(scored.labels, scored.scores)
    fig, ax = _figure("Hate class: precision, recall and F1 against the threshold", "threshold", "value")
    ax.plot(sweep["threshold"], sweep["precision"], label="precision", color="#1f5fbf")
    ax.plot(sweep["threshold"], sweep["recall"], label="recall", color=HATE_COLOUR)
    ax.plot(sweep["threshold"], sweep["f1"], label="F1", color="black")
    ax.plot(sweep["threshold"], sweep["accuracy"], label="accuracy", color="grey", linestyle=":")
    ax.axvline(scored.threshold, color="black", linestyle="--", alpha=0.5, label=f"threshold {scored.threshold:g}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    _save(fig, path)


def _html(scored: Scored, metrics: dict[str, Any], title: str, model: str, n_errors: int) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><th scope='row'>{esc(label)}</th><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for label, m in metrics["per_class"].items()
    )
    auc = "n/a" if metrics["roc_auc"] is None else f"{metrics['roc_auc']:.3f}"
    figures = "".join(
        f"<figure><img src='{name}' alt='{esc(caption)}' width='660'><figcaption>{esc(caption)}</figcaption></figure>"
        for name, caption in PLOTS.items()
    )
    errors = ""
    for heading, items in confident_errors(scored, n_errors).items():
        body = "".join(f"<tr><td>{score:.4f}</td><td>{esc(text)}</td></tr>" for score, text in items)
        errors += (
            f"<h3>{esc(heading.capitalize())}</h3><table><thead><tr><th>P(hate)</th><th>text</th></tr></thead>"
            f"<tbody>{body or '<tr><td colspan=2>none</td></tr>'}</tbody></table>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: auto; padding: 1rem; line-height: 1.4; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }}
figure {{ display: inline-block; margin: 0.5rem; }} img {{ max-width: 100%; height: auto; }}
.warning {{ background: #fdecea; border: 1px solid #b3261e; padding: 0.6rem; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>Model: <code>{esc(model)}</code>. {metrics["n"]} texts, decision threshold {scored.threshold:g}.</p>
<h2>Summary</h2>
<table><thead><tr><th></th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead>
<tbody>{rows}</tbody></table>
<p>Accuracy {metrics["accuracy"]:.4f} &middot; macro-F1 {metrics["macro_f1"]:.4f} &middot; ROC-AUC {auc}</p>
<h2>Plots</h2>
{figures}
<h2>Most confident errors</h2>
<p class="warning" role="note"><strong>Content warning:</strong> the texts below come from a hate-speech dataset
and contain offensive, racist language.</p>
{errors}
</body></html>
"""
