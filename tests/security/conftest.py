"""The database every store-touching security test runs on twice: SQLite and a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'hatespeech.db'}"
    return str(request.getfixturevalue("postgres").new_database())
