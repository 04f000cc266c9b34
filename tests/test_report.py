"""`hatespeech evaluate --report`: the HTML page, its plots and the most confident errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from hatespeech.cli import app
from hatespeech.data import load_split
from hatespeech.report import PLOTS, Scored, confident_errors, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_evaluate_writes_the_report_with_every_plot(tiny_model: Path, small_data: Path, tmp_path: Path) -> None:
    rows = [(e.text, "hate" if e.label else "noHate") for e in load_split(small_data, "sampled_test").examples]
    table = tmp_path / "eval.csv"
    with table.open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["evaluate", "-m", str(tiny_model), "--data", str(table), "--report", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"src='{name}'" in page
    assert "Content warning" in page and "Most confident errors" in page
    assert ("<script>" not in page and "&lt;script&gt;" in page) or "alert(1)" not in page  # texts are escaped
    assert f"{len(rows)} texts" in page


def test_confident_errors_are_the_surest_mistakes_first() -> None:
    scored = Scored(
        texts=["a", "b", "c", "d", "e"],
        labels=np.array([0, 0, 1, 1, 0]),
        scores=np.array([0.9, 0.6, 0.1, 0.4, 0.2]),
        threshold=0.5,
    )
    errors = confident_errors(scored, 5)
    false_positives, false_negatives = errors.values()
    assert [text for _, text in false_positives] == ["a", "b"]
    assert [text for _, text in false_negatives] == ["c", "d"]


def test_texts_in_the_report_are_escaped(tmp_path: Path) -> None:
    scored = Scored(["<script>alert(1)</script>", "fine"], np.array([0, 1]), np.array([0.95, 0.9]), 0.5)
    page = write_report(tmp_path, scored, "t", "m").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
