"""`hatespeech pack`: the serving copy of a model dir that goes into the Docker image (no PyTorch weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hatespeech import artifact
from hatespeech.api.lifecycle import load_engine
from hatespeech.cli import app
from hatespeech.engines.onnx_runtime import OnnxEngine
from hatespeech.engines.registry import use_int8
from hatespeech.errors import ModelError
from hatespeech.settings import Settings

runner = CliRunner()


def pack(model: Path, out: Path, *options: str) -> str:
    result = runner.invoke(app, ["pack", str(out), "-m", str(model), *options])
    assert result.exit_code == 0, result.output
    return result.output


def cli_error(*args: str) -> str:
    """Run the real entry point, expect a failure, return its stderr as one line (rich wraps long lines)."""
    result = subprocess.run([sys.executable, "-m", "hatespeech", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    return " ".join(result.stderr.split())


def test_served_copy_keeps_only_the_graph_the_server_picks(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "serving"
    output = pack(tiny_model, out)
    picked = artifact.ONNX_INT8 if use_int8(tiny_model, "auto", 0.01) else artifact.ONNX_FP32
    other = artifact.ONNX_FP32 if picked == artifact.ONNX_INT8 else artifact.ONNX_INT8
    assert (out / picked).is_file() and not (out / other).exists() and not (out / "model.safetensors").exists()
    assert "left out" in output and "model.safetensors" in output
    manifest = artifact.verify(out)  # a complete model dir in its own right
    converted = [name for name in artifact.verify(tiny_model)["files"] if name.startswith(f"{artifact.CT2_DIR}/")]
    assert converted  # the CTranslate2 folder, which the image cannot run
    assert (out / artifact.OV_INT8).is_file()  # OpenVINO's int8 graph, which it can (24 MB for the default model)
    assert manifest["packed"]["left_out"] == sorted([other, artifact.TORCH_WEIGHTS, *converted])
    source_manifest = artifact.sha256_of(tiny_model / "manifest.json")
    assert manifest["packed"]["source_manifest_sha256"] == source_manifest
    opened = load_engine(Settings(model_dir=out, engine="onnx"))  # quantized=auto: the graph that is there
    assert opened.name == ("onnx-int8" if picked == artifact.ONNX_INT8 else "onnx-fp32")
    engine, full_engine = opened.engine, load_engine(Settings(model_dir=tiny_model, engine="onnx")).engine
    texts = ["a first text", "and another one"]
    assert [p.score for p in engine.predict(texts)] == pytest.approx([p.score for p in full_engine.predict(texts)])


def test_the_left_out_graph_and_weights_are_refused_with_one_clear_line(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "serving"
    pack(tiny_model, out)
    quantized = not (out / artifact.ONNX_INT8).is_file()  # ask for the graph that was left out
    with pytest.raises(ModelError, match=r"was left out of the serving copy .* --graphs all"):
        OnnxEngine(out, quantized=quantized)
    assert "has no model.safetensors: a serving copy (`hatespeech pack`) leaves it out" in cli_error(
        "export", "-m", str(out)
    )
    assert "leaves it out" in cli_error("predict", "hello", "-m", str(out), "--engine", "torch")


def test_all_keeps_both_graphs(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "serving"
    pack(tiny_model, out, "--graphs", "all")
    assert (out / artifact.ONNX_FP32).is_file() and (out / artifact.ONNX_INT8).is_file()
    assert json.loads((out / "manifest.json").read_text())["packed"]["left_out"] == [artifact.TORCH_WEIGHTS]


@pytest.mark.parametrize(
    ("setup", "options", "message"),
    [
        ("nonempty", [], "already exists and is not empty"),
        ("no-graphs", [], "run `hatespeech export"),
        ("none", ["--graphs", "some"], "unknown --graphs 'some'"),
    ],
)
def test_bad_pack_requests_fail_with_one_line(
    model_copy: Path, tmp_path: Path, setup: str, options: list[str], message: str
) -> None:
    out = tmp_path / "serving"
    if setup == "nonempty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    if setup == "no-graphs":
        source = model_copy.resolve()
        for graph in (artifact.ONNX_FP32, artifact.ONNX_INT8):
            (source / graph).unlink()
        artifact.write_manifest(source)
    assert message in cli_error("pack", str(out), "-m", str(model_copy), *options)
    if setup == "nonempty":
        assert (out / "keep.txt").read_text() == "mine"


def test_published_model_dirs_are_readable_by_other_users(model_copy: Path) -> None:
    # A container runs as uid 10001: a mounted models/current must be readable by it (mkdtemp made it 0700).
    umask = os.umask(0)
    os.umask(umask)
    version = model_copy.resolve()
    assert version.stat().st_mode & 0o777 == 0o777 & ~umask
    modes = {(path.is_dir(), path.stat().st_mode & 0o777) for path in version.rglob("*")}
    assert modes == {(False, 0o666 & ~umask), (True, 0o777 & ~umask)}  # files, and folders (ctranslate2/)


def test_a_model_dir_without_weights_is_incomplete(model_copy: Path) -> None:
    source = model_copy.resolve()
    for name in artifact.WEIGHT_FILES:
        (source / name).unlink()
    artifact.write_manifest(source)
    with pytest.raises(ModelError, match="lists no weights"):
        artifact.verify(model_copy)
