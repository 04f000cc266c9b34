"""Database errors (issue 28, item 7): every failure is a 503 `database` with a generic message and one server log
line with its cause; a response never carries SQL, parameters or hosts. Both databases, a real server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from api.live_server import RunningServer, serving
from waiting import wait_until

ADMIN = "admin-secret-db-errors-1"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
SECRET_TEXT = "a private sentence 7f3a that must not leak"


@pytest.fixture
def broken(tiny_model: Path, tmp_path: Path, database: str) -> Iterator[tuple[RunningServer, str]]:
    """A server whose database loses its tables after it opened it (a restore gone wrong, a DBA's mistake)."""
    with serving(tiny_model, tmp_path / "server.log", admin_keys=ADMIN, database_url=database,
                 store_predictions="true") as server:  # fmt: skip
        first = httpx.post(f"{server.url}/feedback", json={"text": "first", "label": "hate"}, headers=AUTH)
        assert first.status_code == 201
        drop_tables(database)
        yield server, database


def drop_tables(database: str) -> None:
    engine = create_engine(database)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE feedback"))
        connection.execute(text("DROP TABLE predictions"))
    engine.dispose()


def test_every_database_failure_is_a_generic_503_with_its_cause_logged(broken: tuple[RunningServer, str]) -> None:
    server, database = broken
    calls = [
        ("POST", "/feedback", {"text": SECRET_TEXT, "label": "hate"}),
        ("GET", "/feedback", None),
        ("GET", "/review", None),
        ("POST", "/predict", {"text": SECRET_TEXT}),  # storing the prediction fails
    ]
    host = database.split("@")[-1].split("/")[0] if "@" in database else database
    for method, path, body in calls:
        response = httpx.request(method, f"{server.url}{path}", json=body, headers=AUTH, timeout=60)
        assert response.status_code == 503, (method, path, response.text)
        assert response.json()["error_type"] == "database"
        shown = response.text.lower()
        for leak in ("insert", "select", "sql", SECRET_TEXT.lower(), host.lower(), "feedback.", "psycopg", "sqlite3"):
            assert leak not in shown, (leak, response.text)
    wait_until(lambda: server.log_text().count('"database_error"') >= len(calls), what="the causes logged")
    causes = [json.loads(line[line.index("{") :])["error"] for line in server.log_text().splitlines()
              if '"database_error"' in line]  # fmt: skip
    assert all(cause and "\n" not in cause for cause in causes)
    assert SECRET_TEXT not in server.log_text()  # parameters are hidden even in the log
    assert httpx.get(f"{server.url}/health").status_code == 200  # the server goes on


def test_a_huge_offset_is_a_422_not_a_database_error(broken: tuple[RunningServer, str]) -> None:
    server, _ = broken
    response = httpx.get(f"{server.url}/feedback?offset={10**20}", headers=AUTH)
    assert response.status_code == 422 and response.json()["error_type"] == "validation"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        sqlite3.connect(path).close()  # a database file without the schema (an older or foreign one)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("postgres").new_database())


def test_readers_never_migrate_and_name_the_upgrade(empty_database: str, tmp_path: Path) -> None:
    def tables() -> set[str]:
        engine = create_engine(empty_database)
        try:
            return set(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    readers = [
        ["feedback", "export", "--output", str(tmp_path / "out.jsonl"), "--database", empty_database],
        ["train", "--feedback", empty_database, "--out", str(tmp_path / "model"), "--epochs", "0"],
    ]
    for args in readers:
        result = cli(*args)
        assert result.returncode != 0 and "hatespeech feedback upgrade" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and result.stderr.strip().splitlines()[-1].startswith("error:")
    assert tables() == set()  # nothing created or migrated
    upgraded = cli("feedback", "upgrade", "--database", empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    assert {"feedback", "predictions", "alembic_version"} <= tables()
    assert cli(*readers[0]).returncode == 0


def test_a_reader_does_not_create_a_missing_sqlite_database(tmp_path: Path) -> None:
    result = cli("feedback", "export", "--output", str(tmp_path / "o.jsonl"), "--database",
                 f"sqlite:///{tmp_path / 'none' / 'x.db'}")  # fmt: skip
    assert result.returncode != 0 and "no database" in result.stderr
    assert not (tmp_path / "none").exists()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hatespeech", *args], capture_output=True, text=True, timeout=300)
