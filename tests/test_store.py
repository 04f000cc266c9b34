"""The feedback store on a real SQLite file and a real PostgreSQL server: Alembic migrations (a database from
before them adopted, one from newer code refused, the ORM and the migrations in step), reads, the review queue,
retention, and concurrent writers that lose nothing."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from hatespeech.errors import StoreError
from hatespeech.store import Base, Feedback, Store, StoredPrediction, head

from postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sub' / 'feedback.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    yield server.new_database()


def test_opening_creates_and_migrates_once(url: str) -> None:
    store = Store.open(url)
    assert store.revision() == head()
    assert {"feedback", "predictions", "alembic_version"} <= store.tables()
    store.add_feedback("kept across reopen", "hate")
    store.close()
    again = Store.open(url)  # no migration runs twice, nothing is lost
    assert again.revision() == head() and again.feedback().total == 1


def test_the_migrations_build_exactly_what_the_orm_classes_describe(url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = Store.open(url)
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_database_from_before_alembic_is_adopted_with_its_data(url: str) -> None:
    store = Store.open(url)
    store.add_feedback("written before the upgrade", "noHate")
    with store.engine.begin() as connection:  # what the code before Alembic left: schema_version 1
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO schema_version (version) VALUES (1)"))
    store.close()
    with pytest.raises(StoreError, match="feedback upgrade"):
        Store.open(url, migrate_schema=False)  # a reader refuses it and names the command
    adopted = Store.open(url)
    assert adopted.revision() == head() and "schema_version" not in adopted.tables()
    assert [f.text for f in adopted.feedback().items] == ["written before the upgrade"]


def test_a_database_newer_than_the_code_is_refused(url: str) -> None:
    store = Store.open(url)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(StoreError, match="newer than this code"):
        Store.open(url)
    with pytest.raises(StoreError, match="upgrade this code"):
        Store.open(url, migrate_schema=False)


def test_feedback_is_paged_newest_first_and_filtered(url: str) -> None:
    store = Store.open(url)
    ids = [store.add_feedback(f"text {i}", "hate" if i % 2 else "noHate", reviewer="ann") for i in range(7)]
    page = store.feedback(limit=3)
    assert page.total == 7 and [f.id for f in page.items] == ids[::-1][:3]
    assert [f.id for f in store.feedback(limit=3, offset=6).items] == [ids[0]]
    hate = store.feedback(label="hate")
    assert hate.total == 3 and {f.text for f in hate.items} == {"text 1", "text 3", "text 5"}
    assert store.feedback(since=datetime.now(UTC) + timedelta(days=1)).total == 0
    assert store.feedback(until=datetime.now(UTC) + timedelta(days=1)).total == 7
    assert [f.text for f in store.iter_feedback()] == [f"text {i}" for i in range(7)]


def test_review_queue_is_nearest_the_threshold_plus_a_random_share_never_the_reviewed(url: str) -> None:
    store = Store.open(url)
    scores = [0.01, 0.2, 0.45, 0.49, 0.52, 0.6, 0.9, 0.99, 0.001, 0.7]
    store.add_predictions("r1", [(f"t{i}", s, "hate" if s >= 0.5 else "noHate") for i, s in enumerate(scores)], "m")
    stored = store.predictions_of("r1")
    assert [p.position for p in stored] == list(range(10)) and [p.score for p in stored] == scores
    queue = store.review_queue(limit=5, threshold=0.5, random_share=0.2)
    assert [p.score for p in queue[:4]] == [0.49, 0.52, 0.45, 0.6]  # closest first
    assert len(queue) == 5 and queue[4].score not in (0.49, 0.52, 0.45, 0.6)  # one of the others
    reviewed = stored[3]  # 0.49, the closest
    store.add_feedback(reviewed.text, "noHate", prediction_id=reviewed.id, model_score=reviewed.score)
    assert reviewed.id not in [p.id for p in store.review_queue(limit=10, threshold=0.5)]
    assert len(store.review_queue(limit=50, threshold=0.5)) == 9


def test_retention_deletes_what_is_due_and_nothing_else(url: str) -> None:
    store = Store.open(url)
    old_feedback, new_feedback = store.add_feedback("old", "hate"), store.add_feedback("new", "hate")
    store.add_predictions("old-request", [("old text", 0.9, "hate")], "m")
    store.add_predictions("new-request", [("new text", 0.1, "noHate")], "m")
    long_ago = datetime.now(UTC) - timedelta(days=40)
    with store.engine.begin() as connection:
        connection.execute(update(Feedback).where(Feedback.id == old_feedback).values(created_at=long_ago))
        connection.execute(update(StoredPrediction).where(StoredPrediction.request_id == "old-request")
                           .values(created_at=long_ago))  # fmt: skip
    assert store.purge(older_than_days=30) == (1, 1)
    assert [f.id for f in store.feedback().items] == [new_feedback]
    assert store.predictions_of("old-request") == [] and len(store.predictions_of("new-request")) == 1
    assert store.purge(older_than_days=30) == (0, 0)


def test_32_concurrent_writers_lose_nothing(url: str) -> None:
    store = Store.open(url)
    with ThreadPoolExecutor(32) as pool:
        ids = list(pool.map(lambda i: store.add_feedback(f"concurrent {i}", "hate", reviewer=f"r{i % 4}"), range(320)))
    assert len(set(ids)) == 320
    assert store.feedback().total == 320
    assert {f.text for f in store.iter_feedback()} == {f"concurrent {i}" for i in range(320)}


def test_sqlite_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'wal.db'}")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_an_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(
        StoreError, match=r"cannot open the database postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:9/db"
    ) as error:
        Store.open("postgresql+psycopg://u:secret@127.0.0.1:9/db?connect_timeout=2")
    assert "secret" not in str(error.value)


def test_a_folder_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the folder"):
        Store.open(f"sqlite:///{blocked / 'sub' / 'feedback.db'}")
