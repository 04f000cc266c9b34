"""``hatespeech models list | use | remove | promote`` on a real model store (the tiny model's)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from hatespeech import artifact, versions
from hatespeech.cli import app

from model_versions import broken_version, new_version

runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point: errors are one line and a non-zero exit."""
    return subprocess.run([sys.executable, "-m", "hatespeech", *args], capture_output=True, text=True, timeout=60)


def listed(current: Path) -> list[dict[str, object]]:
    result = runner.invoke(app, ["models", "list", "--model", str(current), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_use_and_roll_back(model_copy: Path) -> None:
    first = versions.version_id(model_copy)
    second = new_version(model_copy, 0.3)
    rows = listed(model_copy)
    assert [r["id"] for r in rows] == [first, second]
    assert [r["current"] for r in rows] == [False, True]
    assert all(r["problem"] is None and r["fingerprint"] and "test_accuracy" in r["metrics"] for r in rows)
    result = runner.invoke(app, ["models", "use", first, "--model", str(model_copy)])
    assert result.exit_code == 0, result.output
    assert model_copy.resolve().name == first and [r["current"] for r in listed(model_copy)] == [True, False]


def test_a_version_that_fails_verification_never_becomes_current(model_copy: Path) -> None:
    good = versions.version_id(model_copy)
    broken = broken_version(model_copy)
    versions.use(model_copy, good)
    assert "corrupted" in str(next(r["problem"] for r in listed(model_copy) if r["id"] == broken))
    refused = cli("models", "use", broken, "--model", str(model_copy))
    assert refused.returncode == 1 and "corrupted" in refused.stderr and "Traceback" not in refused.stderr
    assert model_copy.resolve().name == good
    unknown = cli("models", "use", "no-such-version", "--model", str(model_copy))
    assert unknown.returncode == 1 and "no version 'no-such-version'" in unknown.stderr


def test_remove_refuses_the_current_version(model_copy: Path) -> None:
    first = versions.version_id(model_copy)
    second = new_version(model_copy, 0.3)
    refused = cli("models", "remove", second, "--model", str(model_copy))
    assert refused.returncode == 1 and "current" in refused.stderr
    assert runner.invoke(app, ["models", "remove", first, "--model", str(model_copy)]).exit_code == 0
    assert [r["id"] for r in listed(model_copy)] == [second]


def test_promote_makes_the_candidate_current(model_copy: Path, tmp_path: Path) -> None:
    first = versions.version_id(model_copy)
    elsewhere = tmp_path / "trained-elsewhere" / "current"  # `train --out models/candidate` publishes its own store
    staged = artifact.staging_dir(elsewhere)
    artifact.revise(model_copy, lambda d: None)  # a second version, so the candidate is not the current one
    versions.use(model_copy, first)
    shutil.copytree(model_copy.resolve(), staged, dirs_exist_ok=True)
    candidate = artifact.publish(staged, elsewhere)
    artifact.point(model_copy.parent / "candidate", candidate)
    assert any(r["candidate"] for r in listed(model_copy))
    result = runner.invoke(app, ["models", "promote", "--model", str(model_copy)])
    assert result.exit_code == 0, result.output
    assert not (model_copy.parent / "candidate").exists()
    assert model_copy.resolve().parent == artifact.versions_dir(model_copy).resolve()  # copied into the store
    assert model_copy.resolve().name != first
    assert cli("models", "promote", "--model", str(model_copy)).returncode != 0
