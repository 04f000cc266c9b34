"""Optional API keys: ``Authorization: Bearer <key>`` on every route except liveness, readiness and the page."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from hatespeech.api.errors import error_response

PUBLIC_PATHS = frozenset({"/health", "/ready", "/", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)


class ApiKeyMiddleware:
    """401 unless the request carries one of ``keys``; compared in constant time, never logged."""

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]

    def _authorised(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return False
        token = token.strip()
        # Check every key (no early exit) so timing does not reveal which, or whether any, matched.
        matches = [hmac.compare_digest(token, key) for key in self.keys]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") == "OPTIONS"
            or path in PUBLIC_PATHS
            or path.startswith(PUBLIC_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not self._authorised(header):
            response = error_response(
                "unauthorized",
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                {"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
