"""Recipe comparison without the test split: how the defaults are chosen.

For each outer seed a *dev* set of about 20% of the authors is carved out of the training mix
(``sampled_train`` + the natural noHate sentences of ``all_files``), grouped by user so that no author sits
on both sides; every recipe trains on the rest (with its own folds inside it) and is scored on the dev texts.
``sampled_test`` is never read. Per recipe and seed it prints dev accuracy on the balanced-sample dev texts,
the false-positive rate on the natural dev texts, and the same two figures with the final weights
interpolated towards the stage-1 start (WiSE-FT) at each ``--wise`` alpha: one training run gives the whole
alpha sweep. Usage::

    .venv/bin/python benchmarks/recipes.py --seeds 1 2 3 \\
        --recipe 'sampled-only={"natural": false}' --recipe 'mix={}' --wise 0.5 0.7 0.85
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import harness
import numpy as np
from rich.console import Console
from rich.table import Table

from hatespeech.behaviour import load_cases, score_model
from hatespeech.config import TrainConfig
from hatespeech.data import Dataset, Example, LoadReport, resolve_data_dir
from hatespeech.engines.base import predict_in_batches
from hatespeech.evaluation import compute_metrics, natural_false_alarms
from hatespeech.modeling import TorchEngine
from hatespeech.training import averaging, train
from hatespeech.training.data_mix import load_contrast_set, load_training_data

console = Console(width=160)
DEV_FOLDS = 5  # one fold of five = 20% of the authors


DATA_KEYS = ("natural", "contrast")  # recipe keys that choose the data, not TrainConfig fields


def parse_recipe(spec: str) -> tuple[str, dict[str, Any]]:
    """``name={"field": value, ...}``: TrainConfig overrides under a name; ``"natural": false`` = no all_files,
    ``"contrast": false`` = no contrast set."""
    name, _, overrides = spec.partition("=")
    values = json.loads(overrides or "{}")
    TrainConfig(**{k: v for k, v in values.items() if k not in DATA_KEYS})  # fail early on a bad field or value
    return name, values


def dev_split(examples: list[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """About 20% of the authors (stratified by label) as dev, the rest to train on."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=DEV_FOLDS, shuffle=True, random_state=100 + seed)
    labels = [e.label for e in examples]
    train_idx, dev_idx = next(splitter.split(np.zeros(len(examples)), labels, [e.group or e.id for e in examples]))
    return [examples[i] for i in train_idx], [examples[i] for i in dev_idx]


class Captured:
    """The stage-1 start and the fold soup of the last training run (wraps :mod:`averaging`, benchmark only)."""

    def __init__(self) -> None:
        self.start: averaging.State = {}
        self.soup: averaging.State = {}
        interpolate, average = averaging.interpolate, averaging.average_states

        def keep_start(start: averaging.State, tuned: averaging.State, alpha: float) -> averaging.State:
            self.start = start
            return interpolate(start, tuned, alpha)

        def keep_soup(states: Any) -> averaging.State:
            self.soup = average(states)
            return self.soup

        averaging.interpolate, averaging.average_states = keep_start, keep_soup  # type: ignore[assignment]


def dev_figures(engine: TorchEngine, dev: list[Example]) -> dict[str, float]:
    """Dev accuracy on the balanced-sample texts and the false-positive rate on the natural ones."""
    scores = np.array([p.score for p in predict_in_batches(engine, [e.text for e in dev])])
    sample = np.array([not e.natural for e in dev])
    labels = np.array([e.label for e in dev])
    accuracy = compute_metrics(labels[sample], scores[sample], engine.info.threshold)["accuracy"]
    natural = natural_false_alarms(dev, scores, engine.info.threshold) or {"false_positive_rate": float("nan")}
    return {"accuracy": float(accuracy), "natural_fpr": float(natural["false_positive_rate"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipe", action="append", default=[], help='name={"field": value} (repeatable)')
    parser.add_argument("--wise", type=float, nargs="*", default=[0.5, 0.7, 0.85], help="WiSE-FT alphas to score")
    parser.add_argument("--json", type=Path, default=None, help="default: results/recipes.json")
    args = parser.parse_args()
    recipes = dict(parse_recipe(spec) for spec in args.recipe or ['sampled-only={"natural": false}', "mix={}"])

    # The dev split is drawn from the forum data alone (the contrast set is never dev), as in 0.2.0.
    mix = load_training_data(resolve_data_dir(args.data), contrast=False, counterfactual=False)
    contrast_set = load_contrast_set().examples
    cases = load_cases()
    captured = Captured()
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        inner, dev = dev_split(mix.examples, seed)
        for name, overrides in recipes.items():
            natural = overrides.get("natural", True)
            train_examples = [e for e in inner if natural or not e.natural]
            train_examples += contrast_set if overrides.get("contrast", True) else []
            config = TrainConfig(
                **{"seed": seed, "device": "cpu", **{k: v for k, v in overrides.items() if k not in DATA_KEYS}}
            )
            with tempfile.TemporaryDirectory() as tmp:
                result = train(config, Dataset(train_examples, LoadReport(source="inner")), Path(tmp) / "model")
                engine = TorchEngine(result.model_dir)
                row: dict[str, Any] = {"seed": seed, "recipe": name, "train_texts": len(train_examples)}
                row.update({f"dev_{k}": v for k, v in dev_figures(engine, dev).items()})
                behaviour = score_model(engine, cases)
                row["behaviour"] = behaviour
                row["dev_behaviour_mean"] = statistics.mean(behaviour.values())
                row["dev_behaviour_min"] = min(behaviour.values())
                for alpha in args.wise:
                    engine.model.load_state_dict(averaging.interpolate(captured.start, captured.soup, alpha))
                    row.update({f"wise{alpha:g}_{k}": v for k, v in dev_figures(engine, dev).items()})
            natural_oof = result.metrics.get("natural", {}).get("false_positive_rate")
            row.update(
                {
                    "oof_accuracy": result.metrics["validation"]["accuracy"],
                    "oof_natural_fpr": natural_oof,
                    "selected": result.metrics["selected"],
                    "seconds": round(result.seconds, 1),
                }
            )
            rows.append(row)
            console.print(json.dumps(row))

    sample_dev = sum(not e.natural for e in dev)
    table = Table(
        title=f"dev = ~20% of authors ({sample_dev} sampled + {len(dev) - sample_dev} natural), seeds {args.seeds}"
    )
    columns = ["dev accuracy", "natural FPR"]
    variants = [("dev", "as trained")] + [(f"wise{a:g}", f"WiSE {a:g}") for a in args.wise]
    table.add_column("recipe")
    for _, label in variants:
        for column in columns:
            table.add_column(f"{label}: {column}")
    table.add_column("behaviour mean / min")
    table.add_column("train s")
    for name in recipes:
        mine = [r for r in rows if r["recipe"] == name]
        cells = [
            f"{statistics.mean(r[f'{key}_{figure}'] for r in mine):.4f}"
            for key, _ in variants
            for figure in ("accuracy", "natural_fpr")
        ]
        behaviour = " / ".join(f"{statistics.mean(r[f'dev_behaviour_{k}'] for r in mine):.3f}" for k in ("mean", "min"))
        table.add_row(name, *cells, behaviour, f"{statistics.mean(r['seconds'] for r in mine):.0f}")
    console.print(table)
    console.print(f"written: {harness.write('recipes', {'rows': rows}, args.json)}")


if __name__ == "__main__":
    main()
