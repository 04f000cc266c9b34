"""The serving image, measured: build time, image size, `docker run` to ready, and `docker stop` with
requests queued (all must be answered, exit 0, within the grace period).

Builds with ``deploy/docker/build.sh`` (what ``make docker`` runs), so it also sets up Docker and the local
base image where needed; the first build on a machine includes that. Usage::

    .venv/bin/python benchmarks/docker.py [--model models/current] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import harness
import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
IMAGE = "hate-speech-detection-api:bench"
console = Console(width=140)


def docker(*args: str, timeout: float = 120) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=True).stdout


def start(*options: str) -> tuple[str, str, float]:
    """docker run -d -p PORT:8000; returns (container, URL, seconds until /ready answers 200)."""
    port = harness.free_port()
    started = time.monotonic()
    container = docker("run", "-d", "-p", f"{port}:8000", *options, IMAGE).strip()
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() - started < 120:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return container, url, time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"the container was not ready in 120 s: docker logs {container}")


def received(url: str) -> int:
    """/predict requests the server holds: queued texts (one each here) plus those answered."""
    samples = [s for f in text_string_to_metric_families(httpx.get(f"{url}/metrics").text) for s in f.samples]
    queued = sum(s.value for s in samples if s.name == "hatespeech_queue_depth")
    answered = sum(
        s.value for s in samples if s.name == "hatespeech_requests_total" and s.labels["route"] == "/predict"
    )
    return int(queued + answered)


def stop_with_queued(count: int) -> dict[str, float]:
    """docker stop while ``count`` requests wait out a 1 s batch window; every one must get its 200."""
    container, url, _ = start(
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "-e", "HATESPEECH_MAX_WAIT_MS=1000"
    )
    try:
        with ThreadPoolExecutor(count) as pool:
            sent = [
                pool.submit(httpx.post, f"{url}/predict", json={"text": f"t {i}"}, timeout=30) for i in range(count)
            ]
            while received(url) < count:
                time.sleep(0.02)
            started = time.monotonic()
            docker("stop", "-t", "10", container, timeout=30)
            seconds = time.monotonic() - started
            ok = sum(f.result().status_code == 200 for f in sent)
        exit_code = int(docker("inspect", "-f", "{{.State.ExitCode}}", container))
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    return {"seconds": seconds, "answered": ok, "sent": count, "exit_code": exit_code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/current", help="a model dir under models/")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    env = {**os.environ, "IMAGE": IMAGE}
    subprocess.run([str(REPO / "deploy/docker/build.sh"), args.model], env=env, check=True, cwd=REPO)
    build_s = time.monotonic() - started
    size_mb = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE)) / 1e6
    ready = []
    for _ in range(args.runs):
        container, url, seconds = start()
        assert httpx.post(f"{url}/predict", json={"text": "hello"}).status_code == 200
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        ready.append(seconds)
    stops = [stop_with_queued(20) for _ in range(args.runs)]
    figures = {"model": args.model, "build_s": build_s, "image_mb": size_mb, "ready_s": ready, "stops": stops,
               "docker": docker("version", "-f", "{{.Server.Version}}").strip()}  # fmt: skip
    console.print(
        f"build {build_s:.0f} s, image {size_mb:.0f} MB, ready {statistics.median(ready):.2f} s "
        f"[{min(ready):.2f}-{max(ready):.2f}], stop {[round(s['seconds'], 2) for s in stops]}"
    )
    console.print(f"written: {harness.write('docker', figures)}")


if __name__ == "__main__":
    main()
