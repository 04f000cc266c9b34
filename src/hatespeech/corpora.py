"""Public hate-speech corpora from other platforms, read in their upstream format, as optional training data and
as out-of-domain dev sets.

Davidson et al. 2017 (``labeled_data.csv``: tweets labelled 0 hate speech, 1 offensive language, 2 neither;
MIT licence). Class 0 is ``hate`` and class 2 ``noHate``; class 1 (offensive, often slurs used casually) is
neither, so it is skipped and counted unless ``offensive`` says which label to give it. A fixed fifth of the
rows (by row id, the same every time) is the out-of-domain **dev** part: :func:`load_davidson` with
``part="train"`` (what ``--extra-data`` reads) never returns it, so a model trained with the corpus can still
be measured on tweets it never saw.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from pathlib import Path
from typing import Literal

from hatespeech.data import LABELS, Dataset, Example, LoadReport
from hatespeech.errors import DataError

HATEXPLAIN_COLUMNS = frozenset({"post_id", "platform", "split", "label", "text"})
HATEXPLAIN_LABELS = {"hatespeech": 1, "normal": 0}
HATEXPLAIN_SPLITS = ("train", "val", "test")
SHARED_HATEXPLAIN = Path("../shared/data/hatexplain/hatexplain.csv")
CORPUS_FILES = {"hatexplain": Path("hatexplain/hatexplain.csv"), "davidson": Path("davidson-2017/labeled_data.csv")}
"""Where each corpus lies in a data folder (``../shared/data``): beside the Stormfront dataset."""
DAVIDSON_COLUMNS = frozenset({"count", "hate_speech", "offensive_language", "neither", "class", "tweet"})
DAVIDSON_LABELS = {"0": 1, "2": 0}  # hate speech -> hate, neither -> noHate
DEV_SHARE = 5  # one row in five is the dev part
SHARED_DAVIDSON = Path("../shared/data/davidson-2017/labeled_data.csv")

_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+")
_RETWEET = re.compile(r"^(?:[!\s\"]*RT\s+@user:?\s*)+")
Part = Literal["train", "dev", "all"]
Offensive = Literal["skip", "noHate", "hate"]


def has_columns(path: Path, columns: frozenset[str]) -> bool:
    """Whether ``path`` is a CSV file whose header holds ``columns``."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    return set(header) >= columns


def is_davidson(path: Path) -> bool:
    """Whether ``path`` is a CSV file with Davidson et al.'s columns."""
    return has_columns(path, DAVIDSON_COLUMNS)


def is_hatexplain(path: Path) -> bool:
    """Whether ``path`` is a CSV file with HateXplain's columns (``hatexplain.csv``)."""
    return has_columns(path, HATEXPLAIN_COLUMNS)


def clean_tweet(text: str) -> str:
    """HTML entities decoded, user mentions and links replaced by placeholders, a leading retweet marker
    dropped, whitespace collapsed: what is left is the text a reader sees."""
    text = _URL.sub("http", _MENTION.sub("@user", html.unescape(text)))
    return " ".join(_RETWEET.sub("", text).split())


def in_dev_part(row_id: str) -> bool:
    """The dev part: a fixed fifth of the rows, chosen by a hash of the row id."""
    return int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % DEV_SHARE == 0


def load_davidson(path: Path, part: Part = "train", offensive: str | None = None) -> Dataset:
    """Davidson et al.'s ``labeled_data.csv``: ``part`` train (four fifths), dev (the fifth held out) or all.

    ``offensive`` (``hate`` or ``noHate``) labels class 1; by default (or ``skip``) it is skipped and counted.
    """
    if not is_davidson(path):
        columns = ", ".join(sorted(DAVIDSON_COLUMNS))
        raise DataError(f"{path} is not Davidson et al.'s labeled_data.csv (columns: {columns})")
    labels = label_map(DAVIDSON_LABELS, "1", offensive)
    report = LoadReport(source=f"{path} ({part} part)")
    examples: list[Example] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            row_id = (row.get("") or "").strip()
            if not row_id or (part != "all" and in_dev_part(row_id) != (part == "dev")):
                continue
            label = labels.get((row.get("class") or "").strip())
            if label is None:
                report.skipped_labels["offensive (class 1)" if row.get("class") == "1" else str(row.get("class"))] += 1
                continue
            text = clean_tweet(row.get("tweet") or "")
            if not text:
                report.empty += 1
                continue
            examples.append(Example(f"davidson-{row_id}", text, label, f"davidson:{row_id}", source="davidson",
                                    platform="twitter", split="dev" if in_dev_part(row_id) else "train"))  # fmt: skip
    report.loaded = len(examples)
    return Dataset(examples, report)


def offensive_label(offensive: str | None) -> int | None:
    """The class id the corpora's ``offensive`` class gets (None: left out)."""
    if offensive in (None, "skip"):
        return None
    if offensive not in LABELS:
        raise DataError(f"offensive must be skip, {' or '.join(LABELS)}, got {offensive!r}")
    return LABELS.index(offensive)


def label_map(labels: dict[str, int], offensive_class: str, offensive: str | None) -> dict[str, int]:
    """A corpus's classes as ids: ``labels``, plus its offensive class when ``offensive`` names a label for it."""
    mapped = dict(labels)
    offensive_id = offensive_label(offensive)
    if offensive_id is not None:
        mapped[offensive_class] = offensive_id
    return mapped


def load_hatexplain(path: Path, splits: tuple[str, ...] = ("train",), offensive: str | None = None) -> Dataset:
    """HateXplain (Mathew et al. 2021; ``hatexplain.csv`` in upstream's columns), rows of the official ``splits``
    (``train`` trains, ``val`` chooses, ``test`` reports). ``hatespeech`` is hate and ``normal`` noHate;
    ``offensive`` is left out (counted) unless ``offensive`` names its label. Each example keeps its platform
    and split; its group is the post (HateXplain has no author ids)."""
    if not path.is_file():
        raise DataError(f"HateXplain: no file {path}")
    unknown = sorted(set(splits) - set(HATEXPLAIN_SPLITS))
    if unknown:
        raise DataError(f"HateXplain splits are {', '.join(HATEXPLAIN_SPLITS)}, got {', '.join(unknown)}")
    labels = label_map(HATEXPLAIN_LABELS, "offensive", offensive)
    report = LoadReport(source=f"{path} ({'+'.join(splits)})")
    examples: list[Example] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not set(reader.fieldnames or ()) >= HATEXPLAIN_COLUMNS:
            raise DataError(f"{path} is not HateXplain's CSV (columns: {', '.join(sorted(HATEXPLAIN_COLUMNS))})")
        for row in reader:
            split = (row["split"] or "").strip()
            if split not in splits:
                continue
            raw = (row["label"] or "").strip()
            label = labels.get(raw)
            if label is None:
                report.skipped_labels[raw or "(empty)"] += 1
                continue
            text = " ".join((row["text"] or "").split())
            if not text:
                report.empty += 1
                continue
            post = (row["post_id"] or "").strip()
            platform = (row["platform"] or "").strip() or "other"
            examples.append(
                Example(f"hatexplain-{post}", text, label, f"hatexplain:{post}", source="hatexplain",
                        platform=platform, split=split)
            )  # fmt: skip
    report.loaded = len(examples)
    return Dataset(examples, report)
