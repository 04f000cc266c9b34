"""Who may do what, closed by default: each route declares its role where it is declared, as a dependency
(``dependencies=[allow(Role.client)]``, or ``allow(ANYONE)``); a route that declares none is admin-only. The
middleware reads the declarations from the app's routes and checks the key before the body is read; the dependency
then refuses to run a handler the middleware did not admit for that role (a second lock, never the first).

- Anyone: liveness, readiness, the page and its files.
- Classifying (``/predict``, ``/model``, ``/metrics``, the API docs): a client key, or anyone when no client key is
  configured (the two-command start; reviewer and admin keys alone do not close it).
- ``POST /feedback``, ``GET /review``: a reviewer key; ``/admin/*`` and reading feedback: an admin key. Without any
  key of that role configured they answer 403 naming the setting, never open.

The table of every route and its role is :func:`route_roles` (``docs/security.md`` is generated from it). A wrong
key, or a missing one where a key is needed, is 401 (``WWW-Authenticate: Bearer``); a key whose role is too low is
403. The matched key is put in the request's state (``api_key``): the access log names it and feedback records it as
the reviewer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import iter_route_contexts
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from hatespeech.api.errors import ApiError, error_response
from hatespeech.errors import ErrorType
from hatespeech.keys import ROLE_SETTINGS, ApiKey, KeyRing, Role
from hatespeech.logs import REQUEST

ANYONE: Final = "anyone"
Access = Role | Literal["anyone"]
UNMATCHED: Final[Access] = Role.client  # a path no route has: as closed as classifying (401, not 404, to a prober)


def strictness(access: Access) -> int:
    return 0 if access == ANYONE else int(access)


class Allow:
    """A route's declared role, as a dependency: it runs the handler only for a request the middleware admitted
    for this role."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def __call__(self, request: Request) -> None:  # async: FastAPI runs a sync dependency on a worker thread
        if request.scope.get("state", {}).get("access") != self.access:
            raise ApiError(ErrorType.forbidden, f"{request.method} {request.url.path} was not checked for its role")


def allow(access: Access) -> DependsParam:
    """Declare a route's role: ``@router.get(..., dependencies=[allow(Role.client)])``."""
    dependency: DependsParam = Depends(Allow(access))
    return dependency


class DeclaredMount(Mount):
    """A mounted app (the page's files) with its declared role."""

    def __init__(self, path: str, app: ASGIApp, *, name: str, access: Access) -> None:
        super().__init__(path, app=app, name=name)
        self.access = access


@dataclass(frozen=True)
class RouteRole:
    """One row of the table of roles: a path, its methods (``*`` for a mount) and who may call them."""

    path: str
    methods: tuple[str, ...]
    access: Access
    pattern: re.Pattern[str]


def route_roles(routes: Sequence[BaseRoute]) -> list[RouteRole]:
    """Every route of an app (routers' routes included) with the role it declares, in declaration order; a route
    that declares none is admin (a route added without thought is closed)."""
    rows = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, DeclaredMount):
            access: Access = route.access
        else:
            dependencies = getattr(context, "dependencies", None) or []  # the router's and the route's own
            found = [d.dependency.access for d in dependencies if isinstance(d.dependency, Allow)]
            access = max(found, key=strictness) if found else Role.admin  # declared twice: the stricter
        methods = tuple(sorted(context.methods)) if context.methods else ("*",)
        rows.append(RouteRole(context.path or "?", methods, access, context.path_regex))
    return rows


def find(table: Sequence[RouteRole], method: str, path: str) -> RouteRole | Literal["405", "404"]:
    """The row of the route that serves a request; else ``405`` (its path exists without its method: the router
    answers so and runs no handler) or ``404``."""
    partial = False
    for row in table:
        if row.pattern.match(path):
            if row.methods == ("*",) or method in row.methods:
                return row
            partial = True
    return "405" if partial else "404"


def _a(role: Role) -> str:
    return f"an {role.name}" if role.name[0] in "aeiou" else f"a {role.name}"


class ApiKeyMiddleware:
    """Refuse a request without a key of the role its route needs (see the module's docstring)."""

    def __init__(self, app: ASGIApp, ring: KeyRing, router: Router) -> None:
        self.app = app
        self.ring = ring
        self.router = router
        self.table: list[RouteRole] | None = None  # the app's routes, read at the first request

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
        needed = self.required(scope.get("method", "GET"), scope.get("path", ""))
        refusal = self._refusal(needed, key, bool(header), scope) if isinstance(needed, Role) else None
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        scope["state"]["access"] = needed  # what the route's Allow checks, and the rate limit reads
        await self.app(scope, receive, send)

    def required(self, method: str, path: str) -> Access | None:
        """The role a request needs (None: no handler will run), from the table of the app's routes; read again
        when a request matches no route or method, so that a route added after the first request is checked too."""
        row = find(self.table, method, path) if self.table is not None else "404"
        if not isinstance(row, RouteRole):
            self.table = route_roles(self.router.routes)
            row = find(self.table, method, path)
        return row.access if isinstance(row, RouteRole) else None if row == "405" else UNMATCHED

    def _refusal(self, needed: Role, key: ApiKey | None, sent: bool, scope: Scope) -> JSONResponse | None:
        """The error for a request without the role it needs; None when it may pass."""
        what = f"{scope.get('method')} {scope.get('path')}"
        if needed is Role.client:
            if not sent and not self.ring.has_exactly(Role.client):
                return None  # no client keys: classifying is open (reviewer and admin keys do not close it)
        elif not self.ring.has(needed):
            settings = " or ".join(ROLE_SETTINGS[r] for r in Role if r >= needed)
            return error_response(ErrorType.forbidden, f"{what} needs {_a(needed)} key and none is configured: set "
                                  f"{settings} (or HATESPEECH_API_KEY_FILE)")  # fmt: skip
        if key is None:
            return error_response(ErrorType.unauthorized, f"{what} needs {_a(needed)} key: send 'Authorization: Bearer "
                                  "<key>' with a valid key", {"WWW-Authenticate": "Bearer"})  # fmt: skip
        if key.role < needed:
            return error_response(ErrorType.forbidden, f"{what} needs {_a(needed)} key; key '{key.name}' is "
                                  f"{_a(key.role)} key")  # fmt: skip
        return None
