"""A real PostgreSQL server for the tests: Debian's binaries, a fresh cluster in a temp dir, on a free
loopback port, stopped afterwards. As root it runs as the ``postgres`` user (PostgreSQL refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from api.live_server import free_port


def binaries() -> Path | None:
    """The bin dir of the newest installed PostgreSQL, if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in a fresh temp dir; ``url`` for SQLAlchemy; :meth:`stop` ends it and
    removes the dir. (Its own dir under /tmp: pytest's are private to root, where ``postgres`` cannot go.)"""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: run `make postgres` (Debian's package; make test does it)")
        self.root = root = Path(tempfile.mkdtemp(prefix="hatespeech-pg-"))
        self.bin, self.data, self.port = bin_dir, root / "data", free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(root / "log"), "-w", "start")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout[-1000:]}{result.stderr[-1000:]}")

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        from sqlalchemy import create_engine, text

        self.databases = getattr(self, "databases", 0) + 1
        name = f"test_{self.databases}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(url: str, seconds: float = 30) -> None:
    from sqlalchemy import create_engine, text

    deadline = time.monotonic() + seconds
    while True:
        try:
            with create_engine(url).connect() as connection:
                connection.execute(text("select 1"))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
