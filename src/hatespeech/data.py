"""Datasets: the upstream Stormfront layout, the user's own CSV/JSONL, label normalisation and splits.

Upstream layout (de Gibert et al., 2018)::

    DATA_DIR/annotations_metadata.csv      file_id,user_id,subforum_id,num_contexts,label
    DATA_DIR/sampled_train/<file_id>.txt   one sentence per file
    DATA_DIR/sampled_test/<file_id>.txt
    DATA_DIR/all_files/<file_id>.txt       (full upstream copy only)

Problems with single rows (unknown labels, missing or empty files) are counted in a :class:`LoadReport`
and never fatal; a dataset that cannot train anything (one class, too few rows) raises :class:`DataError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hatespeech.config import ToolEnvironment
from hatespeech.errors import DataError

LABELS: tuple[str, str] = ("noHate", "hate")
"""Class names by id: 0 = noHate, 1 = hate. The order is part of the model format."""

ANNOTATIONS_FILE = "annotations_metadata.csv"
SPLITS = ("sampled_train", "sampled_test", "all_files")
DEFAULT_LOCAL_DIR = Path("data/hate-speech-dataset")
SHARED_DIR = Path("../shared/data/hate-speech-dataset")
GROUP_COLUMNS = ("group", "user_id", "user", "author")
"""Columns of a CSV/JSONL file that name the author: rows of one author stay in one validation fold."""

# Upstream archive pinned to a commit, so the download is the same bytes every time.
UPSTREAM_COMMIT = "695298949c747a9175711a69cbdbfdc869ceb0fa"
UPSTREAM_URL = f"https://github.com/Vicomtech/hate-speech-dataset/archive/{UPSTREAM_COMMIT}.zip"

_LABEL_ALIASES = {
    "hate": 1,
    "1": 1,
    "true": 1,
    "hateful": 1,
    "nohate": 0,
    "no_hate": 0,
    "no-hate": 0,
    "not_hate": 0,
    "not hate": 0,
    "0": 0,
    "false": 0,
}


def normalise_label(value: object) -> int | None:
    """Map a raw label (``hate``, ``noHate``, ``1``, ``0``, booleans...) to a class id, or None if unknown."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str):
        return _LABEL_ALIASES.get(value.strip().lower())
    return None


@dataclass(frozen=True)
class Example:
    """One labelled text. ``label`` is a class id (1 = hate).

    ``group`` names the author (``user:ID``) or post (``post:ID``): texts of one group are never split across
    validation folds. ``natural`` marks ordinary traffic from outside the balanced sample (``all_files``);
    ``contrast`` a sentence the project generated (the contrast set's frames, group-swapped variants): trained on
    in every epoch, and left out of the figures about the forum's own text. ``source`` and ``platform`` say where
    the text comes from (the data mix draws each epoch by them); ``split`` a public corpus's own split.
    """

    id: str
    text: str
    label: int
    group: str = ""
    natural: bool = False
    contrast: bool = False
    source: str = ""  # the data mix's source (hatespeech.config.SOURCES); "" until the mix names it
    platform: str = ""  # where a public corpus's post was written (twitter, gab): balanced apart in the mix
    split: str = ""  # a public corpus's own split: "val" texts only validate (they choose, never train)


@dataclass
class LoadReport:
    """What a loader read and what it skipped, with reasons."""

    source: str
    loaded: int = 0
    skipped_labels: Counter[str] = field(default_factory=Counter)
    not_in_annotations: int = 0
    missing_files: int = 0
    empty: int = 0
    unreadable: int = 0
    malformed_rows: int = 0
    duplicates: int = 0
    in_test_split: int = 0

    @property
    def skipped(self) -> int:
        """Total rows or files not loaded."""
        return (
            sum(self.skipped_labels.values())
            + self.not_in_annotations
            + self.missing_files
            + self.empty
            + self.unreadable
            + self.malformed_rows
            + self.duplicates
            + self.in_test_split
        )

    def summary(self) -> str:
        """One human-readable line, e.g. for the CLI."""
        parts = [f"{self.loaded} examples from {self.source}"]
        if self.skipped_labels:
            labels = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped_labels.items()))
            parts.append(f"skipped labels ({labels})")
        names = ("not_in_annotations", "missing_files", "empty", "unreadable", "malformed_rows", "duplicates")
        for name in (*names, "in_test_split"):
            count = getattr(self, name)
            if count:
                parts.append(f"{name.replace('_', ' ')}: {count}")
        return "; ".join(parts)


@dataclass
class Dataset:
    """Examples plus the report of how they were loaded."""

    examples: list[Example]
    report: LoadReport

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def labels(self) -> list[int]:
        return [e.label for e in self.examples]

    def __len__(self) -> int:
        return len(self.examples)


def resolve_data_dir(explicit: str | Path | None = None, *, download: bool = True) -> Path:
    """Find the dataset: ``explicit``, else ``HATESPEECH_DATA_DIR``, else ``./data/...``, else ``../shared/...``.

    When nothing exists and no explicit path was given, download the pinned upstream archive into ``./data``.
    An explicit path that does not exist is an error (a typo should not trigger a download).
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.exists():
            raise DataError(f"data path {path} does not exist")
        return path
    configured = ToolEnvironment().data_dir
    if configured is not None:
        if not configured.exists():
            raise DataError(f"HATESPEECH_DATA_DIR={configured} does not exist")
        return configured
    for candidate in (DEFAULT_LOCAL_DIR, SHARED_DIR):
        if (candidate / ANNOTATIONS_FILE).is_file():
            return candidate
    if not download:
        raise DataError(f"no dataset found in {DEFAULT_LOCAL_DIR} or {SHARED_DIR}")
    return download_dataset(DEFAULT_LOCAL_DIR)


def download_dataset(dest: Path, url: str = UPSTREAM_URL, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download and unpack the upstream dataset into ``dest`` (atomically), checking sha256 when given.

    ``sha256`` defaults to ``HATESPEECH_DATASET_SHA256``. GitHub archives of a pinned commit hold the same
    files; the unpacked tree is also checked for the annotations file and both sampled splits.
    """
    expected = sha256 or ToolEnvironment().dataset_sha256
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DataError(
            f"no dataset found locally and downloading {url} failed ({exc}); pass --data DIR or set HATESPEECH_DATA_DIR"
        ) from exc
    digest = hashlib.sha256(payload).hexdigest()
    if expected and digest != expected:
        raise DataError(f"downloaded archive sha256 {digest} does not match expected {expected}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            archive.extractall(tmp)
        roots = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(roots) != 1 or not (roots[0] / ANNOTATIONS_FILE).is_file():
            raise DataError(f"archive from {url} does not have the upstream layout")
        for split in ("sampled_train", "sampled_test"):
            if not (roots[0] / split).is_dir():
                raise DataError(f"archive from {url} has no {split}/ folder")
        if dest.exists():
            shutil.rmtree(dest)
        roots[0].rename(dest)
    return dest


def read_annotations(data_dir: Path) -> dict[str, str]:
    """Map ``file_id`` to its raw label from ``annotations_metadata.csv``."""
    return {file_id: row["label"] for file_id, row in read_annotation_rows(data_dir).items()}


def read_annotation_rows(data_dir: Path) -> dict[str, dict[str, str]]:
    """Map ``file_id`` to its whole row of ``annotations_metadata.csv`` (label, user_id, ...)."""
    path = data_dir / ANNOTATIONS_FILE
    if not path.is_file():
        raise DataError(f"{path} not found: is {data_dir} the dataset folder?")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file_id", "label"} <= set(reader.fieldnames):
            raise DataError(f"{path} must have 'file_id' and 'label' columns")
        return {row["file_id"]: row for row in reader if row.get("file_id")}


def author_group(file_id: str, row: dict[str, str]) -> str:
    """The fold group of an upstream sentence: its author, else its post (the file id before ``_``)."""
    user = (row.get("user_id") or "").strip()
    return f"user:{user}" if user else f"post:{file_id.split('_')[0]}"


def load_split(data_dir: Path, split: str, ids: Iterable[str] | None = None, *, natural: bool = False) -> Dataset:
    """Load one split folder of the upstream layout, labels from the annotations CSV.

    ``ids`` restricts the files read (for ``all_files`` with an id list); by default every ``.txt`` in the
    folder is read, in sorted order. ``natural`` marks the examples as ordinary traffic.
    """
    folder = data_dir / split
    if not folder.is_dir():
        raise DataError(f"split folder {folder} not found (splits: {', '.join(SPLITS)})")
    annotations = read_annotation_rows(data_dir)
    report = LoadReport(source=str(folder))
    file_ids = sorted(ids) if ids is not None else sorted(p.stem for p in folder.glob("*.txt"))
    examples: list[Example] = []
    for file_id in file_ids:
        row = annotations.get(file_id)
        if row is None:
            report.not_in_annotations += 1
            continue
        raw_label = row["label"]
        label = normalise_label(raw_label)
        if label is None:
            report.skipped_labels[raw_label] += 1
            continue
        path = folder / f"{file_id}.txt"
        if not path.is_file():
            report.missing_files += 1
            continue
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            report.unreadable += 1
            continue
        if not text:
            report.empty += 1
            continue
        examples.append(Example(file_id, text, label, author_group(file_id, row), natural))
    report.loaded = len(examples)
    return Dataset(examples, report)


def load_table(path: Path) -> Dataset:
    """Load the user's own data: CSV or JSONL with ``text`` and ``label`` columns (extra columns ignored)."""
    if not path.is_file():
        raise DataError(f"data file {path} not found")
    report = LoadReport(source=str(path))
    examples: list[Example] = []
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            rows = _read_csv_rows(path)
        elif suffix in (".jsonl", ".ndjson"):
            rows = _read_jsonl_rows(path, report)
        else:
            raise DataError(f"unsupported data file {path}: use .csv or .jsonl, or a dataset folder")
        for number, row in rows:
            text, raw_label = row.get("text"), row.get("label")
            if not isinstance(text, str):
                report.malformed_rows += 1
                continue
            label = normalise_label(raw_label)
            if label is None:
                report.skipped_labels[str(raw_label)] += 1
                continue
            if not text.strip():
                report.empty += 1
                continue
            row_id = str(row.get("id", number))
            group = next((str(row[k]) for k in GROUP_COLUMNS if row.get(k) not in (None, "")), f"row:{row_id}")
            examples.append(Example(row_id, text.strip(), label, group))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason})") from exc
    report.loaded = len(examples)
    return Dataset(examples, report)


def _read_csv_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise DataError(f"{path} must have a header with 'text' and 'label' columns")
        return [(i, dict(row)) for i, row in enumerate(reader, start=2)]


def _read_jsonl_rows(path: Path, report: LoadReport) -> list[tuple[int, dict[str, object]]]:
    rows: list[tuple[int, dict[str, object]]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                report.malformed_rows += 1
                continue
            if not isinstance(row, dict):
                report.malformed_rows += 1
                continue
            rows.append((number, row))
    return rows


def load_dataset(path: Path, split: str = "sampled_train", ids: Iterable[str] | None = None) -> Dataset:
    """Load a split of the upstream layout (``path`` is a folder) or a CSV/JSONL file."""
    if path.is_dir():
        return load_split(path, split, ids)
    return load_table(path)


def check_trainable(dataset: Dataset, min_per_class: int = 4) -> None:
    """Refuse data that cannot train a classifier: one class, or too few rows per class."""
    counts = Counter(dataset.labels)
    if len(counts) < 2:
        present = ", ".join(LABELS[c] for c in counts) or "none"
        raise DataError(f"{dataset.report.source}: need both classes (hate, noHate), found only: {present}")
    rarest = min(counts.values())
    if rarest < min_per_class:
        raise DataError(
            f"{dataset.report.source}: too few examples ({rarest}) of one class; need at least "
            f"{min_per_class} per class"
        )


def fingerprint(examples: Iterable[Example]) -> str:
    """sha256 over texts and labels, in order: identifies the exact training data of a model."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(example.text.encode("utf-8"))
        digest.update(b"\x1f" + str(example.label).encode() + b"\x1e")
    return digest.hexdigest()
