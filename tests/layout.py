"""Test helper: write a dataset in the upstream layout (split folders + annotations CSV)."""

from __future__ import annotations

import csv
from pathlib import Path


def write_upstream_layout(root: Path, splits: dict[str, list[tuple[str, ...]]]) -> Path:
    """Write (file_id, text, label[, user_id]) rows as the upstream layout: split folders + annotations CSV.

    Without a user id, each post (the file id before ``_``) gets its own user.
    """
    root.mkdir(parents=True, exist_ok=True)
    with (root / "annotations_metadata.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_id", "user_id", "subforum_id", "num_contexts", "label"])
        for split, rows in splits.items():
            (root / split).mkdir(exist_ok=True)
            for file_id, text, label, *user in rows:
                (root / split / f"{file_id}.txt").write_text(text, encoding="utf-8")
                writer.writerow([file_id, user[0] if user else file_id.split("_")[0], "1", "0", label])
    return root
