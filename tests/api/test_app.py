"""App lifecycle: readiness before/after load, load failures, engine choice, no torch on the serving path."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pytest

from hatespeech.api import create_app
from hatespeech.api.lifecycle import load_engine
from hatespeech.engines.base import BaseEngine, Encoded, Prediction
from hatespeech.settings import Settings

from api.live_server import RunningServer, free_port, serve_in_thread
from waiting import wait_until


class GatedEngine(BaseEngine):
    """The tiny model's tokenizer with a forward pass that waits for a gate (a slow model load)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.gate = threading.Event()

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.gate.wait(10)
        return [Prediction("noHate", 0.25, False) for _ in texts]

    def forward(self, batch: object) -> object:  # type: ignore[override]
        raise AssertionError("not used")


def test_ready_is_503_until_the_model_has_warmed_up(tiny_model: Path) -> None:
    engine = GatedEngine(tiny_model)
    with serve_in_thread(create_app(Settings(model_dir=tiny_model), engine=engine)) as url:
        assert httpx.get(f"{url}/health").status_code == 200
        response = httpx.get(f"{url}/ready")
        assert response.status_code == 503 and response.headers["retry-after"]
        assert response.json()["error_type"] == "not_ready"
        assert httpx.post(f"{url}/predict", json={"text": "hi"}).status_code == 503
        engine.gate.set()
        deadline = time.monotonic() + 5
        while httpx.get(f"{url}/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert httpx.get(f"{url}/ready").status_code == 200


class StuckEngine(BaseEngine):
    """Warms up at once; then every forward pass waits for the gate: a queue that does not drain."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.gate = threading.Event()
        self.entered = threading.Event()  # set once a request's forward pass has started (and is stuck)
        self.warm = False

    def forward(self, batch: Encoded) -> np.ndarray:
        if self.warm:
            self.entered.set()
            self.gate.wait(60)
        self.warm = True
        return np.zeros((len(batch.input_ids), 2), dtype=np.float32)


def test_a_full_queue_refuses_before_the_body_is_read_and_keeps_the_connection(tiny_model: Path) -> None:
    engine = StuckEngine(tiny_model)
    settings = Settings(model_dir=tiny_model, max_queue=4, max_batch_size=1, max_wait_ms=0)
    with serve_in_thread(create_app(settings, engine=engine)) as url, ThreadPoolExecutor(5) as pool:
        wait_until(lambda: httpx.get(f"{url}/ready").status_code == 200, what="ready")
        # One text in the stuck forward pass (sent first, so that it has left the queue), four waiting: full.
        post = partial(httpx.post, f"{url}/predict", timeout=90)
        queued = [pool.submit(post, json={"text": "t0"})]
        wait_until(engine.entered.is_set, what="the first text in the forward pass")
        queued += [pool.submit(post, json={"text": f"t{i}"}) for i in range(1, 5)]
        wait_until(lambda: "hatespeech_queue_depth 4.0" in httpx.get(f"{url}/metrics").text, what="a full queue")
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            body = b'{"text": "never sent before the answer"}'
            raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body))  # fmt: skip
            answer = raw.recv(65536).decode()  # before any byte of the body: the server did not wait for it
            assert answer.startswith("HTTP/1.1 503") and "retry-after: 1" in answer.lower()
            assert '"error_type":"overloaded"' in answer.replace(" ", "")
            raw.sendall(body + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection goes on
            assert raw.recv(65536).decode().startswith("HTTP/1.1 200")
        assert 'hatespeech_errors_total{error_type="overloaded"} 1.0' in httpx.get(f"{url}/metrics").text
        engine.gate.set()
        assert [f.result().status_code for f in queued] == [200] * 5


def test_a_model_that_fails_to_load_keeps_ready_at_503_with_the_reason(tmp_path: Path) -> None:
    with serve_in_thread(create_app(Settings(model_dir=tmp_path / "missing"))) as url:
        time.sleep(0.3)
        assert httpx.get(f"{url}/health").status_code == 200
        response = httpx.get(f"{url}/ready")
        assert response.status_code == 503 and "does not exist" in response.json()["error"]


def test_int8_is_used_only_within_the_accuracy_budget(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    assert load_engine(Settings(model_dir=copy, engine="onnx")).name == "onnx-int8"  # tiny model: equal accuracy
    assert load_engine(Settings(model_dir=copy, engine="onnx", quantized="no")).name == "onnx-fp32"
    report = json.loads((copy / "export.json").read_text())
    report["int8"]["accuracy"] = report["fp32"]["accuracy"] - 0.05
    (copy / "export.json").write_text(json.dumps(report))
    from hatespeech.artifact import write_manifest

    write_manifest(copy)
    assert load_engine(Settings(model_dir=copy, engine="onnx")).name == "onnx-fp32"
    assert load_engine(Settings(model_dir=copy, engine="onnx", max_int8_accuracy_drop=0.1)).name == "onnx-int8"


def test_serving_path_never_imports_torch(tiny_model: Path) -> None:
    code = f"""
import sys, asyncio, httpx
from hatespeech.api import create_app
from hatespeech.settings import Settings
from hatespeech.cli import app
app_ = create_app(Settings(model_dir={str(tiny_model)!r}))
async def main():
    async with app_.router.lifespan_context(app_):
        for _ in range(200):
            if app_.state.service.ready: break
            await asyncio.sleep(0.02)
        transport = httpx.ASGITransport(app=app_)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/predict", json={{"text": "hello"}})
            assert r.status_code == 200, r.text
asyncio.run(main())
bad = [m for m in ("torch", "transformers", "sklearn") if m in sys.modules]
print(bad)
sys.exit(1 if bad else 0)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_settings_reject_bad_combinations(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="HATESPEECH_MAX_BATCH_TOKENS"):
        Settings(max_batch_size=512, max_batch_tokens=256)
    monkeypatch.setenv("HATESPEECH_MAX_BATCH_SIZE", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_serve_refuses_a_missing_model_dir_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hatespeech", "serve", "--model", str(tmp_path / "none"), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_uvicorn_app_entry_point_serves(tiny_model: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port)],
        cwd=repo,
        env={**__import__("os").environ, "HATESPEECH_MODEL_DIR": str(tiny_model)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RunningServer.__new__(RunningServer)
    server.process, server.url, server._log = process, f"http://127.0.0.1:{port}", subprocess.DEVNULL
    try:
        server.wait_ready()
        assert httpx.post(f"{server.url}/predict", json={"text": "hello"}).status_code == 200
    finally:
        server.stop()  # plain uvicorn re-raises SIGTERM after draining: exit status -15 is expected here


def test_metrics_label_every_route_of_the_app_and_nothing_else(tiny_model: Path, tmp_path: Path) -> None:
    """The routes are read from the app itself: /redoc and a static file are routes, a made-up path is not."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(model_dir=tiny_model, state_dir=tmp_path))) as http:
        for path in ("/redoc", "/static/app.js", "/feedback", "/no-such-page"):
            http.get(path)
        metrics = http.get("/metrics").text
    assert 'route="/redoc"' in metrics and 'route="/static/app.js"' in metrics
    assert 'route="/feedback"' in metrics  # a protected route refused without a key is still that route
    assert 'route="unmatched"' in metrics and "no-such-page" not in metrics
