"""MicroBatcher: order, completeness, limits, overload, abandoned requests and failure fan-out."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hatespeech.batching import BatchStats, MicroBatcher
from hatespeech.engines.base import Encoded, Prediction, Tokens
from hatespeech.errors import BackendError, Overloaded, RequestTimeout


def tokens(value: int, length: int = 3) -> Tokens:
    """A fake tokenized text whose first id identifies it."""
    return Tokens((value,) + (1,) * (length - 1), (0,) * length, False)


class EchoEngine:
    """Scores each row with its first token id, so every answer can be traced to its text."""

    def __init__(self, delay: float = 0.0, fail_on: int | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.batches: list[Encoded] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # set when a forward pass starts

    def predict_encoded(self, batch: Encoded) -> list[Prediction]:
        self.entered.set()
        self.gate.wait()
        self.batches.append(batch)
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in batch.input_ids[:, 0]:
            raise RuntimeError("boom")
        return [Prediction("hate", float(row[0]), False) for row in batch.input_ids]


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def run_batcher(batcher: MicroBatcher, requests: list[list[Tokens]]) -> list[object]:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(r, timeout=10) for r in requests), return_exceptions=True)
    finally:
        batcher.stop()


async def all_queued_then_run(batcher: MicroBatcher, engine: EchoEngine, requests: list[list[Tokens]]) -> None:
    """Queue every request while the engine is held, then let it run: the batcher plans them all at once."""
    batcher.start()
    pending = [asyncio.create_task(batcher.submit(r, timeout=10)) for r in requests]
    await asyncio.sleep(0.01)
    engine.gate.set()
    await asyncio.gather(*pending)
    batcher.stop()


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=25),
    max_batch=st.integers(min_value=1, max_value=8),
    lengths=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10),
)
def test_every_request_gets_exactly_its_own_results_in_order(
    sizes: list[int], max_batch: int, lengths: list[int]
) -> None:
    engine = EchoEngine()
    batcher = MicroBatcher(engine, max_batch_size=max_batch, max_batch_tokens=4096, max_wait_s=0.001)
    counter = iter(range(10_000))
    requests = [[tokens(next(counter), lengths[i % len(lengths)]) for i in range(n)] for n in sizes]
    results = asyncio.run(run_batcher(batcher, requests))
    for request, result in zip(requests, results, strict=True):
        assert isinstance(result, list)
        assert [p.score for p in result] == [float(t.ids[0]) for t in request]
    assert sum(len(b.input_ids) for b in engine.batches) == sum(sizes)
    assert all(len(b.input_ids) <= max_batch for b in engine.batches)


def test_concurrent_requests_share_forward_passes() -> None:
    engine = EchoEngine(delay=0.01)
    batcher = MicroBatcher(engine, max_batch_size=32, max_wait_s=0.005)
    asyncio.run(run_batcher(batcher, [[tokens(i)] for i in range(64)]))
    assert len(engine.batches) < 16


def test_batches_respect_the_padded_token_budget_and_group_by_length() -> None:
    engine = EchoEngine()
    engine.gate.clear()
    batcher = MicroBatcher(engine, max_batch_size=32, max_batch_tokens=100, max_wait_s=0.05)
    lengths = [5, 50, 6, 48, 7, 49]
    asyncio.run(all_queued_then_run(batcher, engine, [[tokens(i, n)] for i, n in enumerate(lengths)]))
    for batch in engine.batches:
        assert batch.input_ids.size <= 100
    widths = [b.input_ids.shape[1] for b in engine.batches]
    assert widths == sorted(widths)  # short texts together, long texts together


def test_a_padding_free_engine_gets_batches_by_real_tokens() -> None:
    lengths = [5, 50, 6, 48, 7, 49]
    planned = {}
    for padding_free in (False, True):
        engine = EchoEngine()
        engine.gate.clear()
        batcher = MicroBatcher(engine, max_batch_tokens=100, max_wait_s=0.05, padding_free=padding_free)
        texts = [[tokens(i, n)] for i, n in enumerate(lengths, 1)]  # ids from 1: a row's length is its nonzero ids
        asyncio.run(all_queued_then_run(batcher, engine, texts))
        planned[padding_free] = [sorted(int(n) for n in b.input_ids.astype(bool).sum(axis=1)) for b in engine.batches]
    assert planned[False] == [[5, 6, 7], [48, 49], [50]]  # rows x longest row <= 100
    assert planned[True] == [[5, 6, 7, 48], [49, 50]]  # real tokens <= 100: fewer, fuller passes


def test_full_queue_refuses_at_once() -> None:
    engine = EchoEngine()
    engine.gate.clear()
    batcher = MicroBatcher(engine, max_batch_size=1, max_queue=3, max_wait_s=0)

    async def scenario() -> None:
        batcher.start()
        first = asyncio.create_task(batcher.submit([tokens(1)], timeout=10))
        await wait_for(engine.entered.is_set)  # the inference thread holds text 1
        waiting = asyncio.create_task(batcher.submit([tokens(2), tokens(3), tokens(4)], timeout=10))
        await wait_for(lambda: batcher.depth == 3)
        with pytest.raises(Overloaded):
            await batcher.submit([tokens(5)], timeout=10)
        engine.gate.set()
        assert len(await waiting) == 3 and len(await first) == 1
        batcher.stop()

    asyncio.run(scenario())


def test_failed_batch_fails_its_requests_only() -> None:
    engine = EchoEngine(fail_on=7)
    batcher = MicroBatcher(engine, max_batch_size=1, max_wait_s=0)
    results = asyncio.run(run_batcher(batcher, [[tokens(1)], [tokens(7)], [tokens(3)]]))
    assert isinstance(results[1], BackendError)
    assert isinstance(results[0], list) and isinstance(results[2], list)


def test_timed_out_request_is_skipped_by_the_inference_thread() -> None:
    engine = EchoEngine()
    engine.gate.clear()
    batcher = MicroBatcher(engine, max_batch_size=1, max_wait_s=0)

    async def scenario() -> None:
        batcher.start()
        blocker = asyncio.create_task(batcher.submit([tokens(1)], timeout=10))
        await asyncio.sleep(0.05)
        with pytest.raises(RequestTimeout):
            await batcher.submit([tokens(2)], timeout=0.05)
        engine.gate.set()
        await blocker
        batcher.stop()

    asyncio.run(scenario())
    assert batcher.dropped == 1
    assert [int(b.input_ids[0, 0]) for b in engine.batches] == [1]


def test_stop_finishes_queued_work_and_then_refuses() -> None:
    engine = EchoEngine(delay=0.01)
    batcher = MicroBatcher(engine, max_batch_size=2, max_wait_s=0)

    async def scenario() -> None:
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit([tokens(i)], timeout=10)) for i in range(6)]
        await asyncio.sleep(0)
        await asyncio.to_thread(batcher.stop)
        results = [await t for t in tasks]
        assert all(len(r) == 1 for r in results)
        with pytest.raises(Overloaded):
            await batcher.submit([tokens(9)])

    asyncio.run(scenario())


def test_batch_stats_are_reported() -> None:
    seen: list[BatchStats] = []
    batcher = MicroBatcher(EchoEngine(), max_batch_size=4, max_wait_s=0.01, on_batch=seen.append)
    asyncio.run(run_batcher(batcher, [[tokens(i, 4)] for i in range(4)]))
    assert sum(s.size for s in seen) == 4
    assert all(s.padded_tokens == s.size * 4 and s.inference_seconds >= 0 for s in seen)


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(EchoEngine(), max_batch_size=0)


def test_collate_pads_to_the_longest() -> None:
    from hatespeech.engines.base import collate

    batch = collate([tokens(1, 2), tokens(2, 5)])
    assert batch.input_ids.shape == (2, 5)
    assert np.array_equal(batch.attention_mask[0], [1, 1, 0, 0, 0])
