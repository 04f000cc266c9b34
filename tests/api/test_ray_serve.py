"""Ray Serve specifics; the rest of the API suite runs against Ray Serve through the `server` fixture."""

from __future__ import annotations

import psutil
import pytest

from api.live_server import RunningServer


def test_serve_replicas_run_on_both_nodes(server: RunningServer) -> None:
    if server.engine != "ray":
        pytest.skip("single-process server")
    raylets = set()
    for process in psutil.process_iter(["name", "cmdline"]):
        label = (process.info["name"] or "") + " ".join(process.info["cmdline"] or [])
        if "ServeReplica" in label and "HateSpeechIngress" in label:
            raylets |= {p.pid for p in process.parents() if p.name() == "raylet"}
    assert len(raylets) == 2
