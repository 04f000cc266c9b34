"""The moderation loop on the command line: feedback export and purge, training on feedback (a reviewed test
text is refused), and compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from hatespeech.cli import app
from hatespeech.data import load_split
from hatespeech.store import Feedback, Store
from hatespeech.training.data_mix import load_training_data

runner = CliRunner()


def database(tmp_path: Path, rows: list[tuple[str, str]]) -> str:
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = Store.open(url)
    for text, label in rows:
        store.add_feedback(text, label, reviewer="ann")
    store.close()
    return url


def test_export_writes_what_train_reads(tmp_path: Path) -> None:
    url = database(tmp_path, [("first reviewed", "hate"), ("second reviewed", "noHate")])
    output = tmp_path / "feedback.jsonl"
    result = runner.invoke(app, ["feedback", "export", "--output", str(output), "--database", url])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(r["text"], r["label"], r["reviewer"]) for r in rows] == [
        ("first reviewed", "hate", "ann"), ("second reviewed", "noHate", "ann")
    ]  # fmt: skip
    assert all(datetime.fromisoformat(r["created_at"]).tzinfo is not None for r in rows)


def test_reviewed_labels_win_and_come_from_a_file_or_the_database(tmp_path: Path, small_data: Path) -> None:
    train_text = load_split(small_data, "sampled_train").examples[0]
    flipped = "noHate" if train_text.label == 1 else "hate"
    url = database(tmp_path, [(train_text.text, flipped), ("a brand new reviewed text", "hate")])
    output = tmp_path / "feedback.jsonl"
    runner.invoke(app, ["feedback", "export", "--output", str(output), "--database", url])
    before = load_training_data(small_data, natural=False, contrast=False, counterfactual=False).report.duplicates
    for source in (url, str(output)):
        mix = load_training_data(small_data, natural=False, contrast=False, counterfactual=False, feedback=[source])
        labels = {e.text: e.label for e in mix.examples}
        assert labels[train_text.text] == (0 if flipped == "noHate" else 1)  # the reviewer's label won
        assert labels["a brand new reviewed text"] == 1
        assert mix.report.duplicates == before + 1  # the training copy of the reviewed text


def test_training_on_a_reviewed_test_text_is_refused(tmp_path: Path, small_data: Path) -> None:
    leaked = load_split(small_data, "sampled_test").texts[0]
    url = database(tmp_path, [(leaked.upper(), "hate")])  # compared as the de-duplication does
    command = [sys.executable, "-m", "hatespeech", "train", "--data", str(small_data), "--feedback", url,
               "--out", str(tmp_path / "m")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "300"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: 1 reviewed text(s) from feedback database are in the test split" in result.stderr
    assert not (tmp_path / "m").exists()


def test_purge_deletes_only_what_is_older_than_the_retention(tmp_path: Path) -> None:
    url = database(tmp_path, [("old", "hate"), ("new", "hate")])
    store = Store.open(url)
    with store.engine.begin() as connection:
        connection.execute(update(Feedback).where(Feedback.text == "old")
                           .values(created_at=datetime.now(UTC) - timedelta(days=10)))  # fmt: skip
    result = runner.invoke(app, ["feedback", "purge", "--days", "7", "--database", url])
    assert result.exit_code == 0 and "1 feedback records" in result.output
    assert [f.text for f in store.iter_feedback()] == ["new"]


def test_compare_sets_two_models_side_by_side(
    tiny_model: Path, model_copy: Path, small_data: Path, tmp_path: Path
) -> None:
    url = database(tmp_path, [("reviewed one", "hate"), ("reviewed two", "noHate")])
    args = ["compare", str(tiny_model), str(model_copy), "--data", str(small_data), "--feedback", url, "--json",
            "--engine", "onnx"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])["figures"]
    assert figures["old"] == figures["new"]  # the same weights
    assert set(figures["old"]) == {"sampled_test accuracy", "behaviour suite, mean of categories",
                                   "agreement with 2 reviewed texts"}  # fmt: skip
    table = runner.invoke(app, ["compare", str(tiny_model), str(model_copy), "--data", str(small_data)])
    assert table.exit_code == 0 and "sampled_test accuracy" in table.output and "+0.0000" in table.output
