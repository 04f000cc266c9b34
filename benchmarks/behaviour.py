"""Behaviour suite (``hatespeech.behaviour``): each category's accuracy for every model given and for the
TF-IDF baseline trained on ``sampled_train``. Usage::

    .venv/bin/python benchmarks/behaviour.py [--model models/current ...] [--engine onnx-int8] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hatespeech.behaviour import load_cases, per_category, score_model
from hatespeech.data import load_split, resolve_data_dir
from hatespeech.engines.registry import open_engine

console = Console(width=160)


def main() -> None:
    import harness

    from hatespeech.evaluation import tfidf_baseline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", default=[], help="model dir (repeatable)")
    parser.add_argument("--engine", choices=["onnx", "onnx-int8"], default="onnx-int8")
    parser.add_argument("--data", type=Path, default=None, help="dataset for the TF-IDF baseline")
    parser.add_argument("--json", type=Path, default=None, help="default: results/behaviour.json")
    args = parser.parse_args()
    cases = load_cases()
    models = args.model or [Path("models/current")]

    train = load_split(resolve_data_dir(args.data), "sampled_train")
    columns = {
        "TF-IDF baseline": per_category(cases, tfidf_baseline(train.texts, train.labels, [c.text for c in cases]))
    }
    for model in models:
        columns[str(model)] = score_model(open_engine(model, args.engine, threads=None), cases)

    gold = {c.category: "hate" if c.label else "noHate" for c in cases}
    counts = {category: sum(c.category == category for c in cases) for category in gold}
    table = Table(title=f"Behaviour suite ({len(cases)} cases, {args.engine}): accuracy per category")
    for column in ("category", "gold", "n", *columns):
        table.add_column(column, justify="left" if column in ("category", "gold") else "right")
    for category in gold:
        table.add_row(
            category, gold[category], str(counts[category]), *(f"{c[category]:.2f}" for c in columns.values())
        )
    table.add_section()
    table.add_row("mean of categories", "", "", *(f"{statistics.mean(c.values()):.3f}" for c in columns.values()))
    table.add_row("lowest category", "", "", *(f"{min(c.values()):.2f}" for c in columns.values()))
    console.print(table)
    figures = {"cases": len(cases), "engine": args.engine, "gold": gold, "counts": counts, "results": columns}
    console.print(f"written: {harness.write('behaviour', figures, args.json)}")


if __name__ == "__main__":
    main()
