"""Public corpora in their upstream format: Davidson et al. 2017's labels, its held-out dev fifth, --extra-data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hatespeech.corpora import clean_tweet, in_dev_part, is_davidson, load_davidson
from hatespeech.errors import DataError
from hatespeech.training.data_mix import load_extra

HEADER = ["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"]


def write_davidson(path: Path, rows: list[tuple[int, int, str]]) -> Path:
    """Rows of (id, class, tweet) in the upstream CSV layout (quoted, multi-line tweets allowed)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for row_id, label, tweet in rows:
            votes = [3 if label == k else 0 for k in range(3)]
            writer.writerow([row_id, 3, *votes, label, tweet])
    return path


def test_classes_map_to_hate_and_nohate_and_the_offensive_class_is_skipped_and_counted(tmp_path: Path) -> None:
    rows = [(i, i % 3, f"tweet number {i} &amp; more\nsecond line @someone http://t.co/x") for i in range(60)]
    path = write_davidson(tmp_path / "labeled_data.csv", rows)
    assert is_davidson(path) and not is_davidson(tmp_path / "missing.csv")
    everything = load_davidson(path, "all")
    assert len(everything) == 40 and everything.report.skipped_labels == {"offensive (class 1)": 20}
    by_id = {e.id: e for e in everything.examples}
    assert by_id["davidson-0"].label == 1 and by_id["davidson-2"].label == 0
    assert by_id["davidson-0"].text == "tweet number 0 & more second line @user http"
    train, dev = load_davidson(path, "train"), load_davidson(path, "dev")
    assert {e.id for e in train.examples}.isdisjoint(e.id for e in dev.examples)
    assert len(train) + len(dev) == len(everything) and 0 < len(dev) < len(train)
    assert all(in_dev_part(e.id.removeprefix("davidson-")) for e in dev.examples)
    assert [e.id for e in load_extra(path).examples] == [e.id for e in train.examples]  # --extra-data: train part
    assert len(load_davidson(path, "all", offensive="noHate")) == 60
    with pytest.raises(DataError, match="offensive must be"):
        load_davidson(path, "all", offensive="rude")
    (tmp_path / "other.csv").write_text("text,label\nhello,noHate\n")
    with pytest.raises(DataError, match="not Davidson"):
        load_davidson(tmp_path / "other.csv")


def test_retweet_markers_entities_and_links_are_cleaned() -> None:
    assert clean_tweet("!!! RT @mayasolovely: As a woman &amp; you http://x.co/1") == "As a woman & you http"
    assert clean_tweet("  plain   text ") == "plain text"


def test_the_shared_copy_has_the_documented_classes_and_a_stable_dev_fifth(shared_data: Path) -> None:
    shared = shared_data.parent / "davidson-2017" / "labeled_data.csv"
    if not shared.is_file():
        if (Path(__file__).resolve().parents[2] / "shared" / "data").is_dir():  # ../shared is there: it must hold it
            pytest.fail(f"the shared Davidson et al. copy is missing at {shared}")
        pytest.skip(f"no Davidson et al. copy beside the dataset ({shared}): an optional corpus")
    everything = load_davidson(shared, "all")
    assert sum(everything.labels) == 1430 and len(everything) - sum(everything.labels) == 4163
    assert everything.report.skipped_labels == {"offensive (class 1)": 19190}
    dev = load_davidson(shared, "dev")
    assert 0.17 < len(dev) / len(everything) < 0.23 and 200 < sum(dev.labels) < 360
