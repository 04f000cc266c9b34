"""Rate limits (issue 28, item 3): each key has its own budget, requests without a key share one per address;
past it a 429 with Retry-After, and the health routes still answer. A real server on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.live_server import RunningServer

ONE, TWO = "client-secret-rate-1", "client-secret-rate-2"


def test_each_key_has_its_own_budget_and_a_429_says_when_to_retry(tiny_model: Path, tmp_path: Path) -> None:
    env = {"HATESPEECH_API_KEYS": f"one:{ONE},two:{TWO}", "HATESPEECH_RATE_LIMIT": "5/2second"}
    server = RunningServer(tiny_model, env, tmp_path / "server.log")
    server.wait_ready()
    try:

        def predict(secret: str) -> httpx.Response:
            return httpx.post(
                f"{server.url}/predict", json={"text": "hi"}, headers={"Authorization": f"Bearer {secret}"}
            )

        assert [predict(ONE).status_code for _ in range(5)] == [200] * 5
        refused = predict(ONE)
        assert refused.status_code == 429 and refused.json()["error_type"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 2 and "one" in refused.json()["error"]
        assert predict(TWO).status_code == 200  # another key: its own budget
        assert httpx.get(f"{server.url}/health").status_code == 200  # the public routes are never limited
        assert httpx.get(f"{server.url}/ready").status_code == 200
        time.sleep(int(refused.headers["retry-after"]) + 0.2)
        assert predict(ONE).status_code == 200  # after Retry-After it may go on
        assert 'hatespeech_errors_total{error_type="rate_limited"} 1.0' in httpx.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {TWO}"}).text  # fmt: skip
    finally:
        server.stop()


def test_anonymous_requests_share_a_budget_per_address(tiny_model: Path, tmp_path: Path) -> None:
    server = RunningServer(tiny_model, {"HATESPEECH_ANONYMOUS_RATE_LIMIT": "3/minute"}, tmp_path / "server.log")
    server.wait_ready()
    try:
        codes = [httpx.post(f"{server.url}/predict", json={"text": f"t{i}"}).status_code for i in range(4)]
        assert codes == [200, 200, 200, 429]
    finally:
        server.stop()


def test_a_malformed_rate_stops_the_start_with_one_line(tiny_model: Path) -> None:
    import os

    result = subprocess.run([sys.executable, "-m", "hatespeech", "serve", "--model", str(tiny_model), "--port", "1"],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "HATESPEECH_RATE_LIMIT": "fast please"})  # fmt: skip
    assert result.returncode != 0 and "HATESPEECH_RATE_LIMIT" in result.stderr and "Traceback" not in result.stderr
