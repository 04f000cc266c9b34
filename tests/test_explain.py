"""Explanations by occlusion: words as a reader sees them, bounded spans, effects in log-odds above a floor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hatespeech.engines.base import Encoded
from hatespeech.engines.onnx_runtime import OnnxEngine
from hatespeech.explain import MAX_SPANS, MIN_EFFECT, Plan, contributions, explain, log_odds, merge, plan, words


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> OnnxEngine:
    return OnnxEngine(tiny_model)


def spans_text(engine: OnnxEngine, text: str) -> list[str]:
    encoding = engine.encodings([text])[0]
    return [text[start:end] for start, end in plan(encoding, engine.mask_id, text).spans]


def test_a_word_is_what_a_reader_sees_punctuation_and_word_pieces_included(engine: OnnxEngine) -> None:
    text = "I don't  hate immigrants, they're great!"
    assert spans_text(engine, text) == ["I", "don't", "hate", "immigrants,", "they're", "great!"]


def test_offsets_are_code_points_of_the_input(engine: OnnxEngine) -> None:
    text = "café 😀 straße naïve"
    assert spans_text(engine, text) == text.split()


def test_a_normalised_word_is_explained_as_the_caller_wrote_it(engine: OnnxEngine) -> None:
    assert engine.info.normalization == "social-v1"  # the model reads "🔪" as ":kitchen knife:", "@bob" as "@user"
    text = "I want to 🔪 all 👍🏽 @bob <user> &amp; http://x.io/a?b=1 women!"
    assert spans_text(engine, text) == text.split()
    tokens = engine.encodings([text])[0].tokens
    assert "knife" in tokens and "[UNK]" not in tokens and "bob" not in tokens


def test_each_variant_masks_exactly_its_span(engine: OnnxEngine) -> None:
    encoding = engine.encodings(["one two three"])[0]
    rows = plan(encoding, engine.mask_id, "one two three").rows
    assert rows[0].ids == tuple(encoding.ids)
    for row, (first, last) in zip(rows[1:], words(encoding), strict=True):
        changed = [i for i, (a, b) in enumerate(zip(row.ids, encoding.ids, strict=True)) if a != b]
        assert changed == list(range(first, last)) and all(row.ids[i] == engine.mask_id for i in changed)


def test_a_long_text_is_explained_in_at_most_max_spans_even_spans(engine: OnnxEngine) -> None:
    text = " ".join(["a", "b", "c", "d", "e"] * 20)  # one token each; cut at the model's token limit
    kept = len(words(engine.encodings([text])[0]))
    assert kept > MAX_SPANS
    spans = spans_text(engine, text)
    assert len(spans) == MAX_SPANS
    assert text.startswith(" ".join(spans)) and len(" ".join(spans).split()) == kept  # each word once, in order
    assert {len(s.split()) for s in spans} <= {kept // MAX_SPANS, kept // MAX_SPANS + 1}
    assert merge([(i, i + 1) for i in range(5)], limit=8) == [(i, i + 1) for i in range(5)]


def test_contribution_is_the_log_odds_change_when_the_span_is_masked(
    engine: OnnxEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatespeech.explain as explaining

    text = "some words to explain here"
    monkeypatch.setattr(explaining, "MIN_EFFECT", 0.0)  # every word, to compare each
    ((prediction, spans),) = explain(engine, [text])
    assert prediction == engine.predict([text])[0]
    encoding = engine.encodings([text])[0]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    for span, (first, last) in zip(spans, words(encoding), strict=True):
        ids = np.array([encoding.ids], dtype=np.int64)
        ids[0, first:last] = engine.mask_id
        masked = Encoded(ids, np.ones_like(ids), np.zeros_like(ids), [False])
        expected = logit(prediction.score) - logit(engine.predict_encoded(masked)[0].score)
        assert span.contribution == pytest.approx(expected)
    monkeypatch.setattr(explaining, "MIN_EFFECT", float(np.median([abs(s.contribution) for s in spans])))
    ((_, listed),) = explain(engine, [text])
    assert listed == [s for s in spans if abs(s.contribution) >= explaining.MIN_EFFECT] and 0 < len(listed) < 5


def test_a_confident_answer_still_ranks_its_words_and_small_effects_are_not_listed() -> None:
    two = Plan(rows=[], spans=[(0, 6), (7, 12), (13, 18)])
    spans = contributions(two, [0.9999, 0.99, 0.99995, 0.999901])  # masking "vermin" moves P(hate) by 0.0099 only
    assert [(s.start, round(s.contribution, 1)) for s in spans] == [(0, 4.6), (7, -0.7)]  # third: -0.01
    assert all(abs(s.contribution) >= MIN_EFFECT for s in spans)
    certain = contributions(Plan(rows=[], spans=[(0, 1)]), [1.0, 0.0])  # exact 0 and 1: clipped, finite
    assert certain[0].contribution == pytest.approx(2 * 20.72, abs=0.01)
    assert list(log_odds([0.5, 0.0, 1.0])) == pytest.approx([0.0, -20.72, 20.72], abs=0.01)


def test_a_text_of_only_punctuation_or_scored_in_parts_still_explains(
    engine: OnnxEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hatespeech.explain.MIN_EFFECT", 0.0)  # the spans themselves, however small their effect
    ((prediction, spans),) = explain(engine, ["!!!"])
    assert [(s.start, s.end) for s in spans] == [(0, 3)]
    long = "word " * 2000
    ((prediction, spans),) = explain(engine, [long])
    assert prediction.parts > 1 and prediction.part is not None and len(spans) == MAX_SPANS
    start, end = prediction.part
    assert start <= spans[0].start and spans[-1].end <= end  # over the worst part, in the text's offsets


def test_the_documented_cap_is_the_code_s() -> None:
    api = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    assert f"At most {MAX_SPANS} spans are" in api and f"16 \u00d7 {MAX_SPANS + 1} rows" in api
