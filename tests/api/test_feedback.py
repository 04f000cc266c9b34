"""Feedback and the review queue through a real server on loopback, stored in a real SQLite file and a real
PostgreSQL server: nothing is lost across a restart, a kill -9 in the middle of writes, or 32 clients."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hatespeech.store import Store

from api.live_server import RunningServer

KEY = "admin-key-51e0"  # named "ann": an admin key (posts feedback, reads it back)
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'hatespeech.db'}"
    return str(request.getfixturevalue("postgres").new_database())


def start(model: Path, database: str, log: Path, **settings: str) -> RunningServer:
    env = {"HATESPEECH_DATABASE_URL": database, "HATESPEECH_ADMIN_KEYS": f"ann:{KEY}",
           "HATESPEECH_STORE_PREDICTIONS": "true"}  # fmt: skip
    env.update({f"HATESPEECH_{k.upper()}": v for k, v in settings.items()})
    server = RunningServer(model, env, log)
    server.wait_ready()
    return server


@pytest.fixture
def served(tiny_model: Path, database: str, tmp_path: Path) -> Iterator[tuple[RunningServer, str]]:
    server = start(tiny_model, database, tmp_path / "server.log")
    yield server, database
    server.stop()


def post(server: RunningServer, body: dict[str, object], auth: bool = True) -> httpx.Response:
    return httpx.post(f"{server.url}/feedback", json=body, headers=AUTH if auth else {}, timeout=30)


def test_feedback_by_text_and_by_request_id_is_stored_and_listed(served: tuple[RunningServer, str]) -> None:
    server, _ = served
    predicted = httpx.post(f"{server.url}/predict", json={"texts": ["first", "second one"]}, headers=AUTH)
    request_id = predicted.headers["x-request-id"]
    by_id = post(server, {"request_id": request_id, "position": 1, "label": "hate", "note": "n"})
    by_text = post(server, {"text": "a text typed by hand", "label": "noHate"})
    assert by_id.status_code == 201 and by_text.status_code == 201
    page = httpx.get(f"{server.url}/feedback", headers=AUTH).json()
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [by_text.json()["id"], by_id.json()["id"]]
    stored = page["items"][1]
    assert (
        stored["text"] == "second one" and stored["reviewer"] == "ann" and stored["request_id"] == request_id
    )  # the key's name
    assert stored["model_score"] == pytest.approx(predicted.json()["predictions"][1]["score"])
    assert httpx.get(f"{server.url}/feedback?label=noHate", headers=AUTH).json()["total"] == 1
    # The review queue leaves out what was reviewed.
    queue = httpx.get(f"{server.url}/review?limit=10", headers=AUTH).json()["items"]
    assert [(i["request_id"], i["position"]) for i in queue] == [(request_id, 0)]


MALFORMED = [
    ({"label": "hate"}, 422, "validation"),  # neither text nor request id
    ({"text": "x", "request_id": "y", "label": "hate"}, 422, "validation"),  # both
    ({"text": "x", "label": "spam"}, 422, "validation"),
    ({"text": "   ", "label": "hate"}, 422, "validation"),
    ({"text": "x", "label": "hate", "reviewer": "someone else"}, 422, "validation"),  # the key names the reviewer
    ({"text": "x", "label": "hate", "extra": 1}, 422, "validation"),
    ({"text": "x", "label": "hate", "note": "n" * 2001}, 422, "validation"),
    ({"text": "x", "request_id": None, "label": "hate"}, 422, "validation"),  # null: leave it out instead
    ({"text": "x", "label": "hate", "position": True}, 422, "validation"),
    ({"text": "x", "label": "hate", "position": 1.5}, 422, "validation"),
    ({"request_id": "never-stored", "label": "hate"}, 404, "not_found"),
    ({"request_id": "never-stored", "position": 2.0, "label": "hate"}, 404, "not_found"),  # 2.0 is an integer
]


def test_malformed_feedback_is_a_json_error_and_stores_nothing(served: tuple[RunningServer, str]) -> None:
    server, database = served
    for body, status, error_type in MALFORMED:
        response = post(server, body)
        assert (response.status_code, response.json()["error_type"]) == (status, error_type), body
    assert Store.open(database).feedback().total == 0


def test_reading_stored_texts_needs_a_key(served: tuple[RunningServer, str]) -> None:
    server, _ = served
    assert httpx.get(f"{server.url}/feedback").status_code == 401
    assert httpx.get(f"{server.url}/review").status_code == 401
    assert post(server, {"text": "x", "label": "hate"}, auth=False).status_code == 401


def test_nothing_is_stored_unless_feedback_is_sent_or_storing_is_on(tiny_model: Path, tmp_path: Path) -> None:
    server = RunningServer(tiny_model, {"HATESPEECH_STATE_DIR": str(tmp_path / "state")}, tmp_path / "log")
    server.wait_ready()
    try:
        assert httpx.post(f"{server.url}/predict", json={"text": "private text"}).status_code == 200
    finally:
        server.stop()
    assert not (tmp_path / "state").exists()


def test_feedback_survives_a_restart(tiny_model: Path, database: str, tmp_path: Path) -> None:
    server = start(tiny_model, database, tmp_path / "one.log")
    ids = [post(server, {"text": f"before restart {i}", "label": "hate"}).json()["id"] for i in range(5)]
    server.stop()
    server = start(tiny_model, database, tmp_path / "two.log")
    try:
        page = httpx.get(f"{server.url}/feedback", headers=AUTH).json()
        assert sorted(i["id"] for i in page["items"]) == sorted(ids)
    finally:
        server.stop()


def test_kill_9_while_writing_loses_no_acknowledged_record_and_leaves_no_partial_one(
    tiny_model: Path, database: str, tmp_path: Path
) -> None:
    server = start(tiny_model, database, tmp_path / "one.log")
    acknowledged: list[int] = []
    sent = {f"kill test {i} " + "x" * (i % 50): "hate" if i % 3 else "noHate" for i in range(2000)}

    killed = threading.Event()

    def send(item: tuple[str, str]) -> None:
        if killed.is_set():
            return  # nothing left to learn from posts to a dead server (each would cost a new client)
        try:
            response = post(server, {"text": item[0], "label": item[1], "note": item[0][::-1]})
        except httpx.TransportError:
            return  # the server died under this request: it was never acknowledged
        if response.status_code == 201:
            acknowledged.append(response.json()["id"])
            if len(acknowledged) == 150:
                os.kill(server.process.pid, signal.SIGKILL)
                killed.set()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, sent.items()))
    server.process.wait(30)
    assert 150 <= len(acknowledged) < len(sent)  # killed mid-stream
    store = Store.open(database)
    records = list(store.iter_feedback())
    assert set(acknowledged) <= {r.id for r in records}  # every 201 is on disk
    for record in records:  # and every record on disk is whole
        assert sent[record.text] == record.label and record.note == record.text[::-1]
    server = start(tiny_model, database, tmp_path / "two.log")  # and the server starts on that database
    try:
        assert httpx.get(f"{server.url}/feedback", headers=AUTH).json()["total"] == len(records)
    finally:
        server.stop()


def test_32_concurrent_clients_lose_nothing(served: tuple[RunningServer, str]) -> None:
    server, database = served
    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(lambda i: post(server, {"text": f"client {i}", "label": "hate"}), range(320)))
    assert [r.status_code for r in responses] == [201] * 320
    assert len({r.json()["id"] for r in responses}) == 320
    assert httpx.get(f"{server.url}/feedback?limit=1", headers=AUTH).json()["total"] == 320
    assert {f.text for f in Store.open(database).iter_feedback()} == {f"client {i}" for i in range(320)}
