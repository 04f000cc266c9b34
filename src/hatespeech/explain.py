"""Why a text got its score: occlusion over the words of the text, run by the serving engine (no torch).

A text is split into words as a reader sees them: runs of tokens with no space between them, so "don't" or
"immigrants," is one word. Each word in turn is replaced by the tokenizer's mask token. The word's
contribution is its effect in **log-odds**: log(P/(1-P)) of P(hate) for the whole text minus the same with that
word masked; positive pushed the score towards hate, negative away from it. Log-odds, not probability, so that a
confident answer still ranks its words (from 0.9999 to 0.99 is +4.6, where the probability moved 0.01), and
+1.0 means the word multiplied the odds of hate by e (2.7). Words whose effect is under ``MIN_EFFECT`` are not
listed. The text is scored first; its masked variants then go through one batched
forward pass, so a text of W words costs W + 1 rows. A text scored in parts (:mod:`hatespeech.parts`) is
explained over its worst part, the one that decided its score. At most ``MAX_SPANS`` spans are explained per text, which
bounds that cost. A longer text is cut into ``MAX_SPANS`` spans of neighbouring words, and each span is
masked as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from tokenizers import Encoding

from hatespeech.engines.base import BaseEngine, Prediction, Tokens, collate

MAX_SPANS = 16
"""Spans explained per text: a text of more words is explained in spans of several words."""
MIN_EFFECT = 0.1
"""Effects under this (in log-odds: the odds of hate moved by under 10.5%) are not listed: noise, not reasons."""
EXTREME = 1e-9
"""P(hate) is clipped to [EXTREME, 1 - EXTREME] before its log-odds (at most +-20.7): a score of exactly 0 or 1."""


@dataclass(frozen=True)
class Span:
    """Characters ``[start, end)`` of the input and their effect on the log-odds of hate."""

    start: int
    end: int
    contribution: float


@dataclass(frozen=True)
class Plan:
    """The rows to score for one text: the text itself first, then one masked variant per span."""

    rows: list[Tokens]
    spans: list[tuple[int, int]]  # character offsets of each span in the input text


def words(encoding: Encoding) -> list[tuple[int, int]]:
    """Token index ranges ``[first, last)`` of each word: runs of tokens with no character between them (or
    overlapping: the tokens of an emoji's name all point at the emoji)."""
    runs: list[tuple[int, int]] = []
    previous_end = -1
    for index, (start, end) in enumerate(encoding.offsets):
        if encoding.special_tokens_mask[index] or start == end:
            previous_end = -1
            continue
        if runs and start <= previous_end and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
        previous_end = end
    return runs


def merge(runs: list[tuple[int, int]], limit: int = MAX_SPANS) -> list[tuple[int, int]]:
    """At most ``limit`` spans, each of neighbouring runs, as even in size as the count allows."""
    if len(runs) <= limit:
        return runs
    cuts = [round(i * len(runs) / limit) for i in range(limit + 1)]
    return [(runs[a][0], runs[b - 1][1]) for a, b in pairwise(cuts)]


def whole_words(encoding: Encoding, text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Each run with the characters of the text it covers, widened to whole space-separated words: a normalised
    token points at part of what it replaced ("@bob" read as "@user"), the reader sees the word. Runs that
    widen into the same word become one."""
    spans: list[tuple[int, int, int, int]] = []
    for first, last in runs:
        start, end = encoding.offsets[first][0], encoding.offsets[last - 1][1]
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        if spans and start < spans[-1][3]:
            spans[-1] = (spans[-1][0], last, spans[-1][2], max(end, spans[-1][3]))
        else:
            spans.append((first, last, start, end))
    return spans


def plan(encoding: Encoding, mask_id: int, text: str, limit: int = MAX_SPANS) -> Plan:
    """The rows of ``text`` (as ``encoding``): itself, then each span's tokens replaced by ``mask_id``."""
    ids, type_ids = tuple(encoding.ids), tuple(encoding.type_ids)
    truncated = bool(encoding.overflowing)
    rows = [Tokens(ids, type_ids, truncated)]
    spans = []
    found = whole_words(encoding, text, words(encoding))
    chars = {(first, last): (start, end) for first, last, start, end in found}
    starts = {first: start for first, _, start, _ in found}
    ends = {last: end for _, last, _, end in found}
    for first, last in merge([(first, last) for first, last, _, _ in found], limit):
        masked = ids[:first] + (mask_id,) * (last - first) + ids[last:]
        rows.append(Tokens(masked, type_ids, truncated))
        spans.append(chars.get((first, last), (starts[first], ends[last])))
    return Plan(rows, spans)


def log_odds(scores: Sequence[float]) -> np.ndarray:
    """log(P/(1-P)) of each P(hate), clipped to [EXTREME, 1 - EXTREME]."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), EXTREME, 1 - EXTREME)
    return np.log(clipped) - np.log1p(-clipped)


def contributions(plan: Plan, scores: Sequence[float], floor: float | None = None) -> list[Span]:
    """The spans whose effect on the log-odds of hate is at least ``floor`` (``MIN_EFFECT``), from P(hate) of the
    plan's rows (the text first), in text order."""
    floor = MIN_EFFECT if floor is None else floor
    odds = log_odds(scores)
    effects = [(start, end, float(odds[0] - masked)) for (start, end), masked in zip(plan.spans, odds[1:], strict=True)]
    return [Span(start, end, effect) for start, end, effect in effects if abs(effect) >= floor]


def explain(engine: BaseEngine, texts: Sequence[str], limit: int = MAX_SPANS) -> list[tuple[Prediction, list[Span]]]:
    """Each text's prediction and its spans' contributions, over its worst part if it was scored in parts
    (offsets are the text's): the CLI's path."""
    explained = []
    for text, prediction in zip(texts, engine.predict(texts), strict=True):
        start, end = prediction.part or (0, len(text))
        piece = text[start:end]
        text_plan = plan(engine.encodings([piece])[0], engine.mask_id, piece, limit)
        masked = engine.predict_encoded(collate(text_plan.rows[1:])) if text_plan.spans else []
        spans = contributions(text_plan, [prediction.score] + [m.score for m in masked])
        explained.append((prediction, [Span(s.start + start, s.end + start, s.contribution) for s in spans]))
    return explained
