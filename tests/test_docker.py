"""The Docker files, checked without Docker (fast, in `make test`); tests/test_docker_image.py builds and
runs the image for real (`make test-docker`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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


def pins(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.lower().replace("_", "-").split("==") for line in lines if "==" in line)


def test_every_stage_before_the_default_image_is_needed_by_it() -> None:
    # The classic builder (Docker without buildx) builds every stage up to the target: nothing heavy
    # (PyTorch, Ray) may sit before the default image, which is the last stage.
    assert list(stages()) == ["venv", "server", "model", "runtime"]
    instructions = " ".join(line for lines in stages().values() for line in lines)
    assert not re.search(r"torch|\bray\b|requirements\.txt", instructions, flags=re.IGNORECASE)
    runtime, server = stages()["runtime"], stages()["server"]
    assert "COPY --from=model /opt/model /app/model" in runtime
    assert any(line.startswith("USER ") and line.split()[1] not in ("root", "0") for line in server)
    assert any(line.startswith("HEALTHCHECK ") and "/health" in line for line in server)


def test_the_build_ca_stays_in_the_build_stage() -> None:
    for name, lines in stages().items():
        uses_ca = any("EXTRA_CA_CERTS" in line or "build-ca.pem" in line for line in lines)
        assert uses_ca == (name == "venv"), name
    assert "COPY --from=venv /opt/venv /opt/venv" in stages()["server"]  # the venv only, not /etc


def test_serving_requirements_have_no_torch_and_the_same_pins() -> None:
    serve, full = pins(REPO / "requirements-serve.txt"), pins(REPO / "requirements.txt")
    assert not {"torch", "transformers", "onnx", "scikit-learn", "scipy", "huggingface-hub"} & set(serve)
    assert {"onnxruntime", "fastapi", "uvicorn", "tokenizers"} <= set(serve)
    assert {name: version for name, version in serve.items() if full.get(name) != version} == {}


def test_the_build_context_is_an_allowlist() -> None:
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    assert not {"!.env", "!data", "!.venv", "!tests"} & set(lines)


def test_scripts_parse() -> None:
    for script in ("deploy/docker/build.sh",):
        assert subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True).returncode == 0, script
