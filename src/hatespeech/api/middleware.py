"""The ASGI layers of the app, outermost first: the access log (request id, one JSON line, request
metrics), CORS (Starlette's), API keys (``security.py``), a full queue refused before the body is read,
and the body limit."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hatespeech.api.errors import error_response
from hatespeech.api.service import ModelService
from hatespeech.errors import ErrorType, Overloaded
from hatespeech.logs import REQUEST, log_event
from hatespeech.store import REQUEST_ID_LENGTH

logger = logging.getLogger("hatespeech.api")


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by Content-Length up front, else while reading a streamed body; 408
    for a body that has not arrived ``timeout_s`` after its headers (a slow client holds no place for long).

    The body (at most ``max_bytes``) is read here and replayed to the app, so an oversized or slow stream is
    refused before any handler sees it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                message_text = f"the request body did not arrive within {self.timeout_s:g} s"
                await error_response(ErrorType.request_timeout, message_text, {"Connection": "close"})(
                    scope, receive, send
                )
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(ErrorType.payload_too_large, f"request body over the {self.max_bytes}-byte limit")
        await response(scope, receive, send)


class FullQueueMiddleware:
    """503 ``overloaded`` for ``POST /predict`` while the queue has no room for one more text, before the body
    is read: under overload, a refusal costs no JSON parsing or validation. (The route checks again, for the
    request's own count of texts, before tokenizing.) The server discards the unread body and keeps the
    connection."""

    def __init__(self, app: ASGIApp, service: ModelService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live = self.service.live
        if live is not None and scope["type"] == "http" and scope["path"] == "/predict" and scope["method"] == "POST":
            try:
                live.batcher.check_room(1)
            except Overloaded as exc:
                await error_response(ErrorType.overloaded, str(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)


class AccessLogMiddleware:
    """Request id (``X-Request-ID``), one JSON log line per request, request metrics. Never logs texts
    unless ``log_texts`` is set. ``paths`` and ``prefixes`` (mounted folders) are the app's own routes; metrics
    label any other path "unmatched"."""

    def __init__(self, app: ASGIApp, service: ModelService, paths: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.service = service
        self.paths = paths
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        # A client's id is kept only when it fits what is stored; else the answer carries a fresh one.
        request_id = incoming if 0 < len(incoming) <= REQUEST_ID_LENGTH and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        context = REQUEST.set({"request_id": request_id})  # on every log line of this request (hatespeech.logs)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                extra = [(b"x-request-id", request_id.encode("latin-1"))]
                live = self.service.live
                version = scope["state"].get("model_version") or (live.version if live else None)
                if version:  # the model that answered (a /predict), else the one serving now
                    extra.append((b"x-model-version", version.encode("latin-1")))
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # Starlette's outermost handler answers it: a 500 of type backend
            scope["state"].setdefault("error_type", ErrorType.backend)
            raise
        finally:
            path = scope.get("path", "")
            route = path if path in self.paths or path.startswith(self.prefixes) else "unmatched"
            seconds = time.perf_counter() - started
            metrics = self.service.metrics
            metrics.requests.labels(route, str(status)).inc()
            metrics.latency.labels(route).observe(seconds)
            state: dict[str, Any] = scope.get("state", {})
            error_type = state.get("error_type")  # put there by the error response that was sent (api/errors.py)
            if status >= 400:
                error_type = error_type or "unknown"
                metrics.errors.labels(error_type).inc()
            record: dict[str, Any] = {
                "request_id": request_id,
                "method": scope.get("method"),
                "route": route,
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
            }
            key = state.get("api_key")
            if key is not None:  # the key's name, never its secret
                record["key"] = key.name
            if "texts" in state:
                record["texts"] = state["texts"]
            if error_type is not None:
                record["error_type"] = error_type
            if self.service.settings.log_texts and "input_texts" in state:
                record["input_texts"] = state["input_texts"]
            log_event(logger, None, record)
            REQUEST.reset(context)
