"""Load and bookkeeping for the hot-reload tests: clients that never stop sending distinct texts, and when
each model version may have answered."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

from api.live_server import RunningServer


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    version: str


class Load:
    """``clients`` threads posting distinct texts to /predict until stopped; every answer is kept."""

    def __init__(self, url: str, clients: int) -> None:
        self.url, self.answers, self.stopping = url, list[Answer](), threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]

    def _client(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            sent_count = 0
            while not self.stopping.is_set():
                sent_count += 1
                sent = time.monotonic()
                try:
                    response = http.post("/predict", json={"text": f"client {index} sends text number {sent_count}"})
                    answer = Answer(sent, time.monotonic(), response.status_code,
                                    response.headers.get("x-model-version", ""))  # fmt: skip
                except httpx.HTTPError as exc:
                    answer = Answer(sent, time.monotonic(), 0, type(exc).__name__)
                self.answers.append(answer)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def wait_for(self, count: int) -> None:
        """Until ``count`` more answers came in (so each swap happens under load)."""
        target = len(self.answers) + count
        deadline = time.monotonic() + 60
        while len(self.answers) < target and time.monotonic() < deadline:
            time.sleep(0.01)


class Timeline:
    """When each version may have been current: from the start of the swap to it, to the end of the next."""

    def __init__(self, first: str) -> None:
        self.spans = [[first, 0.0, float("inf")]]

    def swap(self, version: str, started: float, done: float) -> None:
        self.spans[-1][2] = done
        self.spans.append([version, started, float("inf")])

    def allows(self, answer: Answer) -> bool:
        return any(v == answer.version and s <= answer.received and answer.sent <= e for v, s, e in self.spans)


def wait_for_version(server: RunningServer, version: str) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/ready", timeout=5).json().get("version") != version:
        assert time.monotonic() < deadline, f"{version} never became current"
        time.sleep(0.02)


def wait_for_log(server: RunningServer, marker: str, count: int, timeout: float = 180) -> None:
    """Until the serve process has logged ``marker`` ``count`` times (its redeploy reports)."""
    deadline = time.monotonic() + timeout
    while server.log_text().count(marker) < count:
        assert time.monotonic() < deadline, f"no {count}x {marker!r} in the log: {server.log_text()[-2000:]}"
        time.sleep(0.1)


def settled_on(server: RunningServer, version: str) -> None:
    """Until 20 readiness answers in a row come from ``version`` (Ray's proxies route to the new replicas)."""
    streak, deadline = 0, time.monotonic() + 60
    while streak < 20:
        assert time.monotonic() < deadline, f"replicas of {version} never took over"
        streak = streak + 1 if httpx.get(f"{server.url}/ready", timeout=10).json().get("version") == version else 0
        time.sleep(0.02)
