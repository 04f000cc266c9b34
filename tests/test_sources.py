"""The data mix by source: HateXplain in its upstream columns, each epoch drawn by share and balanced per
platform, the hold-out split that keeps a corpus's val for choosing, and the recipe recorded and reloaded."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from hatespeech.config import DataRecipe, TrainConfig
from hatespeech.corpora import load_hatexplain
from hatespeech.data import Example
from hatespeech.errors import DataError
from hatespeech.training.sources import SourceEpochs, holdout_split


def write_hatexplain(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    """Rows of (post_id, platform, split, label, text) in the upstream-derived CSV layout."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["post_id", "platform", "split", "label", "text"])
        writer.writerows(rows)
    return path


def test_hatexplain_keeps_its_split_and_platform_and_offensive_is_a_choice(tmp_path: Path) -> None:
    labels = ("hatespeech", "normal", "offensive")
    rows = [(f"{i}_gab", "gab", ("train", "val", "test")[i % 3], labels[i // 3 % 3], f"post {i} 🔪") for i in range(30)]
    path = write_hatexplain(tmp_path / "hatexplain.csv", rows)
    train = load_hatexplain(path)
    assert {e.split for e in train.examples} == {"train"} and {e.platform for e in train.examples} == {"gab"}
    assert train.report.skipped_labels == {"offensive": 3} and len(train) == 7
    both = load_hatexplain(path, ("train", "val", "test"))
    assert both.report.skipped_labels == {"offensive": 9} and len(both) == 21
    assert {e.label for e in both.examples} == {0, 1} and all(e.group.startswith("hatexplain:") for e in both.examples)
    as_nohate = load_hatexplain(path, ("train", "val", "test"), "noHate")
    assert len(as_nohate) == 30 and sum(e.label for e in as_nohate.examples) == 12
    with pytest.raises(DataError, match="splits are train, val, test"):
        load_hatexplain(path, ("dev",))
    (tmp_path / "other.csv").write_text("text,label\nhello,hate\n")
    with pytest.raises(DataError, match="is not HateXplain's CSV"):
        load_hatexplain(tmp_path / "other.csv")


def _mix() -> list[Example]:
    examples = [Example(f"s{i}", f"forum {i}", int(i < 20), f"user:{i % 15}", source="stormfront") for i in range(100)]
    for platform, hate, normal in (("gab", 60, 20), ("twitter", 10, 90)):
        examples += [
            Example(f"{platform}{i}", f"{platform} {i}", int(i < hate), f"post:{platform}{i}", source="hatexplain",
                    platform=platform, split="val" if i % 10 == 0 else "train")
            for i in range(hate + normal)
        ]  # fmt: skip
    examples += [
        Example(f"f{i}", f"frame {i}", i % 2, f"frame:{i // 4}", contrast=True, source="frames") for i in range(8)
    ]
    examples += [Example("r1", "reviewed", 1, source="feedback")]
    return examples


def test_an_epoch_follows_the_shares_half_hate_per_platform_and_uses_every_text_before_repeating() -> None:
    examples = [e for e in _mix() if e.split != "val"]
    shares = {"stormfront": 0.5, "hatexplain": 0.4, "frames": 0.1, "davidson": 0.3}  # no davidson: its share goes
    epochs = SourceEpochs(examples, random.Random(0), shares, 100)
    first = epochs.next_epoch()
    by = Counter((e.source, e.platform, e.label) for e in first)
    assert len(first) == len(epochs) == 1 + sum(epochs.draws.values())
    assert by[("feedback", "", 1)] == 1  # no share: in every epoch, whole
    assert by[("stormfront", "", 1)] == by[("stormfront", "", 0)] == 25  # 0.5 of 100 (davidson absent), halved
    for platform in ("gab", "twitter"):
        assert by[("hatexplain", platform, 1)] == by[("hatexplain", platform, 0)] > 0
    assert by[("hatexplain", "gab", 1)] > by[("hatexplain", "twitter", 1)]  # gab holds more balanced texts
    assert epochs.class_weights() is None
    hate = [e for e in examples if e.source == "stormfront" and e.label == 1]
    seen = [e for e in first + epochs.next_epoch() if e in hate]
    assert set(seen) == set(hate)  # 20 texts, 50 draws in two epochs: all used before any third use
    assert max(Counter(seen).values()) - min(Counter(seen).values()) <= 1


def test_a_small_mix_gives_one_balanced_pass_not_thousands_of_repeats() -> None:
    examples = [e for e in _mix() if e.source == "stormfront"]
    assert len(SourceEpochs(examples, random.Random(0), {"stormfront": 1.0}, 12000)) == 40


def test_holdout_keeps_a_corpus_val_for_choosing_and_never_splits_an_author() -> None:
    examples = _mix()
    train, validation = holdout_split(examples, 0.2, seed=3)
    assert {e.id for e in train}.isdisjoint(e.id for e in validation) and len(train) + len(validation) == len(examples)
    assert {e for e in validation if e.source == "hatexplain"} == {e for e in examples if e.split == "val"}
    groups = {e.group for e in train if e.source == "stormfront"}
    assert groups.isdisjoint(e.group for e in validation if e.source == "stormfront")
    assert 0 < sum(e.source == "stormfront" for e in validation) < 40


def test_shares_are_a_flag_and_an_old_model_dir_reads_as_the_recipe_it_was(tmp_path: Path) -> None:
    recipe = DataRecipe(shares="stormfront=0.6, hatexplain=0.4")  # type: ignore[arg-type]
    assert recipe.shares == {"stormfront": 0.6, "hatexplain": 0.4}
    with pytest.raises(ValueError, match="shares: sources among"):
        DataRecipe(shares={"reddit": 1.0})
    old = TrainConfig().model_dump(mode="json")
    for name in ("normalization", "epoch_texts"):
        del old[name]
    for name in ("corpora", "shares", "offensive"):
        del old["data"][name]
    (tmp_path / "training_args.json").write_text(json.dumps(old))
    loaded = TrainConfig.load(tmp_path)
    assert (loaded.normalization, loaded.epoch_texts, loaded.data.corpora, loaded.data.shares) == ("none", None, [], {})
