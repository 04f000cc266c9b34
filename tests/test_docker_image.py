"""The Docker image for real: built by deploy/docker/build.sh (what `make docker` runs), started with
`docker run -d -p PORT:8000`, called with curl. `make test-docker` runs it; CI runs it after `make test`.

The model is a tiny test model, or the model dir named by HATESPEECH_DOCKER_MODEL (under models/; CI passes
the default model it has just trained). Figures (build time, image size, run to /ready) are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.live_server import free_port

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[1]
IMAGE = "hate-speech-detection-api:test"
SERVER_IMAGE = "hate-speech-detection-api:test-server"
BUILD_LOG = REPO / "test-artifacts" / "docker-build.log"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def build(model_dir: str, image: str, target: str = "runtime") -> float:
    """Run deploy/docker/build.sh; its output goes to BUILD_LOG; a failure fails with the script's last line."""
    BUILD_LOG.parent.mkdir(exist_ok=True)
    env = {**os.environ, "IMAGE": image, "TARGET": target}
    started = time.monotonic()
    with BUILD_LOG.open("a") as log:
        script = str(REPO / "deploy/docker/build.sh")
        result = subprocess.run([script, model_dir], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1500)
    if result.returncode != 0:
        lines = BUILD_LOG.read_text().strip().splitlines() or ["no output"]
        errors = [line for line in lines if line.startswith("error:")]
        pytest.fail(f"the Docker image could not be built: {(errors or lines)[-1]} (log: {BUILD_LOG})", pytrace=False)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def model_dir(request: pytest.FixtureRequest) -> Iterator[str]:
    """A model dir under models/ (the build context's only model folder), relative to the repo."""
    given = os.environ.get("HATESPEECH_DOCKER_MODEL")
    if given:
        yield given
        return
    tiny: Path = request.getfixturevalue("tiny_model")
    copy = REPO / "models" / ".docker-test"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(tiny.resolve(), copy)
    yield str(copy.relative_to(REPO))
    shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture(scope="module")
def image(model_dir: str) -> str:
    BUILD_LOG.unlink(missing_ok=True)
    seconds = build(model_dir, IMAGE)
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout)
    print(f"\n[docker] built {IMAGE} from {model_dir} in {seconds:.0f} s: image {size / 1e6:.0f} MB")
    return IMAGE


def start(image: str, *options: str) -> tuple[str, str, float]:
    """docker run -d -p PORT:8000 IMAGE; returns (container id, base URL, seconds to /ready)."""
    port = free_port()
    started = time.monotonic()
    container = docker("run", "-d", "-p", f"{port}:8000", *options, image).stdout.strip()
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() - started < 120:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return container, url, time.monotonic() - started
        except httpx.TransportError:
            pass
        state = docker("inspect", "-f", "{{.State.Status}}", container).stdout.strip()
        if state != "running":
            logs = docker("logs", container, check=False)
            pytest.fail(f"container {state}: {(logs.stdout + logs.stderr)[-2000:]}", pytrace=False)
        time.sleep(0.05)
    pytest.fail("the container was not ready within 120 s", pytrace=False)


@pytest.fixture(scope="module")
def served(image: str) -> Iterator[tuple[str, str]]:
    container, url, seconds = start(image)
    print(f"\n[docker] docker run -> /ready: {seconds:.2f} s")
    yield container, url
    docker("rm", "-f", container, check=False)


def curl_json(url: str, body: dict[str, object]) -> object:
    """POST as the README does: curl -s URL -H 'Content-Type: application/json' -d '{...}'."""
    command = ["curl", "-s", "-f", url, "-H", "Content-Type: application/json", "-d", json.dumps(body)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout)


def test_predict_single_batch_and_hugging_face_shapes(served: tuple[str, str]) -> None:
    _, url = served
    one = curl_json(f"{url}/predict", {"text": "I love my neighbours and their kids"})
    assert isinstance(one, dict) and one["label"] in ("hate", "noHate")
    assert abs(one["scores"]["hate"] + one["scores"]["noHate"] - 1) < 1e-6 and one["score"] == one["scores"]["hate"]
    batch = curl_json(f"{url}/predict", {"texts": ["first text", "second text", "third text"]})
    assert isinstance(batch, dict) and [p["label"] in ("hate", "noHate") for p in batch["predictions"]] == [True] * 3
    hf = curl_json(f"{url}/predict", {"inputs": "a sentence"})
    assert isinstance(hf, list) and {item["label"] for item in hf} == {"hate", "noHate"}
    assert hf[0]["score"] >= hf[1]["score"]
    hf_many = curl_json(f"{url}/predict", {"inputs": ["one", "two"]})
    assert isinstance(hf_many, list) and len(hf_many) == 2 and all(len(labels) == 2 for labels in hf_many)
    bad = httpx.post(f"{url}/predict", json={"txt": "typo"}, timeout=10)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/json"


def test_health_model_and_openapi(served: tuple[str, str]) -> None:
    _, url = served
    assert httpx.get(f"{url}/health", timeout=10).json() == {"status": "ok"}
    model = httpx.get(f"{url}/model", timeout=10).json()
    assert model["engine"] in ("onnx-int8", "onnx-fp32") and set(model["labels"]) == {"hate", "noHate"}
    assert "/predict" in httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    health = docker("inspect", "-f", "{{.State.Health.Status}}", served[0]).stdout.strip()
    assert health in ("starting", "healthy")  # the HEALTHCHECK runs every 30 s; its command is checked below
    probe = json.loads(docker("inspect", "-f", "{{json .Config.Healthcheck.Test}}", IMAGE).stdout)
    assert docker("exec", served[0], *probe[1:], check=False).returncode == 0


def test_runs_as_a_non_root_user_without_torch(served: tuple[str, str]) -> None:
    container, _ = served
    assert docker("exec", container, "id", "-u").stdout.strip() == "10001"
    result = docker("exec", container, "python", "-c", "import torch", check=False)
    assert result.returncode != 0 and "No module named 'torch'" in result.stderr
    assert docker("exec", container, "python", "-c", "import transformers", check=False).returncode != 0


def test_the_image_holds_a_serving_copy_and_no_build_ca(served: tuple[str, str]) -> None:
    container, _ = served
    files = docker("exec", container, "ls", "/app/model").stdout.split()
    assert "model.safetensors" not in files and "tokenizer.json" in files
    assert sum(name.endswith(".onnx") for name in files) == 1  # MODEL_GRAPHS=served: the graph the server uses
    manifest = json.loads(docker("exec", container, "cat", "/app/model/manifest.json").stdout)
    assert "model.safetensors" in manifest["packed"]["left_out"]
    # The proxy CA given to pip in the build stage is in no layer of the image and no file in it.
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE).stdout
    assert "BEGIN CERTIFICATE" not in history and "EXTRA_CA_CERTS" not in history
    assert docker("exec", container, "ls", "/etc/build-ca.pem", "/etc/pip.conf", check=False).returncode != 0


def test_serving_packages_are_complete_but_for_two_known_omissions(image: str, model_dir: str) -> None:
    build(model_dir, "hate-speech-detection-api:test-venv", target="venv")  # cached: the runtime's first stage
    result = docker(
        "run", "--rm", "hate-speech-detection-api:test-venv", "/opt/pip/bin/pip", "--python", "/opt/venv/bin/python",
        "check", check=False,
    )  # fmt: skip
    # "tokenizers 0.23.3 requires huggingface-hub, which is not installed."
    complaints = {(line.split()[0], line.split()[3].strip(",").lower()) for line in result.stdout.splitlines()}
    assert complaints == {("tokenizers", "huggingface-hub"), ("hatespeech", "scikit-learn")}, result.stdout


def wait_until_received(url: str, count: int) -> int:
    """Poll /metrics until the server holds ``count`` /predict requests (queued or answered); returns
    how many are still queued. A request the client has sent may still sit in docker-proxy, which
    uvicorn never saw: stopping then would test the proxy, not the drain."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        samples = [
            sample
            for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text)
            for sample in family.samples
        ]
        queued = int(sum(s.value for s in samples if s.name == "hatespeech_queue_depth"))
        predict = [s for s in samples if s.name == "hatespeech_requests_total" and s.labels["route"] == "/predict"]
        answered = int(sum(s.value for s in predict))
        if queued + answered >= count:
            return queued
        time.sleep(0.02)
    pytest.fail(f"the server did not receive {count} requests within 10 s", pytrace=False)


def test_docker_stop_drains_in_flight_requests_and_exits_0_when_locked_down(image: str) -> None:
    # A long batch wait keeps the requests in flight (queued) when docker stop sends SIGTERM. The container
    # runs as deploy/k8s/deployment.yaml has it: read-only root filesystem, a tmpfs /tmp, no capabilities.
    locked_down = ("--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")
    container, url, _ = start(image, *locked_down, "-e", "HATESPEECH_MAX_WAIT_MS=1000")
    try:
        with ThreadPoolExecutor(20) as pool:
            sent = [pool.submit(httpx.post, f"{url}/predict", json={"text": f"t {i}"}, timeout=30) for i in range(20)]
            waiting = wait_until_received(url, 20)
            assert waiting > 0, "every request was answered before docker stop: nothing was in flight"
            started = time.monotonic()
            docker("stop", "-t", "10", container, timeout=30)
            stopped = time.monotonic() - started
            statuses = [future.result().status_code for future in sent]
        assert statuses == [200] * 20
        assert docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout.strip() == "0"
        assert stopped < 10, f"docker stop took {stopped:.1f} s: killed at the end of the grace period"
        print(f"\n[docker] docker stop with {waiting} of 20 requests queued: all answered, exit 0 in {stopped:.2f} s")
    finally:
        docker("rm", "-f", container, check=False)


def test_server_target_serves_a_mounted_model_and_explains_a_bad_one(
    model_dir: str, image: str, tmp_path: Path
) -> None:
    build(model_dir, SERVER_IMAGE, target="server")
    mounted = (REPO / model_dir).resolve()
    container, url, _ = start(SERVER_IMAGE, "-v", f"{mounted}:/app/model:ro")
    try:
        assert httpx.get(f"{url}/model", timeout=10).json()["version"]
        assert httpx.post(f"{url}/predict", json={"text": "hello"}, timeout=10).status_code == 200
    finally:
        docker("rm", "-f", container, check=False)
    # A model dir the container's user cannot read (0700, as mkdtemp makes them): one clear line.
    private = tmp_path / "private-model"
    shutil.copytree(mounted, private)
    private.chmod(0o700)
    result = docker("run", "--rm", "-v", f"{private}:/app/model:ro", SERVER_IMAGE, timeout=60, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "permission denied for uid 10001" in " ".join(result.stderr.split()), result.stderr
    # Without a model the server exits at once with one clear line, not a traceback.
    result = docker("run", "--rm", SERVER_IMAGE, timeout=60, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: model directory /app/model does not exist" in " ".join(result.stderr.split()), result.stderr
