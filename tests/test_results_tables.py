"""The results tables of the README and docs/ are what benchmarks/results/*.json give (benchmarks/tables.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tables

REPO = Path(__file__).resolve().parent.parent


def test_no_results_table_differs_from_its_json() -> None:
    assert tables.stale() == [], "a results table was edited by hand or its JSON changed: run `make results`"


def test_the_readme_results_are_generated() -> None:
    names = [match["name"] for match in tables.BLOCK.finditer((REPO / "README.md").read_text())]
    assert {"accuracy", "weaknesses", "serving"} <= set(names)  # the per-category table is in docs/evaluation.md
    assert all(name in tables.RENDERERS for path in tables.DOCUMENTS for name in
               (m["name"] for m in tables.BLOCK.finditer(path.read_text())))  # fmt: skip


def test_every_results_file_says_where_it_came_from() -> None:
    for path in sorted(tables.RESULTS.glob("*.json")):
        record = json.loads(path.read_text())
        assert {"benchmark", "command", "commit", "date", "machine", "figures"} <= record.keys(), path.name
        assert {"cores", "cpu", "bf16"} <= record["machine"].keys(), path.name


def test_a_figure_edited_by_hand_is_caught(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copyfile(REPO / "README.md", readme)
    text = readme.read_text()
    block = next(m for m in tables.BLOCK.finditer(text) if m["name"] == "serving")
    digit = next(i for i in range(block.start("body"), block.end("body")) if text[i].isdigit())
    readme.write_text(text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1 :])
    with pytest.raises(AssertionError):
        assert tables.stale([readme]) == []
    assert [item.split(": ")[1] for item in tables.stale([readme])] == ["serving"]
