"""The behaviour suite: its cases are well formed, and the shipped model passes the key categories.

The shipped-model tests read ``models/current`` (or ``$HATESPEECH_SHIPPED_MODEL``): they run in ``make test``
when a model has been trained, and ``make test-model`` (run by CI after ``make test``) trains the default
model first and fails instead of skipping when it is missing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from shipped import shipped_model

from hatespeech.behaviour import CASES, FIRST_TRY_SENTENCES, load_cases, score_model
from hatespeech.config import DataRecipe
from hatespeech.data import LABELS, load_split
from hatespeech.engines.registry import open_engine
from hatespeech.training.data_mix import load_recipe

CATEGORIES = {
    "identity_neutral": 0, "identity_positive": 0, "negated_hate": 0, "counter_speech": 0, "reclaimed_slurs": 0,
    "profanity_untargeted": 0, "spelling_variants": 1, "threats": 1, "dehumanising": 1, "question_opinion": 1,
    "explicit_dislike": 1, "negative_generalisation": 1, "emoji_hate": 1, "emoji_nohate": 0,
}  # fmt: skip
# Accuracy the shipped model must reach, with margin below what the 0.7 defaults scored (seeds 1 and 2, torch fp32;
# docs/experiments.md): neutral mentions 1.00 / 1.00, negated hate 0.67 / 0.61, counter-speech 0.44 / 0.33 (0.6.0:
# 0.61 / 0.50; the corpora's slurs cost it: a known regression, in the model card), dehumanising 0.89 / 0.78,
# explicit dislike 1.00 / 1.00, negative generalisations 0.94 / 0.94, emoji hate 0.94 / 0.81, emoji noHate 0.94 / 0.94.
BOUNDS = {
    "identity_neutral": 0.8, "negated_hate": 0.5, "counter_speech": 0.25, "dehumanising": 0.7,
    "explicit_dislike": 0.8, "negative_generalisation": 0.8, "emoji_hate": 0.6, "emoji_nohate": 0.75,
}  # fmt: skip
# What the seed-42 model of 0.6.0 still gets wrong: a strict xfail reports the day a retrained model answers them.
FIRST_TRY_MISSES = {
    "Black people are not human.": "a negation word in dehumanising hate reads as negated hate (0.08)",
    "Saying that Jews are vermin is disgusting and wrong.": "counter-speech quoting a slur-like claim (1.00)",
}


def test_cases_cover_every_category_with_gold_labels_and_none_from_the_dataset(shared_data: Path) -> None:
    cases = load_cases(CASES)
    counts = Counter(c.category for c in cases)
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 15
    assert all(c.label == CATEGORIES[c.category] for c in cases)
    assert len({c.text for c in cases}) == len(cases)
    known = load_recipe(shared_data, DataRecipe()).texts + load_split(shared_data, "sampled_test").texts
    normalised = {" ".join(t.lower().split()) for t in known}
    assert not [c.text for c in cases if " ".join(c.text.lower().split()) in normalised]


@pytest.fixture(scope="module")
def shipped_accuracy() -> dict[str, float]:
    return score_model(open_engine(shipped_model(), "onnx-int8"), load_cases(CASES))


@pytest.mark.shipped
@pytest.mark.parametrize(
    "text",
    [
        pytest.param(t, marks=pytest.mark.xfail(strict=True, reason=FIRST_TRY_MISSES[t]))
        if t in FIRST_TRY_MISSES else t
        for t in FIRST_TRY_SENTENCES
    ],
)  # fmt: skip
def test_shipped_model_answers_the_sentences_a_new_user_tried(text: str) -> None:
    """Issue 27's six sentences (none of them, nor a near copy, is in any training data: tests/test_frames.py)."""
    [prediction] = open_engine(shipped_model(), "onnx-int8").predict([text])
    assert prediction.label == LABELS[FIRST_TRY_SENTENCES[text]], prediction


@pytest.mark.shipped
@pytest.mark.parametrize("category", sorted(BOUNDS))
def test_shipped_model_passes_the_key_behaviour_categories(shipped_accuracy: dict[str, float], category: str) -> None:
    assert shipped_accuracy[category] >= BOUNDS[category], shipped_accuracy


# Clearly hateful sentences written for the explanation tests, each with the words that make it hateful.
HATEFUL_WORDS = {
    "Those immigrants are filthy vermin.": {"filthy", "vermin."},
    "Muslims are disgusting parasites.": {"disgusting", "parasites."},
    "Those savages should go back to Africa.": {"savages"},
    "Immigrants are cockroaches.": {"cockroaches."},
}
# Where the group is named with little else, the model leans on the group's name: the name is the top span.
GROUP_NAME_ON_TOP = {
    "Blacks are subhuman animals.": {"subhuman", "animals."},
    "The Jews are a disease on this world.": {"disease"},
    "Jews are vermin and should be exterminated.": {"vermin", "exterminated."},
}


def top_spans(texts: list[str]) -> list[str]:
    from hatespeech.explain import explain

    engine = open_engine(shipped_model(), "onnx-int8")
    results = explain(engine, texts)
    return [text[top.start : top.end] for text, (_, spans) in zip(texts, results, strict=True)
            for top in [max(spans, key=lambda s: s.contribution)]]  # fmt: skip


@pytest.mark.shipped
def test_a_confident_answer_still_ranks_its_words_in_log_odds() -> None:
    """Issue 40: in 0.6 (differences of P(hate)) the top word of this sentence moved the score by +0.001."""
    from hatespeech.explain import MIN_EFFECT, explain

    text = "Those vermin should be thrown out of our country, they are filthy animals."
    ((prediction, spans),) = explain(open_engine(shipped_model(), "onnx-int8"), [text])
    assert prediction.score > 0.99 and max(s.contribution for s in spans) >= 1.0
    assert all(abs(s.contribution) >= MIN_EFFECT for s in spans)


@pytest.mark.shipped
def test_explanation_puts_the_hateful_word_on_top() -> None:
    texts = list(HATEFUL_WORDS)
    assert [top in HATEFUL_WORDS[t] for t, top in zip(texts, top_spans(texts), strict=True)] == [True] * len(texts)


@pytest.mark.shipped
@pytest.mark.xfail(strict=True, reason="known weakness: the group's name outweighs the insult (docs/evaluation.md)")
def test_explanation_puts_the_insult_above_the_group_name() -> None:
    texts = list(GROUP_NAME_ON_TOP)
    assert all(top in GROUP_NAME_ON_TOP[t] for t, top in zip(texts, top_spans(texts), strict=True))
