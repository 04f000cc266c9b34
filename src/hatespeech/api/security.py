"""Who may do what, closed by default: each route needs a role (:mod:`hatespeech.keys`), checked before the body.

- Always open: liveness, readiness, the page and its files.
- Classifying (``/predict``, ``/model``, ``/metrics``, the API docs): a client key, or anyone when no client key is
  configured (the two-command start; reviewer and admin keys alone do not close it).
- ``POST /feedback``, ``GET /review``: a reviewer key; ``/admin/*`` and reading feedback: an admin key. Without any
  key of that role configured they answer 403 naming the setting, never open.

A wrong key, or a missing one where a key is needed, is 401 (``WWW-Authenticate: Bearer``); a key whose role is
too low is 403. The matched key is
put in the request's state (``api_key``): the access log names it and feedback records it as the reviewer.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hatespeech.api.errors import error_response
from hatespeech.keys import ROLE_SETTINGS, ApiKey, KeyRing, Role
from hatespeech.logs import REQUEST

PUBLIC_PATHS = frozenset({"/health", "/ready", "/", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
ADMIN_PREFIX = "/admin/"
PROTECTED_ROUTES: dict[str, dict[str, Role]] = {
    "/feedback": {"POST": Role.reviewer, "GET": Role.admin, "HEAD": Role.admin},  # reading stored texts: admin
    "/review": {"GET": Role.reviewer, "HEAD": Role.reviewer},
    "/admin/reload": {"POST": Role.admin},
    "/admin/shadow": {"GET": Role.admin, "HEAD": Role.admin},
}
"""The routes above the client role, by method. A method a route does not have passes to the router (405): it
does nothing, and the OpenAPI document already says which methods exist."""


def required_role(method: str, path: str) -> Role | None:
    """The role a request needs; None for the public routes (and methods a protected route does not have)."""
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    if path in PROTECTED_ROUTES:
        return PROTECTED_ROUTES[path].get(method)
    if path.startswith(ADMIN_PREFIX):
        return Role.admin
    return Role.client


def _a(role: Role) -> str:
    return f"an {role.name}" if role.name[0] in "aeiou" else f"a {role.name}"


class ApiKeyMiddleware:
    """Refuse a request without a key of the role its route needs (see the module's docstring)."""

    def __init__(self, app: ASGIApp, ring: KeyRing) -> None:
        self.app = app
        self.ring = ring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        key = self.ring.match(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        scope.setdefault("state", {})["api_key"] = key
        context = REQUEST.get()
        if context is not None and key is not None:
            context["key"] = key.name  # on every log line of this request
        needed = required_role(scope.get("method", "GET"), scope.get("path", ""))
        refusal = None if needed is None else self._refusal(needed, key, bool(header), scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, needed: Role, key: ApiKey | None, sent: bool, scope: Scope) -> JSONResponse | None:
        """The error for a request without the role it needs; None when it may pass."""
        what = f"{scope.get('method')} {scope.get('path')}"
        if needed is Role.client:
            if not sent and not self.ring.has_exactly(Role.client):
                return None  # no client keys: classifying is open (reviewer and admin keys do not close it)
        elif not self.ring.has(needed):
            settings = " or ".join(ROLE_SETTINGS[r] for r in Role if r >= needed)
            return error_response("forbidden", f"{what} needs {_a(needed)} key and none is configured: set "
                                  f"{settings} (or HATESPEECH_API_KEY_FILE)")  # fmt: skip
        if key is None:
            return error_response("unauthorized", f"{what} needs {_a(needed)} key: send 'Authorization: Bearer "
                                  "<key>' with a valid key", {"WWW-Authenticate": "Bearer"})  # fmt: skip
        if key.role < needed:
            return error_response("forbidden", f"{what} needs {_a(needed)} key; key '{key.name}' is "
                                  f"{_a(key.role)} key")  # fmt: skip
        return None
