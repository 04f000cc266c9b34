"""Fixtures: a real server on loopback (`python -m hatespeech serve`) serving the tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.live_server import RunningServer


@pytest.fixture(scope="session")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    # fp32, so batched and single results can be compared tightly (int8 activations are quantized per batch).
    settings = {"HATESPEECH_MAX_TEXTS": "16", "HATESPEECH_MAX_BODY_BYTES": "65536", "HATESPEECH_QUANTIZED": "no"}
    running = RunningServer(tiny_model, settings, log)
    running.wait_ready()
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        yield http
