"""The one reader of a model dir's files: names, fallbacks and errors written once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hatespeech.artifact import MANIFEST_FILE
from hatespeech.config import DataRecipe
from hatespeech.errors import ModelError
from hatespeech.model_dir import EXPORT_FILE, ModelDir


def write(directory: Path, name: str, content: object) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(content if isinstance(content, str) else json.dumps(content))


def test_a_trained_model_dir_reads_whole(tiny_model: Path) -> None:
    files = ModelDir(tiny_model)
    assert files.labels == ("noHate", "hate")
    assert len(files.fingerprint) == 64 and files.base_model
    assert {"validation", "test"} <= files.metrics.keys()
    assert files.score_prior == 0.5  # class-balanced epochs
    assert files.training_args().data == DataRecipe(natural=False, contrast=False, counterfactual=False)
    assert files.read(MANIFEST_FILE)["files"] and files.read(EXPORT_FILE)


def test_older_dirs_fall_back_as_documented(tmp_path: Path) -> None:
    write(tmp_path, "config.json", {"_name_or_path": "bert-base"})
    write(tmp_path, "data.json", {"per_label": {"hate": 1, "noHate": 3}})
    files = ModelDir(tmp_path)
    assert files.labels == ("noHate", "hate") and files.base_model == "bert-base"
    assert files.score_prior == 0.25 and files.fingerprint == "" and files.metrics == {}


def test_damaged_files_are_one_clear_error_unless_lenient(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a model directory"):
        _ = ModelDir(tmp_path).config
    write(tmp_path, "config.json", "{not json")
    with pytest.raises(ModelError, match=r"cannot read .*config\.json"):
        _ = ModelDir(tmp_path).config
    assert ModelDir(tmp_path, lenient=True).config == {}  # listing versions goes on past a damaged one
    write(tmp_path, "config.json", {"id2label": {"0": "noHate", "2": "hate"}})
    with pytest.raises(ModelError, match="not numbered"):
        _ = ModelDir(tmp_path).labels
    write(tmp_path, "metrics.json", "[1, 2]")
    with pytest.raises(ModelError, match="not hold a JSON object"):
        _ = ModelDir(tmp_path).metrics
