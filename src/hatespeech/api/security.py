"""Optional API keys: ``Authorization: Bearer <key>`` on every route except liveness, readiness and the page.

``/admin/*`` (reload, shadow summary) takes only admin keys; an admin key also works as an API key.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hatespeech.api.errors import error_response

PUBLIC_PATHS = frozenset({"/health", "/ready", "/", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
ADMIN_PREFIX = "/admin/"


class ApiKeyMiddleware:
    """401 unless the request carries one of ``keys`` (``admin_keys`` for /admin/*); compared in constant time,
    never logged."""

    def __init__(self, app: ASGIApp, keys: list[str], admin_keys: list[str] | None = None) -> None:
        self.app = app
        self.admin_keys = [k.encode() for k in admin_keys or []]
        self.keys = [k.encode() for k in keys] + self.admin_keys
        self.open = not keys  # only admin keys configured: the other routes need none

    @staticmethod
    def _authorised(header: bytes, keys: list[bytes]) -> bool:
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return False
        token = token.strip()
        # Check every key (no early exit) so timing does not reveal which, or whether any, matched.
        matches = [hmac.compare_digest(token, key) for key in keys]
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
        refusal = self._refusal(path, header)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, path: str, header: bytes) -> JSONResponse | None:
        """The error for a request without the key its path needs; None when it may pass."""
        if path.startswith(ADMIN_PREFIX):
            if not self.admin_keys:
                return error_response("forbidden", "admin routes need an admin key: set HATESPEECH_ADMIN_KEYS")
            if not self._authorised(header, self.admin_keys):
                return error_response("unauthorized", "missing or invalid admin key: send 'Authorization: Bearer "
                                      "<admin key>'", {"WWW-Authenticate": "Bearer"})  # fmt: skip
            return None
        if not self.open and not self._authorised(header, self.keys):
            return error_response("unauthorized", "missing or invalid API key: send 'Authorization: Bearer <key>'",
                                  {"WWW-Authenticate": "Bearer"})  # fmt: skip
        return None
