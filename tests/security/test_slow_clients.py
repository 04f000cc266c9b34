"""Slow clients (issue 28, item 4): a real server on loopback, attacked with real sockets (bounded in count and
time): headers that never finish and bodies that never arrive are cut off with a 408, connections beyond the limit
get a 503 at once, and /health keeps answering throughout."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.live_server import RunningServer

LIMITS = {"HATESPEECH_HEADER_TIMEOUT_S": "1", "HATESPEECH_BODY_TIMEOUT_S": "1", "HATESPEECH_MAX_CONNECTIONS": "40"}


@pytest.fixture(scope="module")
def guarded(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(tiny_model, LIMITS, tmp_path_factory.mktemp("slow") / "server.log")
    server.wait_ready()
    yield server
    server.stop()


def connect(server: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.settimeout(5)
    return sock


def answer(sock: socket.socket) -> bytes:
    """What the server sent before closing (b"" when it closed without a word)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def health_ms(server: RunningServer) -> float:
    started = time.perf_counter()
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    return (time.perf_counter() - started) * 1000


def test_headers_that_never_finish_are_cut_off_while_health_answers(guarded: RunningServer) -> None:
    sockets = [connect(guarded) for _ in range(30)]
    try:
        for sock in sockets:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        started = time.monotonic()
        while time.monotonic() - started < 0.8:  # trickle one more header byte now and then, as slowloris does
            for sock in sockets:
                sock.sendall(b"X")
            assert health_ms(guarded) < 1000
            time.sleep(0.1)
        answers = [answer(sock) for sock in sockets]
        assert time.monotonic() - started < 5
        assert all(a.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in a for a in answers), answers[:2]
    finally:
        for sock in sockets:
            sock.close()
    assert health_ms(guarded) < 1000


def test_a_connection_that_sends_nothing_is_closed_after_the_deadline(guarded: RunningServer) -> None:
    with connect(guarded) as sock:
        started = time.monotonic()
        assert answer(sock).startswith(b"HTTP/1.1 408")
        assert 0.8 < time.monotonic() - started < 3


def test_a_body_that_never_arrives_is_a_408(guarded: RunningServer) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"text\": ")  # fmt: skip
        started = time.monotonic()
        reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in reply
        assert time.monotonic() - started < 3
    assert health_ms(guarded) < 1000


def test_connections_beyond_the_limit_get_a_503_at_once(guarded: RunningServer) -> None:
    sockets = [connect(guarded) for _ in range(50)]  # the limit is 40
    try:
        time.sleep(0.3)
        refused = 0
        for sock in sockets:
            sock.setblocking(False)
            try:
                if sock.recv(65536).startswith(b"HTTP/1.1 503"):
                    refused += 1
            except BlockingIOError:
                pass
        assert 10 <= refused <= 11  # those over the limit (one more while a health check's socket is open)
    finally:
        for sock in sockets:
            sock.close()
    time.sleep(0.2)
    assert health_ms(guarded) < 1000  # the closed ones free their places
