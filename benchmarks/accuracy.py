"""Accuracy benchmark: the defaults against the previous defaults and a TF-IDF baseline, 3 seeds each.

Every setup is reported on ``sampled_test`` only (accuracy, macro-F1), on ordinary forum text (the
false-positive rate on the natural noHate sentences of ``all_files``: out of fold for a model that trained on
them, on all of them for one that did not) and on the behaviour suite (mean of its categories), with its CPU
training wall time. Setups:

- ``tfidf``: word + char n-gram TF-IDF and logistic regression on ``sampled_train`` (deterministic, one run);
- ``previous``: the recipe before natural text was added, on ``sampled_train`` alone (comparable with
  published results on this split);
- ``defaults``: ``hatespeech train`` as shipped (``sampled_train`` + natural noHate text + contrast set);
- ``NAME={"field": value}``: the defaults with TrainConfig overrides (e.g. ``mpnet={"base_model":
  "all-mpnet-base-v2"}``); ``"contrast": false`` leaves the contrast set out.

Usage::

    .venv/bin/python benchmarks/accuracy.py [--data DIR] [--seeds 1 2 3] [--setups previous defaults] [--json F]

The rows go to ``benchmarks/results/accuracy.json`` (README tables: ``make results``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import record
from rich.console import Console
from rich.table import Table

from hatespeech.config import TrainConfig
from hatespeech.data import Dataset, load_split, resolve_data_dir
from hatespeech.engine import TorchEngine, predict_in_batches
from hatespeech.evaluation import compute_metrics, natural_false_alarms
from hatespeech.training import train
from hatespeech.training.data_mix import load_natural, load_training_data

from baselines import tfidf_baseline
from behaviour import load_cases, per_category

console = Console(width=160)
PREVIOUS_DEFAULTS: dict[str, Any] = {"adversarial": 1.0}
"""The recipe fields whose defaults changed with natural text (the lexical blend of 0.1 is gone altogether)."""


def mean_sd(values: list[float], digits: int = 4) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def behaviour_figures(scores: list[float]) -> dict[str, Any]:
    """Behaviour-suite accuracy per category, its mean and lowest, from P(hate) of every case in file order."""
    categories = per_category(load_cases(), scores)
    return {
        "behaviour": categories,
        "behaviour_mean": statistics.mean(categories.values()),
        "behaviour_min": min(categories.values()),
    }


def natural_fpr(natural: Dataset, scores: list[float]) -> float:
    fpr = natural_false_alarms(natural.examples, scores, 0.5)
    assert fpr is not None
    return float(fpr["false_positive_rate"])


def run_model(
    name: str, overrides: dict[str, Any], seed: int, data: Dataset, test: Dataset, natural: Dataset, keep: Path | None
) -> dict[str, Any]:
    """Train one setup for one seed; its test, natural-text and behaviour figures (model kept under ``keep``)."""
    config = TrainConfig(**{"seed": seed, "device": "cpu", **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        out = keep / f"{name}-seed{seed}" if keep else Path(tmp) / "model"
        result = train(config, data, out, test_data=test)
        engine = TorchEngine(result.model_dir)
        figures = behaviour_figures([p.score for p in predict_in_batches(engine, [c.text for c in load_cases()])])
        if "natural" in result.metrics:  # trained on them: the fold models' out-of-fold scores
            figures["natural_fpr"] = result.metrics["natural"]["false_positive_rate"]
        else:  # never saw them: the final model on all of them
            figures["natural_fpr"] = natural_fpr(natural, [p.score for p in predict_in_batches(engine, natural.texts)])
    metrics = result.metrics
    return {
        "setup": name,
        "seed": seed,
        "accuracy": metrics["test"]["accuracy"],
        "macro_f1": metrics["test"]["macro_f1"],
        **figures,
        "validation_accuracy": metrics["validation"]["accuracy"],
        "selected": metrics["selected"],
        "train_texts": len(data),
        "seconds": round(result.seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--setups", nargs="+", default=["tfidf", "previous", "defaults"])
    parser.add_argument("--json", type=Path, default=None, help="default: results/accuracy.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep each model as KEEP/SETUP-seedN")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, help="only print the table of saved rows")
    args = parser.parse_args()
    if args.from_json:
        print_table([row for path in args.from_json for row in json.loads(path.read_text())["figures"]["rows"]])
        return

    data_dir = resolve_data_dir(args.data)
    sample = load_split(data_dir, "sampled_train")
    test = load_split(data_dir, "sampled_test")
    natural = load_natural(data_dir)
    if natural is None:
        raise SystemExit(f"{data_dir} has no all_files/: the natural-text figures need it")
    mix = load_training_data(data_dir, test_texts=test.texts)
    without_contrast = Dataset([e for e in mix.examples if not e.contrast], mix.report)

    rows: list[dict[str, Any]] = []
    for setup in args.setups:
        if setup == "tfidf":
            started = time.perf_counter()
            texts = test.texts + natural.texts + [c.text for c in load_cases()]
            scores = tfidf_baseline(sample.texts, sample.labels, texts)
            seconds = time.perf_counter() - started
            test_metrics = compute_metrics(test.labels, scores[: len(test)])
            figures = behaviour_figures(scores[len(test) + len(natural) :])
            figures["natural_fpr"] = natural_fpr(natural, scores[len(test) : len(test) + len(natural)])
            figures |= {"accuracy": test_metrics["accuracy"], "macro_f1": test_metrics["macro_f1"]}
            rows.append(
                {"setup": "tfidf", "seed": None, **figures, "train_texts": len(sample), "seconds": round(seconds, 1)}
            )
            console.print(json.dumps(rows[-1]))
            continue
        name, _, spec = setup.partition("=")
        overrides = dict(PREVIOUS_DEFAULTS) if name == "previous" else json.loads(spec or "{}")
        with_contrast = overrides.pop("contrast", True)  # a data switch, not a TrainConfig field
        for seed in args.seeds:
            data = sample if name == "previous" else mix if with_contrast else without_contrast
            rows.append(run_model(name, overrides, seed, data, test, natural, args.keep))
            console.print(json.dumps(rows[-1]))

    print_table(rows)
    console.print(f"written: {record.write('accuracy', {'rows': rows}, args.json)}")


def print_table(rows: list[dict[str, Any]]) -> None:
    """Mean ± sd over seeds per setup."""
    table = Table(title="sampled_test (n=478), natural noHate (out of fold or unseen), behaviour suite (160 cases)")
    for column in (
        "setup",
        "train texts",
        "test accuracy",
        "macro-F1",
        "natural FPR",
        "behaviour mean",
        "lowest category",
        "train s",
        "runs",
    ):
        table.add_column(column)
    for name in dict.fromkeys(r["setup"] for r in rows):
        mine = [r for r in rows if r["setup"] == name]
        table.add_row(
            name,
            str(mine[0]["train_texts"]),
            mean_sd([r["accuracy"] for r in mine]),
            mean_sd([r["macro_f1"] for r in mine]),
            mean_sd([r["natural_fpr"] for r in mine], 3),
            mean_sd([r["behaviour_mean"] for r in mine], 3),
            f"{min(r['behaviour_min'] for r in mine):.2f}",
            mean_sd([r["seconds"] for r in mine], 0),
            "1 (deterministic)" if mine[0]["seed"] is None else f"{len(mine)} seeds",
        )
    console.print(table)


if __name__ == "__main__":
    main()
