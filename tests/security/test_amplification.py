"""Amplification (issue 28, item 9): a burst of forced reloads costs one model load, not one per request; texts
being tokenized count against the queue, so a burst of large requests is refused before it costs tokenizing."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from hatespeech.api import create_app
from hatespeech.engines.base import BaseEngine, Encoded, Split
from hatespeech.settings import Settings

from api.live_server import RunningServer, serve_in_thread
from waiting import wait_until

ADMIN = "admin-secret-burst-1"


def loads(server: RunningServer) -> float:
    metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    found = re.search(r'^hatespeech_model_reloads_total\{outcome="reloaded"\} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_burst_of_forced_reloads_is_coalesced(model_copy: Path, tmp_path: Path) -> None:
    server = RunningServer(model_copy, {"HATESPEECH_ADMIN_KEYS": ADMIN}, tmp_path / "server.log")
    server.wait_ready()
    try:
        before = loads(server)

        def force_reload(_: int) -> httpx.Response:
            return httpx.post(f"{server.url}/admin/reload?force=true", headers={"Authorization": f"Bearer {ADMIN}"},
                              timeout=120)  # fmt: skip

        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(force_reload, range(40)))
        assert [a.status_code for a in answers] == [200] * 40
        assert {a.json()["status"] for a in answers} == {"reloaded"}
        done = loads(server) - before
        assert 1 <= done <= 3, f"{done} model loads for 40 reload requests"
        assert httpx.post(f"{server.url}/predict", json={"text": "still serving"}).status_code == 200
    finally:
        server.stop()


class SlowTokenizer(BaseEngine):
    """The tiny model's tokenizer, held at a gate once warmed up: a request stays in tokenization."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.gate, self.tokenizing, self.warm = threading.Event(), threading.Event(), False

    def split(self, texts: Sequence[str]) -> list[Split]:
        if self.warm:
            self.tokenizing.set()
            self.gate.wait(60)
        self.warm = True
        return super().split(texts)

    def forward(self, batch: Encoded) -> np.ndarray:
        return np.zeros((len(batch.input_ids), 2), dtype=np.float32)


def test_texts_being_tokenized_count_against_the_queue(tiny_model: Path) -> None:
    engine = SlowTokenizer(tiny_model)
    settings = Settings(model_dir=tiny_model, max_queue=8, max_texts=8)
    with serve_in_thread(create_app(settings, engine=engine)) as url, ThreadPoolExecutor(2) as pool:
        wait_until(lambda: httpx.get(f"{url}/ready").status_code == 200, what="ready")
        # Over the inline limit in characters (tokenized on a worker thread), within the model's in tokens: 8 rows.
        long_texts = ["a text padded with spaces" + " " * 600 for _ in range(8)]
        first = pool.submit(httpx.post, f"{url}/predict", json={"texts": long_texts}, timeout=60)
        wait_until(engine.tokenizing.is_set, what="the first request in tokenization")
        refused = httpx.post(f"{url}/predict", json={"text": "one more"}, timeout=10)
        assert refused.status_code == 503 and refused.json()["error_type"] == "overloaded"
        assert "being tokenized" in refused.json()["error"]
        engine.gate.set()
        assert first.result().status_code == 200
        assert httpx.post(f"{url}/predict", json={"text": "room again"}, timeout=10).status_code == 200
