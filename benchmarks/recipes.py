"""Recipe comparison without the test split: how the defaults were chosen.

For each outer seed, a stratified 20% *dev* split is carved from ``sampled_train``; every recipe trains on
the other 80% (with its own validation inside it) and is scored on the dev texts. ``sampled_test`` is never
read. Prints dev accuracy (blend and encoder alone) per seed and the mean per recipe; each JSON row also has
the dev accuracy at the threshold that maximises accuracy on the model's own validation scores. Usage::

    .venv/bin/python benchmarks/recipes.py --seeds 1 2 3 \\
        --recipe 'hold-out={"folds": 0}' --recipe 'cross-fit={"folds": 4}'
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from hatespeech.calibration import operating_points, stored_validation_scores
from hatespeech.config import TrainConfig
from hatespeech.data import Dataset, LoadReport, load_split, resolve_data_dir, train_validation_split
from hatespeech.engine import TorchEngine, predict_in_batches
from hatespeech.evaluation import compute_metrics
from hatespeech.training import train

console = Console(width=160)
DEV_FRACTION = 0.2


def parse_recipe(spec: str) -> tuple[str, dict[str, Any]]:
    """``name={"field": value, ...}``: TrainConfig overrides under a name."""
    name, _, overrides = spec.partition("=")
    values = json.loads(overrides or "{}")
    TrainConfig(**values)  # fail early on an unknown field or a bad value
    return name, values


def dev_accuracy_at_validation_threshold(model_dir: Path, dev: Dataset) -> dict[str, float]:
    """The threshold that maximises accuracy on the model's validation scores, and dev accuracy at it."""
    labels, scores, _ = stored_validation_scores(model_dir)
    points = operating_points(labels, scores, np.ones(len(labels)))
    best = max(points, key=lambda p: (p.accuracy, -abs(p.threshold - 0.5)))
    engine = TorchEngine(model_dir, threshold=best.threshold)
    predictions = predict_in_batches(engine, dev.texts)
    dev_scores = np.array([p.score for p in predictions])
    return {
        "accuracy_threshold": best.threshold,
        "dev_accuracy_at_it": float(compute_metrics(dev.labels, dev_scores, best.threshold)["accuracy"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipe", action="append", default=[], help='name={"field": value} (repeatable)')
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    recipes = dict(parse_recipe(spec) for spec in args.recipe or ['hold-out={"folds": 0}', 'cross-fit={"folds": 4}'])

    data = load_split(resolve_data_dir(args.data), "sampled_train")
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        inner, dev = train_validation_split(data.examples, DEV_FRACTION, 100 + seed)
        inner_data, dev_data = Dataset(inner, LoadReport(source="inner")), Dataset(dev, LoadReport(source="dev"))
        for name, overrides in recipes.items():
            config = TrainConfig(**{"seed": seed, "device": "cpu", **overrides})
            with tempfile.TemporaryDirectory() as tmp:
                result = train(config, inner_data, Path(tmp) / "model", test_data=dev_data)
                tuned = dev_accuracy_at_validation_threshold(result.model_dir, dev_data)
            metrics = result.metrics
            rows.append(
                {
                    "seed": seed,
                    "recipe": name,
                    "dev_accuracy": metrics["test"]["accuracy"],
                    "dev_encoder_only": metrics.get("test_encoder_only", metrics["test"])["accuracy"],
                    "validation_accuracy": metrics["validation"]["accuracy"],
                    **tuned,
                    "selected": metrics["selected"],
                    "seconds": result.seconds,
                }
            )
            console.print(json.dumps(rows[-1]))

    table = Table(title=f"dev = {DEV_FRACTION:.0%} of sampled_train (n={len(dev)}), seeds {args.seeds}")
    for column in ("recipe", "dev accuracy", "encoder alone", "per seed", "train s (80% data)"):
        table.add_column(column)
    for name in recipes:
        mine = [r for r in rows if r["recipe"] == name]
        accuracy = [r["dev_accuracy"] for r in mine]
        table.add_row(
            name,
            f"{statistics.mean(accuracy):.4f}",
            f"{statistics.mean(r['dev_encoder_only'] for r in mine):.4f}",
            ", ".join(f"{a:.4f}" for a in accuracy),
            f"{statistics.mean(r['seconds'] for r in mine):.0f}",
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
