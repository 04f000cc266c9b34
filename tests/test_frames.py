"""The contrast set (generated frames) and the group-swapped variants: what they hold, that every group is named
as often in each class, that they stay apart from the behaviour suite, how epochs and metrics use them."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from hatespeech.behaviour import CASES, FIRST_TRY_SENTENCES, load_cases
from hatespeech.data import Example, load_split
from hatespeech.evaluation import validation_report
from hatespeech.training.data_mix import BalancedEpochs, load_contrast_set, load_training_data
from hatespeech.training.frames import HATE_FRAMES, OTHER_FRAMES, generate, misspell
from hatespeech.training.groups import (
    BY_KEY,
    GROUPS,
    counterfactuals,
    mask_identity_terms,
    mentions,
    named_groups,
    swap,
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9@$']+", text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def near_copies(texts: list[str], references: list[str]) -> list[tuple[str, str]]:
    """Pairs that share a run of five words or half their words (Jaccard >= 0.5)."""
    refs = [(r, _words(r), set(_words(r)), _ngrams(_words(r), 5)) for r in references]
    close = []
    for text in texts:
        words = _words(text)
        bag, grams = set(words), _ngrams(words, 5)
        for reference, _, ref_bag, ref_grams in refs:
            if len(bag & ref_bag) / len(bag | ref_bag) >= 0.5 or grams & ref_grams:
                close.append((text, reference))
    return close


def test_frames_cover_every_kind_and_name_every_group_in_both_classes() -> None:
    examples = generate()
    assert examples == generate()  # the same sentences every time
    kinds = Counter(e.group.split(":")[1].rsplit("-", 1)[0] for e in examples)
    assert set(kinds) == set(HATE_FRAMES) | set(OTHER_FRAMES)
    for example in examples:  # hateful frames hold hate, and their sentences quoted to condemn them (noHate)
        in_hate_frame = example.group.split(":")[1].rsplit("-", 1)[0] in HATE_FRAMES
        hateful = [e.text.rstrip(".!?") for e in examples if e.group == example.group and e.label == 1]
        quoted = not example.label and any(f"'{h}'" in example.text for h in hateful)
        assert (example.label == 1 and in_hate_frame) or (not in_hate_frame and example.label == 0) or quoted
    assert all(e.contrast and not e.natural for e in examples) and len({e.text for e in examples}) == len(examples)
    hate, other = Counter(e.label for e in examples)[1], Counter(e.label for e in examples)[0]
    assert 0.7 < hate / other < 1.25
    for group in GROUPS:  # every group is named in both classes, about as often (its share of each class)
        named = [e for e in examples if group.plural.lower() in e.text.lower() or group.singular in e.text]
        per_class = Counter(e.label for e in named)
        assert per_class[0] >= 3 and per_class[1] >= 3, (group.key, per_class)
    assert not [e.text for e in examples if re.search(r"\b[Aa] [aeiou]|\{|\}|\bNone\b(?! of)", e.text)]


def test_misspelling_changes_the_word_and_is_seeded() -> None:
    words = [misspell("Muslims", random.Random(seed)) for seed in range(20)]
    assert all(w != "Muslims" for w in words) and len(set(words)) > 3
    assert words == [misspell("Muslims", random.Random(seed)) for seed in range(20)]


def test_swaps_keep_number_articles_and_capitals() -> None:
    muslims, women, black = BY_KEY["muslims"], BY_KEY["women"], BY_KEY["black"]
    assert swap("jews are the problem", {"jews": muslims}) == "Muslims are the problem"
    assert swap("Blacks and jews", {"black": muslims, "jews": women}) == "Muslims and women"
    assert swap("He married a jew who", {"jews": BY_KEY["immigrants"]}) == "He married an immigrant who"
    assert swap("An immigrant family moved in.", {"immigrants": black}) == "A black family moved in."
    assert swap("a jew lawyer", {"jews": muslims}) == "a Muslim lawyer"  # a noun used as an adjective
    assert swap("muslim men pray", {"muslims": women}) is None  # women have no adjective
    assert swap("a black shirt and a black cat", {"black": muslims}) is None  # colours are not groups
    assert [m.form for m in mentions("Black people, a black man, the jew, jewish folks")] == [
        "plural", "adjective", "singular", "adjective",
    ]  # fmt: skip
    assert named_groups("the whites") == set()  # never swapped: the forum's in-group


def test_counterfactuals_are_balanced_by_class_and_group_and_keep_the_fold_group() -> None:
    sources = [Example(f"h{i}", f"The jews number {i} are vermin.", 1, f"user:{i}") for i in range(40)]
    sources += [Example(f"n{i}", f"My black neighbours number {i} are nice.", 0, f"user:n{i}") for i in range(60)]
    sources += [Example(f"w{i}", f"Ordinary talk {i}.", 0, f"user:w{i}", natural=True) for i in range(20)]
    variants = counterfactuals(sources, seed=3)
    labels = Counter(v.label for v in variants)
    assert labels[0] == labels[1] == 40
    by_id = {e.id: e for e in sources}
    for variant in variants:
        source = by_id[variant.id.split("~")[0]]
        assert variant.group == source.group and variant.label == source.label and variant.contrast
        assert variant.text != source.text and not named_groups(variant.text) & named_groups(source.text)
    hate_groups = Counter(v.id.split("~")[1] for v in variants if v.label == 1)
    assert max(hate_groups.values()) - min(hate_groups.values()) <= 1 and len(hate_groups) == len(GROUPS) - 1


def test_identity_masks_cover_every_group_and_form_and_nothing_else() -> None:
    for group in GROUPS:
        for form in (group.plural, group.singular, group.adjective):
            if form:
                assert mask_identity_terms(f"Some {form} things.", "[MASK]") == "Some [MASK] things.", form
    assert mask_identity_terms("Black people and blacks, a black person.", "[M]") == "[M] and [M], a [M]."
    assert mask_identity_terms("Jewish neighbours hate JEWS", "[M]") == "[M] neighbours hate [M]"
    assert mask_identity_terms("White people and the weather.", "[M]") is None  # "white" names the in-group
    assert mask_identity_terms("Jewellery and Germany.", "[M]") is None  # whole words only


def test_extra_labels_keep_only_those_rows_and_count_the_rest(shared_data: Path, tmp_path: Path) -> None:
    from hatespeech.errors import DataError

    extra = tmp_path / "extra.csv"
    extra.write_text("text,label\nan extra hateful row,hate\nan extra ordinary row,noHate\n")
    both = load_training_data(shared_data, contrast=False, counterfactual=False, extra=[extra])
    hate_only = load_training_data(shared_data, contrast=False, counterfactual=False, extra=[extra],
                                   extra_labels=["hate"])  # fmt: skip
    assert len(both) == len(hate_only) + 1
    assert "an extra hateful row" in hate_only.texts and "an extra ordinary row" not in hate_only.texts
    assert hate_only.report.skipped_labels["noHate (not in --extra-labels)"] == 1
    with pytest.raises(DataError, match="extra labels"):
        load_training_data(shared_data, extra=[extra], extra_labels=["offensive"])


def test_the_mix_has_frames_and_variants_unless_switched_off(shared_data: Path) -> None:
    test = load_split(shared_data, "sampled_test")
    mix = load_training_data(shared_data, test_texts=test.texts)
    plain = load_training_data(shared_data, contrast=False, counterfactual=False, test_texts=test.texts)
    frames = [e for e in mix.examples if e.group.startswith("frame:")]
    variants = [e for e in mix.examples if "~" in e.id]
    assert len(frames) == len(load_contrast_set()) and len(variants) > 300
    assert Counter(v.label for v in variants)[0] == Counter(v.label for v in variants)[1]
    assert len(mix) == len(plain) + len(frames) + len(variants)
    assert "contrast set" in mix.report.source and "group-swapped" in mix.report.source
    assert not any(e.contrast for e in plain.examples)
    test_keys = {" ".join(t.lower().split()) for t in test.texts}
    assert not [e.text for e in mix.examples if " ".join(e.text.lower().split()) in test_keys]


def test_no_training_text_is_close_to_a_behaviour_case_or_an_issue_sentence(shared_data: Path) -> None:
    """The behaviour suite measures what the frames teach only if no frame is a near copy of a case; and no
    training text at all (forum, variants, frames) is a near copy of the sentences of issue 27."""
    cases = [c.text for c in load_cases(CASES)]
    assert set(FIRST_TRY_SENTENCES) <= set(cases)
    assert not near_copies(load_contrast_set().texts, cases)
    mix = load_training_data(shared_data, test_texts=load_split(shared_data, "sampled_test").texts)
    assert not near_copies(mix.texts, list(FIRST_TRY_SENTENCES))
    known = {" ".join(t.lower().split()) for t in mix.texts}
    assert not [c for c in cases if " ".join(c.lower().split()) in known]


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
