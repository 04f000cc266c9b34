"""The behaviour suite: hand-written functional test cases (``behaviour_cases.jsonl``: text, gold label,
category) and a model's accuracy per category.

The cases were written for this project, in the spirit of functional tests for hate-speech models: identity
groups named neutrally or positively, negated hate, counter-speech that quotes or refers to hate, reclaimed slurs
and untargeted profanity (all noHate), and hate with spelling variants, threats, dehumanising comparisons and hate
phrased as a question or an opinion. Nothing is trained or chosen on them: ``compare``, the tests and
``benchmarks/behaviour.py`` read them from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hatespeech.data import normalise_label
from hatespeech.engines.base import Engine, predict_in_batches
from hatespeech.errors import DataError

CASES = Path(__file__).with_name("behaviour_cases.jsonl")  # package data
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


@dataclass(frozen=True)
class Case:
    category: str
    label: int  # 1 = hate
    text: str


def load_cases(path: Path = CASES) -> list[Case]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the behaviour cases {path}: {exc}") from exc
    cases = []
    for row in rows:
        label = normalise_label(row["label"])
        if label is None:
            raise DataError(f"{path}: unknown label in {row}")
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
