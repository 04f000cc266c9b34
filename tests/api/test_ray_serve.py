"""Ray Serve specifics; the rest of the API suite runs against Ray Serve through the `server` fixture."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from hatespeech import artifact, versions

from api.live_server import SHARED_ADMIN_KEY, RunningServer
from api.swaps import Load, Timeline, settled_on, wait_for_log
from model_versions import broken_version, new_version
from ray_cluster import nodes_running


def test_serve_replicas_run_on_both_nodes(server: RunningServer) -> None:
    if server.engine != "ray":
        pytest.skip("single-process server")
    assert len(nodes_running("ServeReplica", "HateSpeechIngress")) == 2
    # One host: one HTTP proxy, on the head (a second one on the same port would answer 404 while it starts).
    assert len(nodes_running("ProxyActor")) == 1


def test_ray_serve_redeploys_under_load_with_no_failed_request(server: RunningServer, tiny_model: Path) -> None:
    """Ray Serve's mechanism: SIGHUP makes `serve --runtime ray` redeploy when the link moved, and Serve rolls
    the replicas over. A swap, a swap to a broken dir (never deployed) and a rollback, under load. It runs on
    the shared Ray server (one Serve HTTP port per cluster) and ends on the version it started with. (Each
    redeploy takes 20-30 s on 2 cores; tests/api/test_lifecycle.py swaps more often on the single process.)"""
    if server.engine != "ray":
        pytest.skip("single-process server: tests/api/test_lifecycle.py")
    first = versions.version_id(tiny_model)
    second = new_version(tiny_model, 0.3)
    broken = broken_version(tiny_model)
    redeploys = server.log_text().count("redeployed in")
    timeline = Timeline(first)

    def swap(version: str) -> None:
        nonlocal redeploys
        versions.use(tiny_model, version)
        started = time.monotonic()
        server.process.send_signal(signal.SIGHUP)
        redeploys += 1
        wait_for_log(server, "redeployed in", redeploys)
        settled_on(server, version)
        timeline.swap(version, started, time.monotonic())

    try:
        with Load(server.url, clients=16) as load:
            load.wait_for(100)
            swap(second)
            load.wait_for(100)
            refused_before = server.log_text().count("not redeployed")
            artifact.point(tiny_model, artifact.versions_dir(tiny_model) / broken)
            server.process.send_signal(signal.SIGHUP)
            wait_for_log(server, "not redeployed", refused_before + 1)
            load.wait_for(100)
            swap(first)  # the rollback, to the version the other tests use
            load.wait_for(100)
    finally:
        if tiny_model.resolve().name != first:
            versions.use(tiny_model, first)
            server.process.send_signal(signal.SIGHUP)
            settled_on(server, first)
    refused = httpx.post(f"{server.url}/admin/reload", headers={"Authorization": f"Bearer {SHARED_ADMIN_KEY}"})
    assert refused.status_code == 409 and refused.json()["error_type"] == "not_enabled"
    failed = [a for a in load.answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(load.answers)} failed, e.g. {failed[:3]}"
    misattributed = [a for a in load.answers if not timeline.allows(a)]
    assert not misattributed, f"{len(misattributed)} answers from a version not current then: {misattributed[:3]}"
    assert {a.version for a in load.answers} == {first, second}
    print(f"Ray Serve redeploys: {len(load.answers)} requests from 16 clients, 0 failed")
