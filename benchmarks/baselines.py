"""The TF-IDF baseline every benchmark reports beside the model: word + char n-grams, logistic regression."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union


def tfidf_baseline(train_texts: Sequence[str], train_labels: Sequence[int], test_texts: Sequence[str]) -> list[float]:
    """Word (1-2) + char (2-5) n-gram TF-IDF with logistic regression (classes balanced): P(hate) per text."""
    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ),
        LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced"),
    )
    model.fit(list(train_texts), list(train_labels))
    return [float(p) for p in model.predict_proba(list(test_texts))[:, 1]]
