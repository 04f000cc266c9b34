"""Hot reload on a real server under load: three swaps (one to a broken model dir) and a rollback, with
16 clients sending distinct texts all along; not one request may fail, and every answer must come from a
version that was current while it was in flight."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hatespeech import artifact, versions
from hatespeech.api import create_app
from hatespeech.config import Settings

from api.live_server import RunningServer
from model_versions import broken_version, new_version

ADMIN = "admin-key-7d1f"


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    version: str


class Load:
    """``clients`` threads posting distinct texts to /predict until stopped; every answer is kept."""

    def __init__(self, url: str, clients: int) -> None:
        self.url, self.answers, self.stopping = url, list[Answer](), threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]

    def _client(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            sent_count = 0
            while not self.stopping.is_set():
                sent_count += 1
                sent = time.monotonic()
                try:
                    response = http.post("/predict", json={"text": f"client {index} sends text number {sent_count}"})
                    answer = Answer(sent, time.monotonic(), response.status_code,
                                    response.headers.get("x-model-version", ""))  # fmt: skip
                except httpx.HTTPError as exc:
                    answer = Answer(sent, time.monotonic(), 0, type(exc).__name__)
                self.answers.append(answer)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def wait_for(self, count: int) -> None:
        """Until ``count`` more answers came in (so each swap happens under load)."""
        target = len(self.answers) + count
        deadline = time.monotonic() + 60
        while len(self.answers) < target and time.monotonic() < deadline:
            time.sleep(0.01)


class Timeline:
    """When each version may have been current: from the start of the swap to it, to the end of the next."""

    def __init__(self, first: str) -> None:
        self.spans = [[first, 0.0, float("inf")]]

    def swap(self, version: str, started: float, done: float) -> None:
        self.spans[-1][2] = done
        self.spans.append([version, started, float("inf")])

    def allows(self, answer: Answer) -> bool:
        return any(v == answer.version and s <= answer.received and answer.sent <= e for v, s, e in self.spans)


def reload_with_cli(server: RunningServer, current: Path, version: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hatespeech", "models", "use", version, "--model", str(current)]
    env = {**os.environ, "HATESPEECH_ADMIN_KEY": ADMIN}
    return subprocess.run([*command, "--reload", server.url], capture_output=True, text=True, env=env, timeout=120)


def wait_for_version(server: RunningServer, version: str) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/ready", timeout=5).json().get("version") != version:
        assert time.monotonic() < deadline, f"{version} never became current"
        time.sleep(0.02)


@pytest.fixture
def lifecycle_server(model_copy: Path, tmp_path: Path) -> Iterator[tuple[RunningServer, Path, list[str]]]:
    first = versions.version_id(model_copy)
    made = [first, new_version(model_copy, 0.3), new_version(model_copy, 0.7), broken_version(model_copy)]
    versions.use(model_copy, first)
    server = RunningServer(model_copy, {"HATESPEECH_ADMIN_KEYS": ADMIN}, tmp_path / "server.log")
    server.wait_ready()
    yield server, model_copy, made
    server.stop()


def test_three_swaps_and_a_rollback_under_load_fail_no_request(
    lifecycle_server: tuple[RunningServer, Path, list[str]],
) -> None:
    server, current, (first, second, third, broken) = lifecycle_server
    timeline = Timeline(first)
    with Load(server.url, clients=16) as load:
        load.wait_for(100)
        started = time.monotonic()  # swap 1: `models use` + POST /admin/reload (the CLI's --reload)
        done = reload_with_cli(server, current, second)
        assert done.returncode == 0, done.stderr
        timeline.swap(second, started, time.monotonic())
        load.wait_for(100)
        versions.use(current, third)  # swap 2: SIGHUP
        started = time.monotonic()
        server.process.send_signal(signal.SIGHUP)
        wait_for_version(server, third)
        timeline.swap(third, started, time.monotonic())
        load.wait_for(100)
        artifact.point(current, artifact.versions_dir(current) / broken)  # swap 3: `models use` would refuse it
        refused = httpx.post(f"{server.url}/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        assert refused.status_code == 409 and refused.json()["error_type"] == "reload_failed"
        ready = httpx.get(f"{server.url}/ready").json()
        assert ready["version"] == third and broken in ready["reload_error"]
        load.wait_for(100)
        started = time.monotonic()  # the rollback, to the version before
        done = reload_with_cli(server, current, second)
        assert done.returncode == 0, done.stderr
        timeline.swap(second, started, time.monotonic())
        load.wait_for(100)
    failed = [a for a in load.answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(load.answers)} failed, e.g. {failed[:3]}"
    misattributed = [a for a in load.answers if not timeline.allows(a)]
    assert not misattributed, f"{len(misattributed)} answers from a version not current then: {misattributed[:3]}"
    assert {a.version for a in load.answers} == {first, second, third}
    assert len(load.answers) >= 500
    counts = {v: sum(a.version == v for a in load.answers) for v in (first, second, third)}
    print(f"hot reload: {len(load.answers)} requests from 16 clients, 0 failed, by version {counts}")
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'hatespeech_model_reloads_total{outcome="reloaded"} 3.0' in metrics
    assert 'hatespeech_model_reloads_total{outcome="failed"} 1.0' in metrics
    info = [line for line in metrics.splitlines() if line.startswith("hatespeech_model_info{")]
    assert info == [f'hatespeech_model_info{{version="{second}"}} 1.0']
    log = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    assert [e["reason"] for e in log if e.get("event") == "model_reloaded"] == ["admin", "SIGHUP", "admin"]
    assert [e["reason"] for e in log if e.get("event") == "model_reload_failed"] == ["admin"]


def test_the_link_watch_reloads_by_itself(model_copy: Path, tmp_path: Path) -> None:
    first = versions.version_id(model_copy)
    second = new_version(model_copy, 0.3)
    versions.use(model_copy, first)
    server = RunningServer(model_copy, {"HATESPEECH_MODEL_WATCH_S": "0.2"}, tmp_path / "server.log")
    server.wait_ready()
    try:
        versions.use(model_copy, second)
        wait_for_version(server, second)
        assert httpx.post(f"{server.url}/predict", json={"text": "x"}).headers["x-model-version"] == second
    finally:
        server.stop()


def test_the_old_model_is_released_after_a_swap(model_copy: Path) -> None:
    settings = Settings(model_dir=model_copy, admin_keys=ADMIN, api_keys="user-key")
    first = versions.version_id(model_copy)
    with TestClient(create_app(settings)) as client:
        service = client.app.state.service  # type: ignore[attr-defined]
        while not service.ready:
            time.sleep(0.01)
        old = weakref.ref(service.live.engine)
        user = {"Authorization": "Bearer user-key"}
        assert client.post("/predict", json={"text": "x"}, headers=user).status_code == 200
        second = new_version(model_copy, 0.3)
        assert client.post("/admin/reload", headers=user).status_code == 401
        reloaded = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert (reloaded["status"], reloaded["previous"], reloaded["version"]) == ("reloaded", first, second)
        again = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert again["status"] == "unchanged"
        gc.collect()
        assert old() is None, "the previous engine is still referenced after the swap"
        assert client.get("/health").headers["x-model-version"] == second


def test_admin_routes_need_an_admin_key_once_keys_are_set(model_copy: Path) -> None:
    with TestClient(create_app(Settings(model_dir=model_copy, api_keys="user-key"))) as client:
        refused = client.post("/admin/reload", headers={"Authorization": "Bearer user-key"})
        assert refused.status_code == 403 and "HATESPEECH_ADMIN_KEYS" in refused.json()["error"]
    with TestClient(create_app(Settings(model_dir=model_copy, admin_keys=ADMIN))) as client:
        assert client.post("/admin/reload").status_code == 401
        assert client.get("/health").status_code == 200 and client.get("/model").status_code in (200, 503)


def wait_for_log(server: RunningServer, marker: str, count: int, timeout: float = 180) -> None:
    """Until the serve process has logged ``marker`` ``count`` times (its redeploy reports)."""
    deadline = time.monotonic() + timeout
    while server.log_text().count(marker) < count:
        assert time.monotonic() < deadline, f"no {count}x {marker!r} in the log: {server.log_text()[-2000:]}"
        time.sleep(0.1)


def settled_on(server: RunningServer, version: str) -> None:
    """Until 20 readiness answers in a row come from ``version`` (Ray's proxies route to the new replicas)."""
    streak, deadline = 0, time.monotonic() + 60
    while streak < 20:
        assert time.monotonic() < deadline, f"replicas of {version} never took over"
        streak = streak + 1 if httpx.get(f"{server.url}/ready", timeout=10).json().get("version") == version else 0
        time.sleep(0.02)


@pytest.mark.ray
def test_ray_serve_redeploys_under_load_with_no_failed_request(
    model_copy: Path, tmp_path: Path, ray_cluster: object
) -> None:
    """Ray Serve's mechanism: SIGHUP makes `serve --engine ray` redeploy when the link moved; Serve rolls the
    replicas over. Three swaps (the third to a broken dir, never deployed) and a rollback, under load."""
    first = versions.version_id(model_copy)
    second, third = new_version(model_copy, 0.3), new_version(model_copy, 0.7)
    broken = broken_version(model_copy)
    versions.use(model_copy, first)
    args = ["--engine", "ray", "--address", ray_cluster.address, "--replicas", "2"]  # type: ignore[attr-defined]
    server = RunningServer(model_copy, {}, tmp_path / "server.log", args, ray_logs=ray_cluster.temp)  # type: ignore[attr-defined]
    server.wait_ready(timeout=180)
    wait_for_log(server, "ready: http", 1)  # the serve process itself is done deploying
    timeline = Timeline(first)
    try:
        with Load(server.url, clients=16) as load:
            load.wait_for(100)
            for number, version in enumerate((second, third), start=1):
                versions.use(model_copy, version)
                started = time.monotonic()
                server.process.send_signal(signal.SIGHUP)
                wait_for_log(server, "redeployed in", number)
                settled_on(server, version)
                timeline.swap(version, started, time.monotonic())
                load.wait_for(100)
            artifact.point(model_copy, artifact.versions_dir(model_copy) / broken)
            server.process.send_signal(signal.SIGHUP)
            wait_for_log(server, "not redeployed", 1)
            load.wait_for(100)
            versions.use(model_copy, second)  # the rollback
            started = time.monotonic()
            server.process.send_signal(signal.SIGHUP)
            wait_for_log(server, "redeployed in", 3)
            settled_on(server, second)
            timeline.swap(second, started, time.monotonic())
            load.wait_for(100)
        refused = httpx.post(f"{server.url}/admin/reload")
        assert refused.status_code == 409 and refused.json()["error_type"] == "not_enabled"
    finally:
        server.stop()
    failed = [a for a in load.answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(load.answers)} failed, e.g. {failed[:3]}"
    misattributed = [a for a in load.answers if not timeline.allows(a)]
    assert not misattributed, f"{len(misattributed)} answers from a version not current then: {misattributed[:3]}"
    assert {a.version for a in load.answers} == {first, second, third}
    print(f"Ray Serve redeploys: {len(load.answers)} requests from 16 clients, 0 failed")
