"""The Docker image, as far as this machine can test it without a Docker engine: the Dockerfile's shape, the
serving requirements, and the runtime stage's own commands run in a clean virtualenv built the same way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import venv
from pathlib import Path

import httpx
import pytest

from api.live_server import free_port

REPO = Path(__file__).resolve().parents[1]


def stages() -> dict[str, list[str]]:
    """The Dockerfile's instructions per stage (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    result: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            current = line.split(" AS ")[-1].strip()
            result[current] = []
        elif current:
            result[current].append(line)
    return result


def runtime_env() -> dict[str, str]:
    """ENV of the runtime image: its own and its base stage's."""
    env: dict[str, str] = {}
    for line in stages()["serve-base"] + stages()["runtime"]:
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def pins(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.lower().replace("_", "-").split("==") for line in lines if "==" in line)


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    found = stages()
    assert list(found) == ["trainer", "serve-base", "ray", "runtime"]  # the last stage is the default image
    assert "FROM ${PYTHON_IMAGE} AS serve-base" in (REPO / "Dockerfile").read_text()
    assert "FROM serve-base AS runtime" in (REPO / "Dockerfile").read_text()
    runtime = found["runtime"]
    base = found["serve-base"]
    assert any(line.startswith("USER ") and line.split()[1] not in ("root", "0") for line in runtime)
    assert any(line.startswith("HEALTHCHECK ") and "/health" in line for line in runtime)
    assert "EXPOSE 8000" in runtime
    assert any(line.startswith("COPY --from=trainer /model ") for line in base)
    assert runtime_env()["HATESPEECH_HOST"] == "0.0.0.0"
    assert not any("requirements.txt" in line for line in base + runtime)  # the serving image never has torch
    assert "pip install --no-cache-dir -r /tmp/requirements-serve.txt" in " ".join(base)


def test_serving_requirements_have_no_torch_and_the_same_pins() -> None:
    serve, full = pins(REPO / "requirements-serve.txt"), pins(REPO / "requirements.txt")
    assert not {"torch", "transformers", "onnx", "matplotlib"} & set(serve)
    assert {"onnxruntime", "fastapi", "uvicorn", "tokenizers"} <= set(serve)
    assert {name: version for name, version in serve.items() if full.get(name) != version} == {}


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtualenv built with the runtime stage's commands: serving requirements, then the package."""
    root = tmp_path_factory.mktemp("image")
    package = root / "package"
    package.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, package / name)
    shutil.copytree(REPO / "src", package / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = root / "venv"
    venv.create(target, with_pip=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REPO / "requirements-serve.txt")], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", str(package)], check=True, timeout=300, cwd=root)
    return target


@pytest.mark.slow
def test_image_entrypoint_serves_from_the_serving_virtualenv(serve_venv: Path, tiny_model: Path) -> None:
    python = serve_venv / "bin" / "python"
    probe = (
        "import importlib.util as u, json; print(json.dumps([m for m in ('torch', 'transformers') if u.find_spec(m)]))"
    )
    assert (
        json.loads(subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout) == []
    )
    runtime = stages()["runtime"]
    command = json.loads(next(line for line in runtime if line.startswith("CMD "))[4:])
    health = json.loads(next(line for line in runtime if line.startswith("HEALTHCHECK ")).split(" CMD ", 1)[1])
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HATESPEECH_")},
        **runtime_env(),
        "PATH": f"{serve_venv / 'bin'}:{os.environ['PATH']}",
        "VIRTUAL_ENV": str(serve_venv),
        "HATESPEECH_MODEL_DIR": str(tiny_model),  # /app/model in the image
        "HATESPEECH_HOST": "127.0.0.1",
        "HATESPEECH_PORT": str(port),
    }
    env.pop("PYTHONPATH", None)
    server = subprocess.Popen(command, env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            time.sleep(0.1)
        answer = httpx.post(f"{url}/predict", json={"text": "they should all be sent back"}, timeout=10).json()
        assert answer["label"] in ("hate", "noHate")
        assert subprocess.run(health, env=env, timeout=10).returncode == 0  # the HEALTHCHECK command
        assert "/predict" in httpx.get(f"{url}/openapi.json").text
    finally:
        server.terminate()
        server.wait(30)
