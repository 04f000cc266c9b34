"""Fixtures: a real server on loopback (`python -m hatespeech serve`) serving the tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.live_server import SHARED_ADMIN_KEY, RunningServer

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session", params=["local", "ray"])
def server(
    request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The server every API test runs against: one uvicorn process, then the same app as 2 Ray Serve
    replicas on a two-node Ray cluster."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    # fp32, so batched and single results can be compared tightly (int8 activations are quantized per batch).
    settings = {"HATESPEECH_MAX_TEXTS": "16", "HATESPEECH_MAX_BODY_BYTES": "65536", "HATESPEECH_QUANTIZED": "no",
                "HATESPEECH_MAX_EXPLAIN_TEXTS": "4", "HATESPEECH_ADMIN_KEYS": SHARED_ADMIN_KEY}  # fmt: skip
    if request.param == "ray":
        cluster = request.getfixturevalue("ray_cluster")
        args = ["--engine", "ray", "--address", cluster.address, "--replicas", "2"]
        running = RunningServer(tiny_model, settings, log, args, ray_logs=cluster.temp)
        running.wait_ready(timeout=180)
    else:
        running = RunningServer(tiny_model, settings, log)
        running.wait_ready()
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
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
