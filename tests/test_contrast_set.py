"""The contrast set: what it holds, that it stays apart from the behaviour suite, how epochs and metrics use it."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

from hatespeech.data import Example, load_split
from hatespeech.evaluation import validation_report
from hatespeech.training.data_mix import BalancedEpochs, load_contrast_set, load_training_data

from behaviour import CASES, load_cases


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_contrast_set_holds_negations_counter_speech_and_hate_of_the_same_words() -> None:
    data = load_contrast_set()
    assert len(data) == 200 and all(e.contrast and not e.natural for e in data.examples)
    kinds = Counter(e.group.split(":")[1].rsplit("-", 1)[0] for e in data.examples)
    assert kinds == {"negation": 72, "counter": 72, "positive": 24, "hate": 32}
    assert all(e.label == (e.group.startswith("contrast:hate")) for e in data.examples)
    assert len({e.text for e in data.examples}) == 200


def test_contrast_set_is_not_close_to_any_behaviour_case_or_dataset_text(shared_data: Path) -> None:
    """The behaviour suite measures what the contrast set teaches only if no sentence is a near copy of a case:
    no shared run of five words and word overlap (Jaccard) below one half."""
    cases = [_words(c.text) for c in load_cases(CASES)]
    close = []
    for example in load_contrast_set().examples:
        words = _words(example.text)
        for case in cases:
            jaccard = len(set(words) & set(case)) / len(set(words) | set(case))
            if jaccard >= 0.5 or _ngrams(words, 5) & _ngrams(case, 5):
                close.append((example.text, " ".join(case)))
    assert not close, close[:5]
    known = load_training_data(shared_data, contrast=False).texts + load_split(shared_data, "sampled_test").texts
    normalised = {" ".join(t.lower().split()) for t in known}
    assert not [e.text for e in load_contrast_set().examples if " ".join(e.text.lower().split()) in normalised]


def test_training_mix_has_the_contrast_set_unless_switched_off(shared_data: Path) -> None:
    with_set = load_training_data(shared_data)
    without = load_training_data(shared_data, contrast=False)
    assert len(with_set) == len(without) + 200
    assert "contrast set" in with_set.report.source and not any(e.contrast for e in without.examples)


def test_balanced_epochs_keep_the_contrast_texts_in_every_epoch_within_the_class_share() -> None:
    hate = [Example(f"h{i}", f"hate {i}", 1) for i in range(4)]
    ok = [Example(f"n{i}", f"ok {i}", 0) for i in range(20)]
    negations = [Example(f"c{i}", f"not hate {i}", 0, contrast=True) for i in range(2)]
    epochs = BalancedEpochs(hate + ok + negations, random.Random(0))
    assert len(epochs) == 8 and epochs.class_weights() is None  # 4 hate + 2 contrast + 2 drawn noHate
    for _ in range(5):
        epoch = epochs.next_epoch()
        assert {"c0", "c1"} <= {e.id for e in epoch} and sum(e.label == 0 for e in epoch) == 4
    wider = BalancedEpochs(hate + ok + negations, random.Random(0), ratio=2.0)
    assert len(wider) == 12 and wider.class_weights() == [0.5, 1.0]


def test_validation_reports_the_contrast_texts_apart_from_the_balanced_sample() -> None:
    examples = [Example("h", "a", 1), Example("n", "b", 0), Example("w", "c", 0, natural=True)]
    examples += [Example("c1", "d", 0, contrast=True), Example("c2", "e", 1, contrast=True)]
    report = validation_report(examples, [0.9, 0.2, 0.7, 0.6, 0.8], 0.5)
    assert report["validation"]["n"] == 2 and report["validation"]["accuracy"] == 1.0
    assert report["validation_all"]["n"] == 5
    assert report["contrast"] == {"n": 2, "accuracy": 0.5}
    assert report["natural"]["false_positive_rate"] == 1.0
