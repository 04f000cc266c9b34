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
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hatespeech import artifact, versions
from hatespeech.api import create_app
from hatespeech.settings import Settings

from api.live_server import RunningServer
from api.swaps import Load, Timeline, wait_for_version
from model_versions import broken_version, new_version
from waiting import wait_until

ADMIN = "admin-key-7d1f"


def reload_with_cli(server: RunningServer, current: Path, version: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hatespeech", "models", "use", version, "--model", str(current)]
    env = {**os.environ, "HATESPEECH_ADMIN_KEY": ADMIN}
    return subprocess.run([*command, "--reload", server.url], capture_output=True, text=True, env=env, timeout=120)


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
        wait_until(lambda: service.ready, what="ready")
        old = weakref.ref(service.live.engine)
        user = {"Authorization": "Bearer user-key"}
        assert client.post("/predict", json={"text": "x"}, headers=user).status_code == 200
        second = new_version(model_copy, 0.3)
        assert client.post("/admin/reload", headers=user).status_code == 403  # a client key: role too low
        reloaded = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert (reloaded["status"], reloaded["previous"], reloaded["version"]) == ("reloaded", first, second)
        again = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert again["status"] == "unchanged"
        forced = client.post("/admin/reload?force=true", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert (forced["status"], forced["version"]) == ("reloaded", second)
        assert f'hatespeech_model_info{{version="{second}"}} 1.0' in client.get("/metrics", headers=user).text
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
