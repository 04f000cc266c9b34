"""Reviewer feedback and (when switched on) stored predictions, through SQLAlchemy 2.

SQLite by default: one file, created on first use, in WAL mode so readers never block the writer, and
``synchronous=FULL`` so a committed record survives a crash of the process or the machine. PostgreSQL
with a ``postgresql+psycopg://`` URL. Every write is one transaction, so a record is stored whole or
not at all. The schema is versioned with Alembic (``hatespeech/migrations``): the server and ``feedback upgrade``
apply what a database lacks (:func:`migrate`); readers never migrate.

Texts are personal data. Nothing is written unless a reviewer sends feedback or
``HATESPEECH_STORE_PREDICTIONS`` is on, and :meth:`Store.purge` deletes what is older than the retention.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy import (
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hatespeech.errors import StoreError

REQUEST_ID_LENGTH = 64
"""The longest request id stored (and so the longest ``X-Request-ID`` the server takes from a client)."""


class Base(DeclarativeBase):
    pass


class StoredPrediction(Base):
    """A text the server classified, kept only with ``HATESPEECH_STORE_PREDICTIONS`` on."""

    __tablename__ = "predictions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(REQUEST_ID_LENGTH), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the text's index in its request
    text: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(16))
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Feedback(Base):
    """A reviewer's label for a text, optionally tied to a stored prediction."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(16), index=True)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_LENGTH))
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id", ondelete="SET NULL"), index=True)
    model_score: Mapped[float | None] = mapped_column(Float)  # P(hate) the model gave, when known
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


MIGRATIONS_DIR = Path(__file__).parent / "migrations"
"""Alembic's scripts: ``versions/`` holds one file per schema change, applied in order. Append, never edit."""
LEGACY_TABLE = "schema_version"  # before Alembic: its version 1 is revision 0001


def _alembic(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this code knows: the schema it reads and writes."""
    found = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert found is not None, f"no migrations in {MIGRATIONS_DIR}"
    return found


def current_revision(connection: Connection) -> str | None:
    """The database's revision (None: no schema yet); a database from before Alembic counts as revision 0001
    once :func:`migrate` has adopted it, and as None before."""
    return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision) is not None
    except AlembicError:
        return False


def migrate(engine: Engine) -> str:
    """Upgrade the database to :func:`head` in one transaction; returns the revision.

    Several processes may start at once (server workers, replicas, a CLI): PostgreSQL serialises them with
    an advisory lock held by the migrating transaction, SQLite with a lock file beside the database.
    """
    with _migration_lock(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config = _alembic(connection)
        tables = set(inspect(connection).get_table_names())
        if LEGACY_TABLE in tables and "alembic_version" not in tables:  # made before Alembic: adopt it
            legacy = int(connection.execute(text(f"SELECT max(version) FROM {LEGACY_TABLE}")).scalar() or 0)
            if legacy > 1:
                raise StoreError(f"the database is at schema version {legacy}, newer than this code")
            if legacy == 1:
                command.stamp(config, "0001")
            connection.execute(text(f"DROP TABLE {LEGACY_TABLE}"))
        current = current_revision(connection)
        if current is not None and not _known(current):
            raise StoreError(f"the database is at schema revision {current}, newer than this code ({head()})")
        command.upgrade(config, "head")
    return head()


def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)  # no texts in error messages
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


MIGRATION_LOCK_KEY = 0x68617465  # "hate": any fixed 64-bit key, the same in every process


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@dataclass(frozen=True)
class Page:
    items: list[Feedback]
    total: int


class Store:
    """The feedback database. Open it with :meth:`open`; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> Store:
        """Connect and (the server, ``feedback upgrade``) create the SQLite file's folder and migrate to the current
        schema. A reader (``migrate_schema=False``: export, compare, ``train --feedback``) changes nothing: a
        missing database or an older schema is refused with the command that upgrades it."""
        if not migrate_schema:
            return cls._open_to_read(url)
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only root filesystem, a folder the server may not write
            raise StoreError(f"cannot create the folder for {_redacted(url)}: {exc.strerror}") from exc
        try:
            engine = _engine(url)
            migrate(engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the database {_redacted(url)}: {exc.__class__.__name__}: {exc}") from exc
        return cls(engine)

    @classmethod
    def _open_to_read(cls, url: str) -> Store:
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            raise StoreError(f"no database at {_redacted(url)}")
        try:
            engine = _engine(url)
            with engine.connect() as connection:
                current = current_revision(connection)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the database {_redacted(url)}: {exc.__class__.__name__}") from exc
        if current != head():
            engine.dispose()
            newer = current is not None and not _known(current)
            raise StoreError(
                f"the database {_redacted(url)} is at schema revision {current or 'none'}, this code reads "
                f"{head()}: " + ("upgrade this code" if newer else
                "run `hatespeech feedback upgrade --database URL` (readers never change a schema)")
            )  # fmt: skip
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def revision(self) -> str | None:
        """The schema revision of this database (Alembic's)."""
        with self.engine.connect() as connection:
            return current_revision(connection)

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    # --- writes ---------------------------------------------------------------------------------------

    def add_feedback(
        self, text_: str, label: str, reviewer: str | None = None, note: str | None = None,
        request_id: str | None = None, prediction_id: int | None = None, model_score: float | None = None,
    ) -> int:  # fmt: skip
        record = Feedback(text=text_, label=label, reviewer=reviewer, note=note, request_id=request_id,
                          prediction_id=prediction_id, model_score=model_score, created_at=_now())  # fmt: skip
        with self._session() as session:
            session.add(record)
            session.flush()
            return record.id

    def add_predictions(self, request_id: str, rows: Sequence[tuple[str, float, str]], model_version: str) -> None:
        """Keep a request's texts with their scores and labels (one transaction for the request)."""
        now = _now()
        with self._session() as session:
            session.add_all(
                StoredPrediction(
                    request_id=request_id,
                    position=i,
                    text=t,
                    score=s,
                    label=label,
                    model_version=model_version,
                    created_at=now,
                )
                for i, (t, s, label) in enumerate(rows)
            )

    def purge(self, older_than_days: float) -> tuple[int, int]:
        """Delete predictions and feedback older than the retention; returns how many of each."""
        cutoff = _now() - timedelta(days=older_than_days)
        with self._session() as session:
            feedback = session.execute(delete(Feedback).where(Feedback.created_at < cutoff))
            predictions = session.execute(delete(StoredPrediction).where(StoredPrediction.created_at < cutoff))
            counts = getattr(predictions, "rowcount", 0), getattr(feedback, "rowcount", 0)  # CursorResult
        return int(counts[0] or 0), int(counts[1] or 0)

    # --- reads ----------------------------------------------------------------------------------------

    def predictions_of(self, request_id: str) -> list[StoredPrediction]:
        with Session(self.engine) as session:
            query = select(StoredPrediction).where(StoredPrediction.request_id == request_id)
            return list(session.scalars(query.order_by(StoredPrediction.position)))

    def feedback(
        self, label: str | None = None, since: datetime | None = None, until: datetime | None = None,
        limit: int = 50, offset: int = 0,
    ) -> Page:  # fmt: skip
        """Feedback newest first, filtered by label and date, one page of it and the total count."""
        conditions = [c for c in (
            Feedback.label == label if label else None,
            Feedback.created_at >= since if since else None,
            Feedback.created_at < until if until else None,
        ) if c is not None]  # fmt: skip
        with Session(self.engine) as session:
            total = session.scalar(select(func.count()).select_from(Feedback).where(*conditions)) or 0
            query = select(Feedback).where(*conditions).order_by(Feedback.created_at.desc(), Feedback.id.desc())
            return Page(list(session.scalars(query.limit(limit).offset(offset))), int(total))

    def iter_feedback(self) -> Iterator[Feedback]:
        """Every feedback record, oldest first (for export)."""
        with Session(self.engine) as session:
            yield from session.scalars(select(Feedback).order_by(Feedback.id).execution_options(yield_per=500))

    def review_queue(self, limit: int, threshold: float, random_share: float = 0.2) -> list[StoredPrediction]:
        """Stored predictions not yet reviewed that most need a person: the closest to the threshold, plus a
        random share of the others (so that confident mistakes are found too)."""
        reviewed = select(Feedback.prediction_id).where(Feedback.prediction_id.is_not(None))
        unreviewed = select(StoredPrediction).where(StoredPrediction.id.not_in(reviewed))
        randoms = round(limit * random_share) if limit > 1 else 0
        margin = func.abs(StoredPrediction.score - threshold)
        with Session(self.engine) as session:
            closest = list(session.scalars(unreviewed.order_by(margin, StoredPrediction.id).limit(limit - randoms)))
            others = unreviewed.where(StoredPrediction.id.not_in([p.id for p in closest]))
            return closest + list(session.scalars(others.order_by(func.random()).limit(randoms)))

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error (a record is whole or absent)."""
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"the database write failed: {exc.__class__.__name__}: {exc}") from exc


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC: one with an offset is converted; a naive one is UTC already (SQLite gives back naive
    datetimes, and every stored time is UTC). Queries pass UTC, so both databases compare the same instants."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say so without echoing it
        return "(unparsable URL)"
