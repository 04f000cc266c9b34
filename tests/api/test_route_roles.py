"""Roles are declared where routes are (issue 40, item 1): every route of the app, in this process and on Ray
Serve, asked by an anonymous client with every method, answers as its declared role says, and the declared roles
are the table in docs/security.md."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hatespeech.api.app import create_app
from hatespeech.api.errors import ApiError
from hatespeech.api.security import ANYONE, Allow, route_roles
from hatespeech.keys import Role
from hatespeech.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# What an anonymous client may reach when no client key is configured (the list, by path).
ANONYMOUS = {"/predict", "/model", "/model/card", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
             "/redoc", "/health", "/ready", "/", "/favicon.ico", "/static"}  # fmt: skip


def _app(tmp_path: Path) -> TestClient:
    settings = Settings(model_dir=tmp_path / "none", state_dir=tmp_path / "state", engine="onnx")
    return TestClient(create_app(settings))  # not entered: the lifespan (model loading) never runs


def _concrete(path: str) -> str:
    return "/static/app.js" if path == "/static" else path


def test_every_route_and_method_answers_an_anonymous_client_as_its_role_says(client: httpx.Client) -> None:
    """The served app has an admin key only (the API suite's settings): anyone may classify and read the open
    routes; every reviewer and admin route refuses before its handler, and a method a route lacks is 405."""
    roles = route_roles(create_app(Settings(engine="onnx")).routes)  # the app each Ray replica builds too
    assert {row.path for row in roles if row.access in (ANYONE, Role.client)} == ANONYMOUS
    methods = {row.path: set() for row in roles}
    for row in roles:
        methods[row.path] |= set(row.methods)
    for row in roles:
        for method in METHODS:
            body = {"text": "a text"} if method == "POST" else None
            response = client.request(method, _concrete(row.path), json=body)
            if method not in methods[row.path] and row.methods != ("*",):
                assert response.status_code == 405, (method, row.path, response.text)
            elif method not in row.methods and row.methods != ("*",):
                continue  # another route of the path has it
            elif row.access in (ANYONE, Role.client):
                assert response.status_code not in (401, 403), (method, row.path, response.text)
            elif method in row.methods:
                assert response.status_code in (401, 403), (method, row.path, response.text)
                if method != "HEAD":
                    assert response.json()["error_type"] in ("unauthorized", "forbidden")


def test_a_route_added_without_a_role_is_admin_only(tmp_path: Path) -> None:
    app = _app(tmp_path)
    added = app.app

    @added.get("/export")  # type: ignore[attr-defined, untyped-decorator]
    async def export() -> dict[str, str]:
        return {"secret": "everything"}

    assert app.get("/export").status_code == 403  # no admin key configured: closed, naming the setting
    assert "HATESPEECH_ADMIN_KEYS" in app.get("/export").json()["error"]
    assert route_roles(added.routes)[-1].access is Role.admin  # type: ignore[attr-defined]


def test_a_handler_never_runs_for_a_request_the_middleware_did_not_admit() -> None:
    from starlette.requests import Request

    scope = {"type": "http", "method": "POST", "path": "/admin/reload", "headers": [], "query_string": b"",
             "state": {"access": ANYONE}}  # admitted as an open route, not as an admin one  # fmt: skip
    with pytest.raises(ApiError, match="was not checked for its role"):
        asyncio.run(Allow(Role.admin)(Request(scope)))


def test_docs_security_md_lists_every_route_with_its_declared_role(tmp_path: Path) -> None:
    documented = set()
    for line in DOCS.read_text().splitlines():
        cells = [c.strip(" `") for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"/\S*", cells[0]):
            documented.add((cells[0], cells[1], cells[2]))
    declared = {(r.path, ", ".join(r.methods), r.access if r.access == ANYONE else r.access.name)
                for r in route_roles(_app(tmp_path).app.routes)}  # type: ignore[attr-defined]  # fmt: skip
    assert documented == declared
