"""Behaviour suite: the model on hand-written functional test cases, accuracy per category.

The cases (``behaviour_cases.jsonl``: text, gold label, category) were written for this project, in the
spirit of functional tests for hate-speech models: identity groups named neutrally or positively, negated
hate, counter-speech that quotes or refers to hate, reclaimed slurs and untargeted profanity (all noHate),
and hate with spelling variants, threats, dehumanising comparisons and hate phrased as a question or an
opinion. Nothing is trained or chosen on them. Prints each category's accuracy for every model given and for
the TF-IDF baseline trained on ``sampled_train``. Usage::

    .venv/bin/python benchmarks/behaviour.py [--model models/current ...] [--engine onnx-int8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hatespeech.data import load_split, normalise_label, resolve_data_dir
from hatespeech.engine import Engine, predict_in_batches

CASES = Path(__file__).with_name("behaviour_cases.jsonl")
# The sentences a new user tried on the 0.5 model (issue 27): the shipped model must answer them, and no training
# text may be one of them or a near copy.
FIRST_TRY_SENTENCES = {
    "I hate Muslims.": 1,
    "I really can't stand black people.": 1,
    "Black people are not human.": 1,
    "Gay people make me sick.": 1,
    "I don't trust Mexicans.": 1,
    "Saying that Jews are vermin is disgusting and wrong.": 0,
}
console = Console(width=160)


@dataclass(frozen=True)
class Case:
    category: str
    label: int  # 1 = hate
    text: str


def load_cases(path: Path = CASES) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        label = normalise_label(row["label"])
        assert label is not None, row
        cases.append(Case(row["category"], label, row["text"]))
    return cases


def per_category(cases: Sequence[Case], scores: Sequence[float], threshold: float = 0.5) -> dict[str, float]:
    """Share of each category's cases on the right side of ``threshold``, in file order of categories."""
    hits: dict[str, list[bool]] = {}
    for case, score in zip(cases, scores, strict=True):
        hits.setdefault(case.category, []).append((score >= threshold) == bool(case.label))
    return {category: sum(h) / len(h) for category, h in hits.items()}


def score_model(engine: Engine, cases: Sequence[Case]) -> dict[str, float]:
    """Per-category accuracy of a model at its own decision threshold (and prior, as served)."""
    predictions = predict_in_batches(engine, [c.text for c in cases])
    return per_category(cases, [p.score for p in predictions], engine.info.threshold)


def load_engine(model: Path, kind: str) -> Engine:
    from hatespeech.onnx_engine import OnnxEngine

    return OnnxEngine(model, quantized=kind == "onnx-int8")


def main() -> None:
    import record

    from baselines import tfidf_baseline

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
        columns[str(model)] = score_model(load_engine(model, args.engine), cases)

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
    console.print(f"written: {record.write('behaviour', figures, args.json)}")


if __name__ == "__main__":
    main()
