"""The feedback database as the server holds it: opened once on first use, called from worker threads, purged.

Every database failure becomes one generic 503 ``database`` (its cause goes to one log line): a response never
carries SQL, parameters or hosts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from hatespeech.api.errors import ApiError
from hatespeech.errors import ErrorType, StoreError
from hatespeech.logs import log_event
from hatespeech.store import Store

logger = logging.getLogger("hatespeech.api")
PURGE_EVERY_S = 3600.0
DATABASE_DOWN = "the feedback database is unavailable or refused the operation: try again later"
T = TypeVar("T")


class Stores:
    """Opens the database once, on first use, from a worker thread (it may create a file or connect)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> Store | None:
        return self._store

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.url)
            return self._store

    async def run(self, call: Callable[[Store], T]) -> T:
        """``call(store)`` in a worker thread, opening the database first if needed. Any database failure (down,
        locked, disk full, a value it refuses) is a 503 ``database`` with a generic message; its cause goes to one
        server log line. A response never carries SQL, parameters or hosts."""
        try:
            return await run_in_threadpool(lambda: call(self.get()))
        except (StoreError, SQLAlchemyError, OSError, OverflowError) as exc:
            log_event(logger, "database_error", error=_cause(exc), level=logging.ERROR)
            raise ApiError(ErrorType.database, DATABASE_DOWN) from None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _cause(exc: BaseException) -> str:
    """The failure's type and first line (SQLAlchemy puts the statement on the lines after)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


async def purge_forever(stores: Stores, retention_days: float, store_predictions: bool) -> None:
    """At start and every hour: delete what is older than the retention (only once a database is in use)."""
    while True:
        try:
            store = stores.opened
            if store is None and store_predictions:
                store = await run_in_threadpool(stores.get)
            if store is not None:
                predictions, feedback = await run_in_threadpool(store.purge, retention_days)
                if predictions or feedback:
                    logger.info(f'{{"event": "purged", "predictions": {predictions}, "feedback": {feedback}}}')
        except Exception as exc:  # a database that is down must not end the server; the next round retries
            logger.error(f'{{"event": "purge_failed", "error": "{type(exc).__name__}"}}')
        await asyncio.sleep(PURGE_EVERY_S)
