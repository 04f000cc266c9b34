"""Model dir integrity: the manifest catches corruption; a killed training run leaves the old model intact."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hatespeech import artifact
from hatespeech.errors import ModelError


@pytest.fixture
def model_copy(tiny_model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    return copy


def test_intact_model_dir_verifies(model_copy: Path) -> None:
    manifest = artifact.verify(model_copy)
    assert "model.onnx" in manifest["files"]


def test_flipped_byte_is_detected(model_copy: Path) -> None:
    path = model_copy / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its sha256"):
        artifact.verify(model_copy)


def test_truncated_file_is_detected(model_copy: Path) -> None:
    path = model_copy / "model.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="truncated"):
        artifact.verify(model_copy)


def test_a_model_is_hashed_once_per_process_until_a_file_changes(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact.verify(model_copy)
    opened: list[str] = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self.name) or real_open(self, *a, **k))
    artifact.verify(model_copy)  # serve checks the model, then the app loads it: the weights are hashed once
    assert opened == ["manifest.json"]
    config = model_copy / "config.json"
    text = config.read_text()
    config.write_text(text.replace('"', "'", 1))  # same size, new content: the memo must not hide it
    with pytest.raises(ModelError, match=r"config\.json does not match its sha256"):
        artifact.verify(model_copy)
    assert set(opened) == {"manifest.json", "config.json"}  # the weights were not read again


def test_missing_file_is_detected(model_copy: Path) -> None:
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"tokenizer\.json is missing"):
        artifact.verify(model_copy)


def test_missing_manifest_is_detected(model_copy: Path) -> None:
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match=r"no manifest\.json"):
        artifact.verify(model_copy)


@pytest.mark.parametrize("command", [["predict", "hello"], ["evaluate"], ["serve", "--port", "1"]])
def test_commands_refuse_a_corrupted_dir_with_one_line(model_copy: Path, command: list[str]) -> None:
    (model_copy / "config.json").write_text("{}")
    result = subprocess.run(
        [sys.executable, "-m", "hatespeech", command[0], "--model", str(model_copy), *command[1:]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "corrupted" in result.stderr and "Traceback" not in result.stderr


def default_sigint() -> None:
    """In the child: SIGINT as a terminal's Ctrl+C finds it. A process that starts with SIGINT ignored keeps
    it ignored, and after the Ray and browser tests the test process's own disposition cannot be trusted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("sig", "kill_when_staging"),
    [(signal.SIGINT, False), (signal.SIGKILL, True)],  # Ctrl-C mid-training; a hard kill while publishing
)
def test_killed_training_leaves_the_previous_model_intact(
    tiny_model: Path, tiny_base: Path, small_data: Path, tmp_path: Path, sig: signal.Signals, kill_when_staging: bool
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    current = models / "current"
    shutil.copytree(tiny_model.resolve(), models / "seed-version")
    current.symlink_to("seed-version")
    before = artifact.verify(current)
    # Kill mid-training (once it has started: signals during imports may be swallowed by a dependency's bare
    # `except`), or while the new model dir is being written.
    versions = models / ".current.versions"
    log = tmp_path / f"train-{kill_when_staging}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hatespeech", "train", "--data", str(small_data), "--out", str(current),
             "--base-model", str(tiny_base), "--epochs", "3", "--batch-size", "4", "--device", "cpu",
             "--folds", "0", "--soup-runs", "1", "--no-contrast", "--no-counterfactual"],  # to the staging dir soon
            stdout=output, stderr=subprocess.STDOUT, preexec_fn=default_sigint,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if kill_when_staging and any(versions.glob(".staging-*/config.json")):
            break
        if not kill_when_staging and "train:" in log.read_text(errors="replace"):
            time.sleep(0.5)  # the data is loaded and imports are done: now inside training
            break
        time.sleep(0.01)
    assert process.poll() is None, "training finished before it could be killed"
    assert time.monotonic() < deadline, "the moment to kill never came"
    os.kill(process.pid, sig)
    process.wait(60)
    assert process.returncode != 0
    assert artifact.verify(current) == before  # the previous model, complete and matching its manifest
    assert current.resolve() == (models / "seed-version").resolve()
