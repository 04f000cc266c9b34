"""The management port (``HATESPEECH_MANAGEMENT_PORT``): liveness, readiness and metrics on a socket and an event
loop of their own, so that probes answer while the public port is flooded.

Why a port and not reserved slots: a connection's path is known only once its headers arrive, and a slow-header
flood is exactly connections whose headers never do, so slots kept for probes fill with the flood. A second
listening socket, which the Kubernetes probes, the Dockerfile's HEALTHCHECK and Prometheus use and no public
Service exposes, is never in the flood's reach. It runs in a thread with its own event loop: a public loop busy
with thousands of connections does not delay it.

Liveness still says whether the *public* server lives: the app's lifespan beats a heartbeat every
``HEARTBEAT_S`` on the public loop, and ``/health`` here is a 500 once it is ``STALL_S`` old (a stuck loop restarts
the pod, as it should). The routes are open (no key): bind the port where only the cluster reaches it.
"""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from hatespeech.api.errors import error_response, install_error_handlers
from hatespeech.api.routes import metrics, ready
from hatespeech.api.schemas import HealthOut, ReadyOut
from hatespeech.api.service import ModelService
from hatespeech.errors import ErrorType

HEARTBEAT_S = 0.5
STALL_S = 10.0
MAX_CONNECTIONS = 64  # probes and a scraper: a few at a time


async def beat(service: ModelService) -> None:
    """The public loop's heartbeat (a task of the app's lifespan)."""
    while True:
        service.heartbeat = time.monotonic()
        await asyncio.sleep(HEARTBEAT_S)


def management_app(service: ModelService) -> FastAPI:
    """/health, /ready and /metrics of ``service``, and nothing else."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)

    @app.get("/health", response_model=HealthOut)
    async def health() -> HealthOut | JSONResponse:
        stalled = time.monotonic() - service.heartbeat
        if stalled > STALL_S:
            return error_response(ErrorType.backend, f"the public server's event loop has not run for {stalled:.0f} s")
        return HealthOut()

    @app.get("/ready", response_model=ReadyOut)
    async def is_ready() -> ReadyOut:
        return await ready(service)

    @app.get("/metrics")
    async def scrape() -> Response:
        return await metrics(service)

    return app


class ManagementServer:
    """uvicorn serving :func:`management_app` in a daemon thread; :meth:`start` raises if the port cannot be had."""

    def __init__(self, service: ModelService, host: str, port: int) -> None:
        config = uvicorn.Config(
            management_app(service), host=host, port=port, log_config=None, access_log=False, lifespan="off",
            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.address = f"{host}:{port}"
        self.thread = threading.Thread(target=self.server.run, name="management", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError(f"the management port {self.address} could not be opened (in use?); see the log above")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
