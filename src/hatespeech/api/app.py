"""App factory: ``create_app(settings, engine=None)``; the lifespan loads the model and runs the batcher.

The model loads in the background, so ``/health`` answers at once and ``/ready`` turns 200 only after the
model is verified, loaded and has answered a warm-up forward pass.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from hatespeech import __version__
from hatespeech.api.admin import router as admin_router
from hatespeech.api.errors import install_error_handlers
from hatespeech.api.feedback import router as feedback_router
from hatespeech.api.lifecycle import bring_up, reload, watch_link
from hatespeech.api.management import beat
from hatespeech.api.metrics import Metrics
from hatespeech.api.middleware import AccessLogMiddleware, BodyLimitMiddleware, FullQueueMiddleware
from hatespeech.api.rate_limit import RateLimitMiddleware
from hatespeech.api.routes import STATIC_DIR, router
from hatespeech.api.schemas import TEXT_PATTERN
from hatespeech.api.security import ANYONE, ApiKeyMiddleware, DeclaredMount, allow, route_roles
from hatespeech.api.service import ModelService
from hatespeech.api.stores import Stores, purge_forever
from hatespeech.engines.base import BaseEngine
from hatespeech.keys import Role
from hatespeech.logs import configure as configure_logs
from hatespeech.settings import Settings

logger = logging.getLogger("hatespeech.api")


def create_app(settings: Settings | None = None, engine: BaseEngine | None = None) -> FastAPI:
    """Build the service. Pass ``engine`` to serve it instead of loading ``settings.model_dir``."""
    settings = settings or Settings()
    service = ModelService(settings=settings, metrics=Metrics(), stores=Stores(settings.store_url()))
    ring = settings.keyring()
    background: set[asyncio.Task[Any]] = set()

    def spawn(work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        background.add(task)
        task.add_done_callback(background.discard)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(bring_up(service, engine))
        spawn(purge_forever(service.stores, settings.retention_days, settings.store_predictions))
        spawn(beat(service))  # what the management port's /health checks
        if settings.model_watch_s > 0:
            spawn(watch_link(service, settings.model_watch_s))

        def on_hangup() -> None:  # the keys file is read again; the model reloads unless Ray redeploys it
            ring.reload()
            if not settings.reload_by_redeploy:
                spawn(reload(service, "SIGHUP"))

        hangup = _on_sighup(on_hangup)
        try:
            yield
        finally:
            service.ready = False
            hangup()
            measuring = [service.measuring] if service.measuring is not None else []
            for task in [loading, *background, *measuring]:  # a measurement's child process is killed
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            async with service.reload_lock:  # a reload under way finishes first; none starts after
                if service.live is not None:
                    await asyncio.to_thread(service.live.batcher.stop)
                if service.shadow is not None:
                    await asyncio.to_thread(service.shadow.stop)
            service.stores.close()

    app = FastAPI(
        title="Hate-speech detection API",
        version=__version__,
        description=(
            "Classify text as `hate` or `noHate` with a fine-tuned BERT-family model served by ONNX Runtime. "
            'Errors are JSON: `{"error": ..., "error_type": ...}`.'
        ),
        lifespan=lifespan,
        docs_url=None,  # the API docs are declared below with their role, like every other route
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # /predict/ is a 404 with a JSON body, not a redirect
    )
    app.state.service = service
    _document_limits(app, settings)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(feedback_router)
    app.include_router(admin_router)
    app.include_router(_docs_router(app))
    app.router.routes.append(DeclaredMount("/static", StaticFiles(directory=STATIC_DIR), name="static", access=ANYONE))
    # Middleware: the last added runs first. Order on the way in: access log -> CORS -> auth -> rate limit ->
    # full queue -> body limit.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(FullQueueMiddleware, service=service)
    if settings.rate_limit or settings.anonymous_rate_limit:  # after the key check: it needs the matched key
        app.add_middleware(RateLimitMiddleware, per_key=settings.rate_limit, anonymous=settings.anonymous_rate_limit)
    app.add_middleware(ApiKeyMiddleware, ring=ring, router=app.router)
    if settings.origins():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.origins(),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    roles = route_roles(app.routes)  # routers' routes included
    paths = frozenset(row.path for row in roles if row.methods != ("*",))
    prefixes = tuple(f"{row.path}/" for row in roles if row.methods == ("*",))
    app.add_middleware(AccessLogMiddleware, service=service, paths=paths, prefixes=prefixes)
    return app


def _docs_router(app: FastAPI) -> APIRouter:
    """The OpenAPI document and its two readers, Swagger UI and ReDoc: FastAPI's own pages, declared with the
    client role (as classifying, which they describe)."""
    docs = APIRouter(dependencies=[allow(Role.client)], include_in_schema=False)
    title = f"{app.title} - docs"

    @docs.get("/openapi.json")
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @docs.get("/docs")
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=title, oauth2_redirect_url="/docs/oauth2-redirect"
        )

    @docs.get("/docs/oauth2-redirect")
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @docs.get("/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=title)

    return docs


def _on_sighup(handler: Callable[[], None]) -> Callable[[], None]:
    """Run ``handler`` on SIGHUP where this loop can take signals (the main thread); returns the undo."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, handler)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):  # a Ray replica, Windows
        return lambda: None

    def undo() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return undo


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """Write the configured limits (texts per request, characters per text) into the OpenAPI schema."""
    generate = app.openapi

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("pattern") == TEXT_PATTERN:
                node["maxLength"] = settings.max_text_chars
            items = node.get("items")
            if node.get("type") == "array" and isinstance(items, dict) and items.get("pattern") == TEXT_PATTERN:
                node["maxItems"] = settings.max_texts
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            visit(schema)
            # explain=true takes at most max_explain_texts texts: said in the schema, so clients can know.
            texts = schema.get("components", {}).get("schemas", {}).get("TextsRequest")
            if texts is not None:
                texts["if"] = {"properties": {"explain": {"const": True}}, "required": ["explain"]}
                texts["then"] = {"properties": {"texts": {"maxItems": settings.max_explain_texts}}}
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``hatespeech serve``): settings from HATESPEECH_*, JSON logs
    (configured here as well, since each worker process of ``--workers N`` runs this factory)."""
    settings = Settings()
    configure_logs(settings.log_level)
    return create_app(settings)
