"""API keys (Bearer, constant-time, never logged) and CORS, against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.live_server import RunningServer

KEY_A, KEY_B = "key-alpha-0123456789", "key-beta-9876543210"


@pytest.fixture(scope="module")
def secured(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("secured")
    key_file = directory / "keys.txt"
    key_file.write_text(f"# one key per line\n{KEY_B}\n")
    env = {
        "HATESPEECH_API_KEYS": KEY_A,
        "HATESPEECH_API_KEY_FILE": str(key_file),
        "HATESPEECH_CORS_ORIGINS": "https://moderation.example",
    }
    running = RunningServer(tiny_model, env, directory / "server.log")
    running.wait_ready()
    yield running
    running.stop()


def test_health_and_ready_need_no_key(secured: RunningServer) -> None:
    assert httpx.get(f"{secured.url}/health").status_code == 200
    assert httpx.get(f"{secured.url}/ready").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY_A}, {"Authorization": f"Basic {KEY_A}"},
     {"Authorization": "Bearer"}, {"Authorization": f"Bearer {KEY_A}x"}],
)  # fmt: skip
def test_predict_without_a_valid_key_is_401(secured: RunningServer, headers: dict[str, str]) -> None:
    response = httpx.post(f"{secured.url}/predict", json={"text": "hi"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error_type"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("key", [KEY_A, KEY_B])
def test_keys_from_the_variable_and_the_file_both_work(secured: RunningServer, key: str) -> None:
    response = httpx.post(f"{secured.url}/predict", json={"text": "hi"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/model", "/metrics", "/openapi.json", "/docs"])
def test_other_routes_need_a_key(secured: RunningServer, path: str) -> None:
    assert httpx.get(f"{secured.url}{path}").status_code == 401
    assert httpx.get(f"{secured.url}{path}", headers={"Authorization": f"Bearer {KEY_A}"}).status_code == 200


def test_keys_are_never_logged(secured: RunningServer) -> None:
    httpx.post(f"{secured.url}/predict", json={"text": "hi"}, headers={"Authorization": f"Bearer {KEY_A}"})
    httpx.post(f"{secured.url}/predict", json={"text": "hi"}, headers={"Authorization": "Bearer guess-123"})
    assert secured.log_path is not None
    log = secured.log_path.read_text()
    assert KEY_A not in log and KEY_B not in log and "guess-123" not in log


def test_cors_allows_only_the_configured_origin(secured: RunningServer) -> None:
    preflight = {"Origin": "https://moderation.example", "Access-Control-Request-Method": "POST"}
    allowed = httpx.options(f"{secured.url}/predict", headers=preflight)
    assert allowed.headers.get("access-control-allow-origin") == "https://moderation.example"
    denied = httpx.options(f"{secured.url}/predict", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers


def test_cors_is_off_by_default(client: httpx.Client) -> None:
    response = client.post("/predict", json={"text": "hi"}, headers={"Origin": "https://any.example"})
    assert "access-control-allow-origin" not in response.headers
