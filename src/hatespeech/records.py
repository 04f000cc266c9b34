"""Texts to classify, read from a file one record at a time (``predict --input`` and Ray Data batch scoring).

``.txt``: a text per line; ``.csv``: a ``text`` column; ``.jsonl``: a ``text`` key; ``.parquet``: a ``text``
column. A malformed record comes with its error and no text; it is never dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from hatespeech.errors import InputError


def read_records(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """Yield (line or row number, text, error) for each record of a texts file, streaming.

    ``.txt``: a text per line; ``.csv``: a ``text`` column; ``.jsonl``: a ``text`` key; ``.parquet``: a ``text``
    column (row numbers from 1). A malformed record comes with its error and no text; it is never dropped.
    """
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _read_parquet_records(path)
        return
    try:
        with path.open(encoding="utf-8", newline="" if suffix == ".csv" else None) as handle:
            if suffix == ".csv":
                reader = csv.DictReader(handle)
                if reader.fieldnames is None or "text" not in reader.fieldnames:
                    raise InputError(f"{path} needs a header row with a 'text' column")
                for row in reader:
                    text = row.get("text")
                    yield reader.line_num, text, None if text and text.strip() else "empty text"
            elif suffix in (".jsonl", ".ndjson"):
                for number, line in enumerate(handle, start=1):
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield number, None, f"invalid JSON ({exc.msg})"
                        continue
                    text = record.get("text") if isinstance(record, dict) else None
                    if not isinstance(text, str) or not text.strip():
                        yield number, None, "no non-empty string 'text' field"
                    else:
                        yield number, text, None
            else:
                for number, line in enumerate(handle, start=1):
                    text = line.rstrip("\r\n")
                    yield number, text, None if text.strip() else "empty line"
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def _read_parquet_records(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow comes with the pinned requirements
        raise InputError("reading .parquet needs pyarrow: pip install pyarrow") from exc
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path} as Parquet: {exc}") from exc
    if "text" not in parquet.schema_arrow.names:
        raise InputError(f"{path} has no 'text' column")
    number = 0
    for batch in parquet.iter_batches(columns=["text"], batch_size=4096):
        for text in batch.column(0).to_pylist():
            number += 1
            valid = isinstance(text, str) and text.strip()
            yield number, text if valid else None, None if valid else "no non-empty string 'text'"
