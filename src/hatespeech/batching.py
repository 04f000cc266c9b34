"""Dynamic micro-batching: concurrent requests share forward passes on one inference thread.

Requests arrive already tokenized (bad input never reaches the queue). The inference thread takes the
first waiting text, waits up to ``max_wait_s`` for more, sorts what it has by length and cuts it into
batches capped by count (``max_batch_size``) and cost (``max_batch_tokens``): rows x longest row, or the
real tokens for an engine that drops padding itself (``padding_free``, e.g. CTranslate2).
The queue is bounded in texts: a request that does not fit fails at once with :class:`Overloaded`.
Texts of requests whose caller gave up (timeout, disconnect) are skipped. A failed forward pass fails
every request in that batch and nothing else. Each request gets exactly one result per text, in order.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hatespeech.engines.base import (
    SERVER_BATCH_SIZE,
    SERVER_BATCH_TOKENS,
    Encoded,
    Prediction,
    Tokens,
    collate,
    plan_batches,
)
from hatespeech.errors import BackendError, HateSpeechError, Overloaded, RequestTimeout


class BatchEngine(Protocol):
    """What the batcher needs from an engine."""

    def predict_encoded(self, batch: Encoded) -> list[Prediction]: ...


@dataclass(frozen=True)
class BatchStats:
    """What one forward pass did, for metrics."""

    size: int
    padded_tokens: int
    inference_seconds: float
    queue_seconds: list[float]


@dataclass
class _Job:
    """One request: its texts' results fill in as batches finish."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Prediction]]
    size: int
    results: list[Prediction | None] = field(default_factory=list)
    remaining: int = 0
    failed: bool = False

    def abandoned(self) -> bool:
        return self.failed or self.future.done()


@dataclass
class _Item:
    job: _Job
    index: int
    tokens: Tokens
    enqueued: float


_STOP = object()


class Reservation:
    """Room held in a batcher's queue for texts being tokenized; released once (by enqueue, or by hand)."""

    def __init__(self, batcher: MicroBatcher, count: int) -> None:
        self.batcher = batcher
        self.count = count

    def release(self) -> None:
        if self.count:
            self.batcher._release(self.count)
            self.count = 0


class MicroBatcher:
    """A bounded queue in front of one inference thread. Use :meth:`start`, :meth:`submit`, :meth:`stop`."""

    def __init__(
        self,
        engine: BatchEngine,
        *,
        max_batch_size: int = SERVER_BATCH_SIZE,
        max_batch_tokens: int = SERVER_BATCH_TOKENS,
        max_wait_s: float = 0.002,
        max_queue: int = 2048,
        padding_free: bool = False,
        on_batch: Callable[[BatchStats], None] | None = None,
        on_abandoned: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_batch_tokens < 1 or max_wait_s < 0:
            raise ValueError("batch size, token budget and queue size must be positive; wait >= 0")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.padding_free = padding_free
        self.on_batch = on_batch
        self.on_abandoned = on_abandoned
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._depth = 0
        self._reserved = 0  # texts of requests being tokenized: counted against the queue before they are in it
        self._lock = threading.Lock()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self.dropped = 0  # texts skipped because their request was abandoned

    @property
    def depth(self) -> int:
        """Texts waiting for inference."""
        return self._depth

    def start(self) -> None:
        if self._thread is not None:
            return
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Refuse new work, finish what is queued, then end the inference thread."""
        self._accepting = False
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def check_room(self, count: int) -> None:
        """Raise Overloaded now if ``count`` more texts would not fit (submit checks again, atomically). Texts
        being tokenized (:meth:`reserve`) count as queued."""
        if not self._accepting:
            raise Overloaded("the server is shutting down")
        if self._depth + self._reserved + count > self.max_queue:
            waiting = f"{self._depth} texts waiting, {self._reserved} being tokenized"
            raise Overloaded(f"the queue is full ({waiting}); retry shortly")

    def reserve(self, count: int) -> Reservation:
        """Hold room for ``count`` texts while they are tokenized (raises Overloaded when there is none): a burst
        of large requests is refused before it costs tokenizing. Pass it to :meth:`enqueue`, or release it."""
        with self._lock:
            self.check_room(count)
            self._reserved += count
        return Reservation(self, count)

    def _release(self, count: int) -> None:
        with self._lock:
            self._reserved -= count

    async def submit(self, tokens: Sequence[Tokens], timeout: float | None = None) -> list[Prediction]:
        """Queue tokenized texts; return their predictions in order (raises Overloaded / RequestTimeout)."""
        return await self.wait(self.enqueue(tokens), timeout)

    def enqueue(
        self, tokens: Sequence[Tokens], reservation: Reservation | None = None
    ) -> asyncio.Future[list[Prediction]]:
        """Queue tokenized texts now (no await: nothing can stop the batcher in between); await the future
        with :meth:`wait`. Raises Overloaded when they do not fit; ``reservation``'s room is theirs."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Prediction]] = loop.create_future()
        if not tokens:
            future.set_result([])
            return future
        job = _Job(loop, future, len(tokens), [None] * len(tokens), len(tokens))
        with self._lock:
            if reservation is not None:  # its room becomes theirs, atomically
                self._reserved -= reservation.count
                reservation.count = 0
            self.check_room(len(tokens))
            self._depth += len(tokens)
        now = time.perf_counter()
        for index, item in enumerate(tokens):
            self._queue.put(_Item(job, index, item, now))
        return future

    @staticmethod
    async def wait(future: asyncio.Future[list[Prediction]], timeout: float | None = None) -> list[Prediction]:
        """The predictions of an :meth:`enqueue`; after ``timeout`` s, RequestTimeout (its texts are skipped)."""
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise RequestTimeout(f"no answer within {timeout:g} s; the server is busy") from exc

    # --- inference thread -------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping or self._depth > 0:
            first = self._queue.get()
            if first is _STOP:
                stopping = True
                continue
            assert isinstance(first, _Item)
            pending = [first]
            stopping = self._gather(pending) or stopping
            self._take(len(pending))
            live = [item for item in pending if not item.job.abandoned()]
            if len(live) < len(pending):
                self.dropped += len(pending) - len(live)
                if self.on_abandoned is not None:
                    self.on_abandoned(len(pending) - len(live))
            for batch in self._plan(live):
                self._infer(batch)

    def _gather(self, pending: list[_Item]) -> bool:
        """Add waiting texts to ``pending`` until a batch is full or the wait is over; True on stop."""
        deadline = time.perf_counter() + self.max_wait_s
        # Take what is already waiting (a few batches' worth, to group by length), then wait for more
        # only while the first batch is not yet full.
        limit = self.max_batch_size * 4
        while len(pending) < limit:
            remaining = deadline - time.perf_counter()
            try:
                if len(pending) >= self.max_batch_size or remaining <= 0:
                    item = self._queue.get_nowait()
                else:
                    item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            assert isinstance(item, _Item)
            pending.append(item)
        return False

    def _take(self, count: int) -> None:
        with self._lock:
            self._depth -= count

    def _plan(self, items: list[_Item]) -> list[list[_Item]]:
        """Sort by length and cut into batches within the count and token limits."""
        lengths = [len(item.tokens) for item in items]
        planned = plan_batches(lengths, self.max_batch_size, self.max_batch_tokens, self.padding_free)
        return [[items[i] for i in batch] for batch in planned]

    def _infer(self, batch: list[_Item]) -> None:
        started = time.perf_counter()
        encoded = collate([item.tokens for item in batch])
        try:
            predictions = self.engine.predict_encoded(encoded)
            if len(predictions) != len(batch):
                raise BackendError(f"engine returned {len(predictions)} results for {len(batch)} texts")
        except Exception as exc:  # a failed batch fails its requests, never the thread
            error = exc if isinstance(exc, HateSpeechError) else BackendError(f"inference failed: {exc}")
            for job in {id(item.job): item.job for item in batch}.values():
                if not job.abandoned():
                    job.failed = True
                    job.loop.call_soon_threadsafe(_fail, job.future, error)
            return
        finished = time.perf_counter()
        for item, prediction in zip(batch, predictions, strict=True):
            job = item.job
            job.results[item.index] = prediction
            job.remaining -= 1
            if job.remaining == 0 and not job.abandoned():
                job.loop.call_soon_threadsafe(_resolve, job.future, job.results)
        if self.on_batch is not None:
            self.on_batch(
                BatchStats(
                    size=len(batch),
                    padded_tokens=encoded.tokens,
                    inference_seconds=finished - started,
                    queue_seconds=[started - item.enqueued for item in batch],
                )
            )


def _resolve(future: asyncio.Future[list[Prediction]], results: list[Prediction | None]) -> None:
    if not future.done():
        future.set_result([r for r in results if r is not None])


def _fail(future: asyncio.Future[list[Prediction]], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
