"""A lexical companion model: TF-IDF word and character n-grams + logistic regression.

Fine-tuned MiniLM and a TF-IDF model make different mistakes on this data (the encoder reads meaning, the
n-grams catch slurs, spellings and forum jargon), so blending their probabilities beats either alone. The
blend weight is chosen on the validation split at training time and stored in ``config.json``.

Fitting uses scikit-learn (training side). Inference re-implements the fitted transform in numpy, so the
serving path needs neither scikit-learn nor pickle: the model dir holds ``lexical.json`` (vocabularies)
and ``lexical.npz`` (idf weights, coefficients). A test checks the numpy path against scikit-learn.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hatespeech.errors import ModelError

LEXICAL_JSON = "lexical.json"
LEXICAL_NPZ = "lexical.npz"
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
REGULARISATION_C = 10.0

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str) -> list[str]:
    """scikit-learn's word analyzer: lowercase, tokens of 2+ word characters, 1- and 2-grams."""
    tokens = _TOKEN.findall(text.lower())
    grams = list(tokens)
    for n in range(max(2, WORD_NGRAMS[0]), WORD_NGRAMS[1] + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


def char_ngrams(text: str) -> list[str]:
    """scikit-learn's ``char_wb`` analyzer: character n-grams inside space-padded words."""
    grams: list[str] = []
    for word in _SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
            if len(padded) <= n:  # a short word counts once, as scikit-learn does
                grams.append(padded)
                break
            grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


@dataclass
class _Block:
    """One TF-IDF vectorizer's fitted state: vocabulary -> column, idf and the LR weights of its columns."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray

    def score(self, grams: list[str]) -> float:
        """Contribution to the LR logit: sublinear tf x idf, l2-normalised, dotted with the weights."""
        counts = Counter(g for g in grams if g in self.vocabulary)
        if not counts:
            return 0.0
        columns = np.fromiter((self.vocabulary[g] for g in counts), dtype=np.int64, count=len(counts))
        values = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
        values *= self.idf[columns]
        norm = float(np.sqrt(np.dot(values, values)))
        return float(np.dot(values, self.coef[columns]) / norm) if norm else 0.0


class LexicalModel:
    """TF-IDF (word 1-2 + char_wb 2-5 n-grams) + logistic regression, applied with numpy."""

    def __init__(self, word: _Block, char: _Block, intercept: float) -> None:
        self.word, self.char, self.intercept = word, char, intercept

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[int]) -> LexicalModel:
        """Fit with scikit-learn (training side only); labels are 1 = hate. Classes are weighted to balance,
        so P(hate) is on the balanced scale whatever the mix."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_union

        word = TfidfVectorizer(ngram_range=WORD_NGRAMS, sublinear_tf=True)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=2)
        features = make_union(word, char).fit_transform(list(texts))
        classifier = LogisticRegression(C=REGULARISATION_C, max_iter=2000, class_weight="balanced")
        classifier.fit(features, list(labels))
        coef = classifier.coef_[0].astype(np.float64)
        split = len(word.vocabulary_)
        return cls(
            _Block({k: int(v) for k, v in word.vocabulary_.items()}, word.idf_.astype(np.float64), coef[:split]),
            _Block({k: int(v) for k, v in char.vocabulary_.items()}, char.idf_.astype(np.float64), coef[split:]),
            float(classifier.intercept_[0]),
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """P(hate) for each text."""
        logits = np.array(
            [self.word.score(word_ngrams(t)) + self.char.score(char_ngrams(t)) + self.intercept for t in texts],
            dtype=np.float64,
        )
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
        return probs

    def save(self, directory: Path) -> None:
        vocabularies = {"word": _ordered(self.word.vocabulary), "char": _ordered(self.char.vocabulary)}
        meta = {"word_ngrams": WORD_NGRAMS, "char_ngrams": CHAR_NGRAMS, "intercept": self.intercept}
        (directory / LEXICAL_JSON).write_text(json.dumps({**meta, **vocabularies}, ensure_ascii=False))
        np.savez(
            directory / LEXICAL_NPZ,
            word_idf=self.word.idf,
            word_coef=self.word.coef,
            char_idf=self.char.idf,
            char_coef=self.char.coef,
        )

    @classmethod
    def load(cls, directory: Path) -> LexicalModel:
        try:
            meta = json.loads((directory / LEXICAL_JSON).read_text(encoding="utf-8"))
            with np.load(directory / LEXICAL_NPZ, allow_pickle=False) as arrays:
                blocks = {
                    name: _Block(
                        {gram: i for i, gram in enumerate(meta[name])},
                        arrays[f"{name}_idf"],
                        arrays[f"{name}_coef"],
                    )
                    for name in ("word", "char")
                }
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the lexical model in {directory}: {exc}") from exc
        return cls(blocks["word"], blocks["char"], float(meta["intercept"]))


def _ordered(vocabulary: dict[str, int]) -> list[str]:
    grams = [""] * len(vocabulary)
    for gram, column in vocabulary.items():
        grams[column] = gram
    return grams


def choose_blend_weight(
    labels: Sequence[int], encoder_scores: np.ndarray, lexical_scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, dict[str, float]]:
    """The weight w in [0, 0.6] (steps of 0.05) minimising the validation log-loss of (1-w)*enc + w*lex.

    Log-loss rather than accuracy: on a few hundred validation texts accuracy moves in steps of one text
    and is flat over most weights, so it picks noise; log-loss is smooth and also rewards calibration
    (the fine-tuned encoder alone is overconfident). Ties go to the smaller weight. ``weights`` re-weight the
    texts (e.g. to the balanced scale). Returns the weight and each candidate's log-loss, for the record.
    """
    y = np.asarray(labels, dtype=np.float64)
    sample_weight = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    table: dict[str, float] = {}
    best_w, best_loss = 0.0, math.inf
    for step in range(13):
        w = step * 0.05
        p = np.clip((1 - w) * encoder_scores + w * lexical_scores, 1e-7, 1 - 1e-7)
        loss = float(-np.average(y * np.log(p) + (1 - y) * np.log(1 - p), weights=sample_weight))
        table[f"{w:.2f}"] = loss
        if loss < best_loss - 1e-12:
            best_w, best_loss = w, loss
    return round(best_w, 2), table
