"""A real `hatespeech serve` process on loopback, for the API tests and their fixtures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

import cleanup

SHARED_ADMIN_KEY = "shared-admin-key-7e2b"  # the admin key of the `server` fixture (tests/api/conftest.py)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningServer:
    """A `hatespeech serve` process and its base URL."""

    def __init__(
        self,
        model: Path,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        extra_args: list[str] | None = None,
        ray_logs: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.ray_logs = ray_logs  # with --runtime ray, the access log is in the replicas' Ray worker logs
        self.engine = "ray" if ray_logs is not None else "local"
        self._log = log.open("wb") if log else subprocess.DEVNULL
        command = [sys.executable, "-m", "hatespeech", "serve", "--model", str(model), "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, *(extra_args or [])],
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        cleanup.track(self.process.pid)  # ends with the test run, also one stopped part-way

    def log_text(self) -> str:
        """Everything the server logged: its own output, plus the replicas' logs when it runs on Ray."""
        text = self.log_path.read_text(errors="replace") if self.log_path else ""
        if self.ray_logs is not None:
            for path in sorted(self.ray_logs.glob("session_latest/logs/worker-*.err")):
                text += path.read_text(errors="replace")
        return text

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError("server not ready")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(90)  # Ray Serve waits for its controller to be gone before exiting
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self._log, "close"):
            self._log.close()
        return self.process.returncode


@contextmanager
def serving(model: Path, log: Path, **settings: str) -> Iterator[RunningServer]:
    """A ready `hatespeech serve` with these settings (``admin_keys="..."`` -> HATESPEECH_ADMIN_KEYS), stopped after."""
    server = RunningServer(model, {f"HATESPEECH_{k.upper()}": v for k, v in settings.items()}, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@contextmanager
def serve_in_thread(app: object) -> Iterator[str]:
    """A real uvicorn server on loopback, in a thread of this process (for injected engines)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
