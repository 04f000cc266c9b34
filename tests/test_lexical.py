"""The lexical model: the numpy transform equals scikit-learn's, save/load round-trips, blend-weight choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from hatespeech.data import load_split
from hatespeech.lexical import CHAR_NGRAMS, LexicalModel, char_ngrams, choose_blend_weight, word_ngrams

ODD_TEXTS = ["a", "I", "Émile's  café!!  x", "tab\tand\nnewline", "ab", "🙂 emoji", "don't stop-believing 42"]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_analyzers_match_scikit_learn(text: str) -> None:
    word = TfidfVectorizer(ngram_range=(1, 2)).build_analyzer()
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS).build_analyzer()
    assert word_ngrams(text) == word(text)
    assert char_ngrams(text) == char(text)


def test_numpy_probabilities_match_scikit_learn(shared_data: Path, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    train = load_split(shared_data, "sampled_train")
    test = load_split(shared_data, "sampled_test")
    model = LexicalModel.fit(train.texts, train.labels)
    reference = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=2),
        ),
        LogisticRegression(C=10.0, max_iter=2000),
    ).fit(train.texts, train.labels)
    texts = test.texts + ODD_TEXTS
    expected = reference.predict_proba(texts)[:, 1]
    assert np.allclose(model.predict_proba(texts), expected, atol=1e-9)
    model.save(tmp_path)
    assert np.allclose(LexicalModel.load(tmp_path).predict_proba(texts), expected, atol=1e-9)


def test_blend_weight_is_zero_when_the_lexical_model_does_not_help() -> None:
    labels = [1, 0, 1, 0]
    encoder = np.array([0.9, 0.1, 0.8, 0.2])
    weight, table = choose_blend_weight(labels, encoder, np.array([0.1, 0.9, 0.2, 0.8]))
    assert weight == 0.0 and table["0.00"] == min(table.values())


def test_blend_weight_is_chosen_when_it_fixes_errors() -> None:
    labels = [1, 0, 1, 0]
    encoder = np.array([0.05, 0.1, 0.8, 0.2])
    weight, _ = choose_blend_weight(labels, encoder, np.array([0.9, 0.1, 0.9, 0.1]))
    assert 0 < weight <= 0.6
