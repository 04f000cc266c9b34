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

DAVIDSON_COLUMNS = frozenset({"count", "hate_speech", "offensive_language", "neither", "class", "tweet"})
DAVIDSON_LABELS = {"0": 1, "2": 0}  # hate speech -> hate, neither -> noHate
DEV_SHARE = 5  # one row in five is the dev part
SHARED_DAVIDSON = Path("../shared/data/davidson-2017/labeled_data.csv")

_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+")
_RETWEET = re.compile(r"^(?:[!\s\"]*RT\s+@user:?\s*)+")
Part = Literal["train", "dev", "all"]


def is_davidson(path: Path) -> bool:
    """Whether ``path`` is a CSV file with Davidson et al.'s columns."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    return set(header) >= DAVIDSON_COLUMNS


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

    ``offensive`` (``hate`` or ``noHate``) labels class 1; by default it is skipped and counted.
    """
    if not is_davidson(path):
        columns = ", ".join(sorted(DAVIDSON_COLUMNS))
        raise DataError(f"{path} is not Davidson et al.'s labeled_data.csv (columns: {columns})")
    labels = dict(DAVIDSON_LABELS)
    if offensive is not None:
        if offensive not in LABELS:
            raise DataError(f"offensive must be one of {', '.join(LABELS)}, got {offensive!r}")
        labels["1"] = LABELS.index(offensive)
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
            examples.append(Example(f"davidson-{row_id}", text, label, f"davidson:{row_id}"))
    report.loaded = len(examples)
    return Dataset(examples, report)
