"""Probes that survive floods (issue 40, item 2): a real server on loopback with a management port, its public port
filled with slow-header connections (bounded in count and time); the management port answers /health, /ready and
/metrics throughout, and one client address cannot take every connection."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hatespeech.api.management import STALL_S, management_app
from hatespeech.api.service import ModelService
from hatespeech.settings import Settings

from api.live_server import RunningServer, free_port

CLIENT_KEY = "flood-client-key-123456"


@pytest.fixture(scope="module")
def flooded(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    port = free_port()
    env = {"HATESPEECH_MAX_CONNECTIONS": "30", "HATESPEECH_MAX_CONNECTIONS_PER_ADDRESS": "20",
           "HATESPEECH_HEADER_TIMEOUT_S": "20", "HATESPEECH_MANAGEMENT_PORT": str(port),
           "HATESPEECH_API_KEYS": CLIENT_KEY}  # fmt: skip
    server = RunningServer(tiny_model, env, tmp_path_factory.mktemp("flood") / "server.log")
    server.wait_ready()
    yield server, f"http://127.0.0.1:{port}"
    server.stop()


def slow(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A connection that sends the first bytes of a request's headers, and no more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    return sock


def refused(sock: socket.socket) -> bool:
    """Whether the server answered this connection with a 503 (asked without waiting: call after a pause)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536).startswith(b"HTTP/1.1 503")
    except BlockingIOError:
        return False


def test_the_management_port_answers_while_the_public_port_is_full(flooded: tuple[RunningServer, str]) -> None:
    server, management = flooded
    sockets = [slow(server.port, f"127.0.0.{2 + i % 3}") for i in range(40)]  # 3 addresses; the limit is 30
    try:
        time.sleep(0.3)
        assert sum(refused(s) for s in sockets) >= 10  # the public port is full
        for _ in range(5):
            started = time.perf_counter()
            assert httpx.get(f"{management}/health", timeout=2).json() == {"status": "ok"}
            assert httpx.get(f"{management}/ready", timeout=2).status_code == 200
            metrics = httpx.get(f"{management}/metrics", timeout=2)  # open here; the public one needs a key
            assert metrics.status_code == 200 and "hatespeech_" in metrics.text
            assert time.perf_counter() - started < 1.0
    finally:
        for sock in sockets:
            sock.close()
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.post(f"{management}/predict", json={"text": "x"}).status_code in (404, 405)  # probes only


def test_one_address_cannot_take_every_connection(flooded: tuple[RunningServer, str]) -> None:
    server, _ = flooded
    sockets = [slow(server.port) for _ in range(25)]  # 20 per address
    try:
        time.sleep(0.3)
        assert sum(refused(s) for s in sockets) == 5
        other = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=("127.0.0.9", 0))
        other.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert other.recv(65536).startswith(b"HTTP/1.1 200")  # another address still gets in
        other.close()
    finally:
        for sock in sockets:
            sock.close()


def test_liveness_fails_when_the_public_event_loop_stalls() -> None:
    from fastapi.testclient import TestClient

    service = ModelService(settings=Settings())
    with TestClient(management_app(service)) as client:
        assert client.get("/health").status_code == 200
        service.heartbeat -= STALL_S + 1  # as if the public loop had not run for that long
        stalled = client.get("/health")
        assert stalled.status_code == 500 and "event loop has not run" in stalled.json()["error"]
        assert client.get("/ready").status_code == 503  # no model loaded in this service
