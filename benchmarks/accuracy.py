"""Accuracy benchmark: default training for 3 seeds vs a TF-IDF + logistic-regression baseline.

Trains on ``sampled_train`` (validation carved from it), reports on ``sampled_test`` only, and prints
accuracy and macro-F1 (mean ± sd over seeds) and CPU training wall time. Usage::

    .venv/bin/python benchmarks/accuracy.py [--data DIR] [--seeds 1 2 3] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from baselines import tfidf_baseline
from rich.console import Console
from rich.table import Table

from hatespeech.config import TrainConfig
from hatespeech.data import load_split, resolve_data_dir
from hatespeech.evaluation import compute_metrics
from hatespeech.training import train

console = Console(width=160)


def _recipe(config: TrainConfig) -> str:
    recipe = (
        f"cross-fit soup of {config.folds} folds" if config.folds >= 2 else f"hold-out, soup of {config.soup_runs} runs"
    )
    recipe += f", R-Drop {config.rdrop:g}" if config.rdrop else ""
    return recipe + (f", FGM {config.adversarial:g}" if config.adversarial else "")


def mean_sd(values: list[float], digits: int = 4) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=None, help="override stage-2 epochs (default: config)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    data_dir = resolve_data_dir(args.data)
    train_data = load_split(data_dir, "sampled_train")
    test_data = load_split(data_dir, "sampled_test")

    started = time.perf_counter()
    baseline_scores = tfidf_baseline(train_data.texts, train_data.labels, test_data.texts)
    baseline = compute_metrics(test_data.labels, baseline_scores)
    baseline_seconds = time.perf_counter() - started

    runs = []
    for seed in args.seeds:
        overrides = {"seed": seed, "device": "cpu"}
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        config = TrainConfig(**overrides)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory() as tmp:
            result = train(config, train_data, Path(tmp) / "model", test_data=test_data)
        test = result.metrics["test"]
        runs.append(
            {
                "seed": seed,
                "accuracy": test["accuracy"],
                "macro_f1": test["macro_f1"],
                "encoder_only_accuracy": result.metrics.get("test_encoder_only", test)["accuracy"],
                "lexical_weight": result.metrics.get("lexical_weight", 0.0),
                "validation_accuracy": result.metrics["validation"]["accuracy"],
                "validation_kind": result.metrics["validation_kind"],
                "selected": result.metrics["selected"],
                "precision": result.metrics["precision"],
                "seconds": result.seconds,
            }
        )
        console.print(f"seed {seed}: {json.dumps(runs[-1])}")

    table = Table(title=f"sampled_test (n={len(test_data)}), trained on sampled_train")
    for column in ("model", "accuracy", "macro-F1", "train wall time (s)", "runs"):
        table.add_column(column)
    table.add_row(
        "TF-IDF word+char n-grams + logistic regression",
        f"{baseline['accuracy']:.4f}",
        f"{baseline['macro_f1']:.4f}",
        f"{baseline_seconds:.1f}",
        "1 (deterministic)",
    )
    table.add_row(
        "fine-tuned encoder alone",
        mean_sd([r["encoder_only_accuracy"] for r in runs]),
        "",
        "",
        f"{len(runs)} seeds {args.seeds}",
    )
    table.add_row(
        f"{TrainConfig().base_model}, two-stage fine-tuning, {_recipe(TrainConfig())} + lexical blend (defaults)",
        mean_sd([r["accuracy"] for r in runs]),
        mean_sd([r["macro_f1"] for r in runs]),
        mean_sd([r["seconds"] for r in runs], digits=0),
        f"{len(runs)} seeds {args.seeds}",
    )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"baseline": baseline, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
