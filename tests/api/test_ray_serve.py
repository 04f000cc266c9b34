"""Ray Serve specifics; the rest of the API suite runs against Ray Serve through the `server` fixture."""

from __future__ import annotations

import pytest

from api.live_server import RunningServer
from ray_cluster import nodes_running


def test_serve_replicas_run_on_both_nodes(server: RunningServer) -> None:
    if server.engine != "ray":
        pytest.skip("single-process server")
    assert len(nodes_running("ServeReplica", "HateSpeechIngress")) == 2
