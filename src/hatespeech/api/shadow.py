"""The shadow model: a candidate that scores live traffic off the response path, to compare with the primary.

After the primary has answered a request, its texts and predictions are offered to the shadow: a bounded
queue and one low-priority thread with its own engine (one ONNX Runtime thread, at the lowest CPU priority
on Linux). Offering never blocks and never raises: when the queue is full, the texts are dropped and counted.
The thread scores what it takes, compares labels and scores with the primary's, and counts the result in
Prometheus metrics and in the summary ``GET /admin/shadow`` returns.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hatespeech.api.metrics import ShadowMetrics
from hatespeech.engines.base import BaseEngine, Prediction
from hatespeech.logs import log_event

logger = logging.getLogger("hatespeech.api")
SHADOW_BATCH = 32  # texts per shadow forward pass, at most
_STOP = object()


@dataclass
class ShadowSummary:
    """The comparison so far, between one primary version and one shadow version."""

    primary: str
    shadow: str
    compared: int = 0
    agreed: int = 0
    difference_sum: float = 0.0
    dropped: int = 0
    failed: int = 0
    labels: dict[str, dict[str, int]] = field(default_factory=lambda: {"primary": {}, "shadow": {}})

    def as_dict(self) -> dict[str, Any]:
        return {
            "primary_version": self.primary,
            "shadow_version": self.shadow,
            "compared": self.compared,
            "agreed": self.agreed,
            "agreement": self.agreed / self.compared if self.compared else None,
            "mean_abs_difference": self.difference_sum / self.compared if self.compared else None,
            "labels": self.labels,
            "dropped": self.dropped,
            "failed": self.failed,
        }


@dataclass
class _Offer:
    texts: list[str]
    primary: list[Prediction]


class Shadow:
    """A shadow engine, its queue and thread, comparing against the primary ``primary_version``."""

    def __init__(self, engine: BaseEngine, version: str, directory: Path, primary_version: str,
                 metrics: ShadowMetrics, max_queue: int) -> None:  # fmt: skip
        self.engine, self.version, self.directory = engine, version, directory
        self.metrics, self.max_queue = metrics, max_queue
        self.summary = ShadowSummary(primary_version, version)
        self._queue: queue.SimpleQueue[_Offer | object] = queue.SimpleQueue()
        self._queued = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    @property
    def _names(self) -> tuple[str, str]:
        return self.summary.primary, self.version

    def offer(self, texts: Sequence[str], primary: Sequence[Prediction]) -> None:
        """Queue texts the primary has answered; drop them (counted) when the queue is full. Never raises."""
        try:
            with self._lock:
                if self._queued + len(texts) > self.max_queue:
                    self.summary.dropped += len(texts)
                    self.metrics.dropped.labels(*self._names).inc(len(texts))
                    return
                self._queued += len(texts)
            self._queue.put(_Offer(list(texts), list(primary)))
        except Exception as exc:  # the shadow must never fail a response
            log_event(logger, "shadow_offer_failed", error=str(exc), level=logging.ERROR)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread; what is still queued is not scored."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        _lowest_priority()
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Offer)
            offers = [first]
            while sum(len(o.texts) for o in offers) < SHADOW_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    return
                assert isinstance(more, _Offer)
                offers.append(more)
            self._score(offers)

    def _score(self, offers: list[_Offer]) -> None:
        texts = [t for o in offers for t in o.texts]
        primary = [p for o in offers for p in o.primary]
        try:
            for mine, theirs in zip(self.engine.predict(texts), primary, strict=True):
                self._count(mine, theirs)
        except Exception as exc:
            self.summary.failed += len(texts)
            self.metrics.failed.labels(*self._names).inc(len(texts))
            log_event(logger, "shadow_failed", version=self.version, error=str(exc), level=logging.ERROR)
        finally:
            with self._lock:
                self._queued -= len(texts)

    def _count(self, shadow: Prediction, primary: Prediction) -> None:
        names, summary = self._names, self.summary
        agree = shadow.label == primary.label
        difference = abs(shadow.score - primary.score)
        summary.compared += 1
        summary.agreed += agree
        summary.difference_sum += difference
        for model, prediction in (("primary", primary), ("shadow", shadow)):
            counts = summary.labels[model]
            counts[prediction.label] = counts.get(prediction.label, 0) + 1
            self.metrics.labels.labels(*names, model, prediction.label).inc()
        self.metrics.compared.labels(*names, "yes" if agree else "no").inc()
        self.metrics.difference.labels(*names).observe(difference)


def _lowest_priority() -> None:
    """Nice 19 for this thread (Linux sets priorities per thread), so the primary's work always comes first."""
    with suppress(OSError, AttributeError):  # not Linux, or not allowed: the bounded queue still protects the primary
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
