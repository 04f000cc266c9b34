"""Amplification (issue 28, item 9): a burst of forced reloads costs one model load, not one per request."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from api.live_server import RunningServer

ADMIN = "admin-secret-burst-1"


def loads(server: RunningServer) -> float:
    metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    found = re.search(r'^hatespeech_model_reloads_total\{outcome="reloaded"\} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_burst_of_forced_reloads_is_coalesced(model_copy: Path, tmp_path: Path) -> None:
    server = RunningServer(model_copy, {"HATESPEECH_ADMIN_KEYS": ADMIN}, tmp_path / "server.log")
    server.wait_ready()
    try:
        before = loads(server)

        def force_reload(_: int) -> httpx.Response:
            return httpx.post(f"{server.url}/admin/reload?force=true", headers={"Authorization": f"Bearer {ADMIN}"},
                              timeout=120)  # fmt: skip

        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(force_reload, range(40)))
        assert [a.status_code for a in answers] == [200] * 40
        assert {a.json()["status"] for a in answers} == {"reloaded"}
        done = loads(server) - before
        assert 1 <= done <= 3, f"{done} model loads for 40 reload requests"
        assert httpx.post(f"{server.url}/predict", json={"text": "still serving"}).status_code == 200
    finally:
        server.stop()
