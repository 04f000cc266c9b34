"""Each extra installs what its entry points import (issue 40, item 3): ``.[train]`` and ``.[serve]`` into fresh
virtual environments, pinned by requirements.txt, then their commands run for real. ``make test-extras`` (CI runs
it after ``make test``); ``deptry`` in ``make lint`` checks the declarations statically."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import httpx
import pytest

from api.live_server import free_port
from waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.extras


def fresh(folder: Path, extra: str) -> Path:
    """A virtual environment with only ``.[extra]`` (and what it needs) installed, at requirements.txt's pins; its
    bin folder."""
    venv.create(folder, with_pip=True)
    pins = folder / "constraints.txt"  # requirements.txt's pins, without its `-e .` (not a constraint)
    lines = (REPO / "requirements.txt").read_text().splitlines()
    pins.write_text("\n".join(line for line in lines if "==" in line and not line.startswith(("-", "#"))) + "\n")
    bin_dir = folder / "bin"
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", pins,
         f"{REPO}[{extra}]"],
        check=True, env={**os.environ, "PIP_CONSTRAINT": ""},
    )  # fmt: skip
    return bin_dir


def run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "hatespeech"), *args], capture_output=True, text=True, timeout=300)


def test_the_train_extra_runs_training_with_a_shared_cpu(tmp_path: Path) -> None:
    bin_dir = fresh(tmp_path / "train", "train")
    done = run(bin_dir, "train", "--share-cpu", "--help")
    assert done.returncode == 0, done.stderr
    imports = "import hatespeech.training.cpu_share, hatespeech.export, hatespeech.model_card, hatespeech.cli.models"
    assert subprocess.run([bin_dir / "python", "-c", imports], check=False).returncode == 0
    missing = subprocess.run([bin_dir / "python", "-c", "import fastapi"], capture_output=True, check=False)
    assert missing.returncode != 0  # a fresh environment: nothing of serve's came along


def test_the_serve_extra_serves(tmp_path: Path, tiny_model: Path) -> None:
    bin_dir = fresh(tmp_path / "serve", "serve")
    assert subprocess.run([bin_dir / "python", "-c", "import torch"], capture_output=True, check=False).returncode
    port = free_port()
    env = {**os.environ, "HATESPEECH_ENGINE": "onnx", "HATESPEECH_STATE_DIR": str(tmp_path / "state")}
    server = subprocess.Popen([bin_dir / "hatespeech", "serve", "--model", tiny_model, "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                return httpx.get(f"{url}/ready").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=120, what="the server of the serve extra is ready")
        answer = httpx.post(f"{url}/predict", json={"text": "I really like my new neighbours."})
        assert answer.status_code == 200 and answer.json()["label"] in ("hate", "noHate")
    finally:
        server.terminate()
        server.wait(30)
