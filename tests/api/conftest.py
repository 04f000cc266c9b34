"""Fixtures: the API serving the tiny model, three ways.

- ``client``: the app in this process (FastAPI's TestClient: the same app, middleware and engine, no socket),
  then the same app as 2 Ray Serve replicas on a two-node Ray cluster. Most API tests take it.
- ``server``: a real `python -m hatespeech serve` process on loopback (then the Ray one), for what only a real
  server shows: its logs, signals, concurrency over sockets, the browser, real HTTP clients.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.live_server import SHARED_ADMIN_KEY, RunningServer
from waiting import wait_until

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


# The API tests' settings. ONNX Runtime fp32, so batched and single results can be compared tightly (int8
# activations are quantized per batch) and no measurement runs beside the tests (auto: tests/test_engines.py).
SETTINGS = {"HATESPEECH_MAX_TEXTS": "16", "HATESPEECH_MAX_BODY_BYTES": "65536", "HATESPEECH_QUANTIZED": "no",
            "HATESPEECH_ENGINE": "onnx", "HATESPEECH_EXPLAIN_MIN_EFFECT": "0",  # every word: the tiny model's are small
            "HATESPEECH_MAX_EXPLAIN_TEXTS": "4", "HATESPEECH_ADMIN_KEYS": SHARED_ADMIN_KEY}  # fmt: skip


@pytest.fixture(scope="session")
def ray_server(request: pytest.FixtureRequest, tiny_model: Path) -> Iterator[RunningServer]:
    """The app as 2 Ray Serve replicas on the two-node test cluster (started once, shared)."""
    cluster = request.getfixturevalue("ray_cluster")
    args = ["--runtime", "ray", "--address", cluster.address, "--replicas", "2"]
    secrets_before = set(Path(tempfile.gettempdir()).glob("hatespeech-secrets-*"))
    running = RunningServer(tiny_model, SETTINGS, cluster.temp / "serve.log", args, ray_logs=cluster.temp)
    running.wait_ready(timeout=180)
    yield running
    running.stop()
    # the admin keys went to the replicas as a private file: it goes when the server does
    assert set(Path(tempfile.gettempdir()).glob("hatespeech-secrets-*")) <= secrets_before


@pytest.fixture(scope="session", params=["local", "ray"])
def server(
    request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real server: one uvicorn process, then the Ray Serve one."""
    if request.param == "ray":
        yield request.getfixturevalue("ray_server")
        return
    running = RunningServer(tiny_model, SETTINGS, tmp_path_factory.mktemp("server") / "server.log")
    running.wait_ready()
    yield running
    running.stop()


@pytest.fixture(scope="session", params=["app", "ray"])
def client(
    request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """An HTTP client of the API: in this process (TestClient), then of the Ray Serve server."""
    if request.param == "ray":
        with httpx.Client(base_url=request.getfixturevalue("ray_server").url, timeout=30.0) as http:
            yield http
        return
    from fastapi.testclient import TestClient

    from hatespeech.api.app import create_app
    from hatespeech.settings import Settings

    settings = Settings(
        model_dir=tiny_model,
        state_dir=tmp_path_factory.mktemp("state"),
        **{name.removeprefix("HATESPEECH_").lower(): value for name, value in SETTINGS.items()},
    )
    with TestClient(create_app(settings), base_url="http://testserver") as http:
        wait_until(lambda: http.get("/ready").status_code == 200, timeout=60, what="the in-process app is ready")
        yield http


@pytest.fixture
def server_client(server: RunningServer) -> Iterator[httpx.Client]:
    """A client of the real ``server`` (for tests that also read its logs or metrics)."""
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        yield http


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report: pytest.TestReport = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, shared by a module's browser tests. Module scope, not session: Playwright's sync
    API runs an event loop in the main thread while it is open, and other tests call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    from api.browser import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; on failure a screenshot goes to ``test-artifacts/screenshots/<test>.png``."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        opened.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
