"""Paths and verification (issue 28, items 5 and 6): a version id or manifest entry that points outside the store
or the output folder is refused with one line and nothing deleted or written; a file that the manifest does not
list is never loaded (by the CLI, a starting server, or a reload)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hatespeech import artifact, versions

from api.live_server import RunningServer
from model_versions import new_version

ADMIN = "admin-secret-paths-1"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hatespeech", *args], capture_output=True, text=True, timeout=120)


def snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("version", ["..", ".", "../..", "/", "../current", ".current.versions/.."])
def test_models_remove_refuses_anything_but_a_stored_version(model_copy: Path, version: str) -> None:
    new_version(model_copy, 0.4)  # two versions: the older one could be removed
    models = model_copy.parent
    before = snapshot(models)
    result = cli("models", "remove", version, "--model", str(model_copy.resolve().parent.parent / "current"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert snapshot(models) == before  # nothing deleted
    artifact.verify(model_copy)


def test_models_remove_still_removes_an_old_version(model_copy: Path) -> None:
    first = versions.version_id(model_copy)
    new_version(model_copy, 0.4)
    result = cli("models", "remove", first, "--model", str(model_copy.absolute()))
    assert result.returncode == 0, result.stderr
    assert not (artifact.versions_dir(model_copy) / first).exists()


def test_a_manifest_entry_outside_the_model_dir_is_refused_and_pack_writes_nothing(
    model_copy: Path, tmp_path: Path
) -> None:
    source = tmp_path / "tampered"
    shutil.copytree(model_copy.resolve(), source)
    (tmp_path / "outside.txt").write_text("not part of any model")
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["files"]["../outside.txt"] = {"sha256": artifact.sha256_of(tmp_path / "outside.txt"), "bytes": 21}
    (source / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "packs" / "serving"
    result = cli("pack", str(out), "--model", str(source))
    assert result.returncode != 0 and "outside" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "packs").exists() or snapshot(tmp_path / "packs") == []
    assert (tmp_path / "outside.txt").read_text() == "not part of any model"


def test_a_file_the_manifest_does_not_list_is_never_loaded(model_copy: Path, tmp_path: Path) -> None:
    served = versions.version_id(model_copy)
    server = RunningServer(model_copy, {"HATESPEECH_ADMIN_KEYS": ADMIN}, tmp_path / "server.log")
    server.wait_ready()
    try:
        # A new version published without an int8 graph, which then has one (and its export.json) slipped in.
        original = model_copy.resolve()

        def fp32_only(staged: Path) -> None:
            (staged / "model.int8.onnx").unlink()
            (staged / "export.json").unlink()

        directory = artifact.revise(model_copy, fp32_only)
        assert "model.int8.onnx" not in artifact.verify(directory)["files"]
        for name in ("model.int8.onnx", "export.json"):
            shutil.copy(original / name, directory / name)
        reload = httpx.post(f"{server.url}/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        assert reload.status_code == 409 and "does not list" in reload.json()["error"]
        assert httpx.post(f"{server.url}/predict", json={"text": "x"}).headers["x-model-version"] == served
    finally:
        server.stop()
    fresh = RunningServer(model_copy, {}, tmp_path / "fresh.log")  # the same dir at start: `serve` refuses it
    try:
        with pytest.raises(RuntimeError, match="server exited"):
            fresh.wait_ready(timeout=60)
    finally:
        assert fresh.stop() != 0
    assert "does not list" in (tmp_path / "fresh.log").read_text()
    result = cli("predict", "--model", str(model_copy), "hello")
    assert result.returncode != 0 and "does not list" in result.stderr and "Traceback" not in result.stderr
