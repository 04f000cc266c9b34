"""Recipe comparison without the test split: how the defaults were chosen.

For each outer seed, a stratified 20% *dev* split is carved from ``sampled_train``; every recipe trains on
the other 80% (with its own validation inside it) and is scored on the dev texts. ``sampled_test`` is never
read. Prints dev accuracy (blend and encoder alone) per seed and the mean per recipe; each JSON row also has
the dev accuracy at the threshold that maximises accuracy on the model's own validation scores and, for
cross-fit recipes, that of each fold model and of their ensemble (mean P(hate): k times the serving cost)
that the soup replaces. Usage::

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

from hatespeech import training
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


def capture_fold_states() -> list[Any]:
    """Keep the fold models' weights that each training run averages into its soup (for the ensemble column).

    Wraps ``training._average_states``: the fold models are not part of a model dir, and this benchmark alone
    needs them.
    """
    captured: list[Any] = []
    average = training._average_states

    def keep_and_average(states: Any) -> Any:
        captured[:] = list(states)
        return average(states)

    training._average_states = keep_and_average
    return captured


def dev_scores(engine: TorchEngine, dev: Dataset) -> np.ndarray:
    """P(hate) of every dev text, as served (lexical blend included)."""
    return np.array([p.score for p in predict_in_batches(engine, dev.texts)])


def extra_dev_figures(model_dir: Path, fold_states: list[Any], dev: Dataset) -> dict[str, Any]:
    """Dev accuracy at the accuracy-maximising validation threshold; with a soup, of each model it averages
    (the fold models; with ``folds`` = 0, the runs) and of their ensemble (mean P(hate), blended like the
    soup: k times the serving cost)."""
    labels, scores, _ = stored_validation_scores(model_dir)
    points = operating_points(labels, scores, np.ones(len(labels)))
    best = max(points, key=lambda p: (p.accuracy, -abs(p.threshold - 0.5)))
    engine = TorchEngine(model_dir)
    figures: dict[str, Any] = {
        "accuracy_threshold": best.threshold,
        "dev_accuracy_at_it": float(compute_metrics(dev.labels, dev_scores(engine, dev), best.threshold)["accuracy"]),
    }
    if len(fold_states) > 1:
        per_fold = []
        for state in fold_states:
            engine.model.load_state_dict(state)
            per_fold.append(dev_scores(engine, dev))
        threshold = engine.info.threshold  # the soup's decision threshold, as in its dev accuracy
        figures["dev_fold_models"] = [float(compute_metrics(dev.labels, s, threshold)["accuracy"]) for s in per_fold]
        figures["dev_fold_ensemble"] = float(
            compute_metrics(dev.labels, np.mean(per_fold, axis=0), threshold)["accuracy"]
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipe", action="append", default=[], help='name={"field": value} (repeatable)')
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    recipes = dict(parse_recipe(spec) for spec in args.recipe or ['hold-out={"folds": 0}', 'cross-fit={"folds": 4}'])

    data = load_split(resolve_data_dir(args.data), "sampled_train")
    fold_states = capture_fold_states()
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        inner, dev = train_validation_split(data.examples, DEV_FRACTION, 100 + seed)
        inner_data, dev_data = Dataset(inner, LoadReport(source="inner")), Dataset(dev, LoadReport(source="dev"))
        for name, overrides in recipes.items():
            config = TrainConfig(**{"seed": seed, "device": "cpu", **overrides})
            with tempfile.TemporaryDirectory() as tmp:
                result = train(config, inner_data, Path(tmp) / "model", test_data=dev_data)
                extra = extra_dev_figures(result.model_dir, fold_states, dev_data)
                fold_states.clear()
            metrics = result.metrics
            rows.append(
                {
                    "seed": seed,
                    "recipe": name,
                    "dev_accuracy": metrics["test"]["accuracy"],
                    "dev_encoder_only": metrics.get("test_encoder_only", metrics["test"])["accuracy"],
                    "validation_accuracy": metrics["validation"]["accuracy"],
                    **extra,
                    "selected": metrics["selected"],
                    "seconds": result.seconds,
                }
            )
            console.print(json.dumps(rows[-1]))

    table = Table(title=f"dev = {DEV_FRACTION:.0%} of sampled_train (n={len(dev)}), seeds {args.seeds}")
    for column in ("recipe", "dev accuracy", "encoder alone", "per seed", "fold ensemble", "train s (80% data)"):
        table.add_column(column)
    for name in recipes:
        mine = [r for r in rows if r["recipe"] == name]
        accuracy = [r["dev_accuracy"] for r in mine]
        table.add_row(
            name,
            f"{statistics.mean(accuracy):.4f}",
            f"{statistics.mean(r['dev_encoder_only'] for r in mine):.4f}",
            ", ".join(f"{a:.4f}" for a in accuracy),
            f"{statistics.mean(r['dev_fold_ensemble'] for r in mine):.4f}" if "dev_fold_ensemble" in mine[0] else "-",
            f"{statistics.mean(r['seconds'] for r in mine):.0f}",
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
