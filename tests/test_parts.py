"""Long texts in parts (issue 28, item 11): where sentences start, and how a text's tokens become parts that
each fit the model and together cover the whole text."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from hatespeech.engines.base import Prediction, combine
from hatespeech.engines.onnx_runtime import OnnxEngine
from hatespeech.parts import sentence_starts, token_ranges, worst


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Tokenizer:
    return Tokenizer.from_file(str(tiny_model / "tokenizer.json"))


def test_sentences_start_after_end_punctuation_quotes_and_newlines() -> None:
    text = 'One. Two?! "Three." Four\nFive\n\n  Six… seven'
    starts = sentence_starts(text)
    assert [text[s : s + 4] for s in starts] == ["One.", "Two?", '"Thr', "Four", "Five", "Six…", "seve"]
    assert sentence_starts("no end punctuation here") == [0]
    assert sentence_starts("ends here. ") == [0]


def _ranges(tokenizer: Tokenizer, text: str, budget: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    whole = Tokenizer.from_str(tokenizer.to_str())
    whole.no_truncation()
    offsets = whole.encode(text, add_special_tokens=False).offsets
    return offsets, token_ranges(text, offsets, budget)


@pytest.mark.parametrize(
    "text",
    [
        "A short one. " * 40,
        "word " * 500,  # one sentence far over the budget
        "x" * 3000,  # one 'word' of many tokens: no word start to cut at
        "Fine day. " * 10 + "a really long sentence " * 30 + ". And the end!",
    ],
)
def test_parts_fit_the_budget_and_cover_every_token_in_order(tokenizer: Tokenizer, text: str) -> None:
    offsets, ranges = _ranges(tokenizer, text, budget=20)
    assert all(0 < last - first <= 20 for first, last in ranges)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(offsets)
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start <= end  # contiguous or overlapping: no token is skipped
    assert [first for first, _ in ranges] == sorted({first for first, _ in ranges})  # progress, no repeats


def test_every_sentence_is_its_own_part(tokenizer: Tokenizer) -> None:
    sentences = ["It rained all day.", "We stayed inside!", "Was it fun?", "Yes."]
    text = " ".join(sentences)
    offsets, ranges = _ranges(tokenizer, text, budget=50)
    assert [text[offsets[a][0] : offsets[b - 1][1]] for a, b in ranges] == sentences


def test_a_long_sentence_is_cut_into_overlapping_runs_at_word_starts(tokenizer: Tokenizer) -> None:
    text = " ".join(f"w{i}" for i in range(200))
    offsets, ranges = _ranges(tokenizer, text, budget=30)
    assert len(ranges) > 1
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start < end  # overlap
        assert text[offsets[start][0] - 1] == " "  # a run starts at a word


def test_splitter_keeps_a_text_within_the_limit_whole(tiny_model: Path) -> None:
    engine = OnnxEngine(tiny_model, quantized=False, threads=1)
    [short] = engine.split(["a few words"])
    assert len(short.rows) == 1 and short.spans == [(0, len("a few words"))]
    long = "This is fine. " * 100
    [split] = engine.split([long])
    assert len(split.rows) == 100 and all(len(row) <= engine.info.max_length for row in split.rows)
    assert [long[a:b] for a, b in split.spans] == ["This is fine."] * 100
    assert engine.splitter.budget == engine.info.max_length - 2  # [CLS] [SEP]


def test_a_text_gets_its_worst_part_s_score_and_offsets() -> None:
    parts = [Prediction("noHate", 0.1, False), Prediction("hate", 0.9, False), Prediction("hate", 0.9, False)]
    combined = combine(parts, [(0, 5), (6, 10), (11, 20)])
    assert (combined.label, combined.score, combined.parts, combined.part) == ("hate", 0.9, 3, (6, 10))
    assert combine(parts[:1], [(0, 5)]) == parts[0]  # one part: the text's own prediction, no offsets
    assert worst([0.2, 0.7, 0.1]) == 1
