"""Request ids (issue 28, item 8): an id longer than what is stored is replaced, never a 503 after the work is done;
a reused id cannot attach a reviewer's label to the wrong text. Both databases, a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hatespeech.store import REQUEST_ID_LENGTH, Store

from api.live_server import RunningServer, serving

ADMIN = "admin-secret-for-ids-1"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def storing(tiny_model: Path, tmp_path: Path, database: str) -> Iterator[tuple[RunningServer, str]]:
    with serving(tiny_model, tmp_path / "server.log", admin_keys=ADMIN, database_url=database,
                 store_predictions="true") as server:  # fmt: skip
        yield server, database


def test_an_id_longer_than_what_is_stored_is_replaced_and_the_prediction_kept(
    storing: tuple[RunningServer, str],
) -> None:
    server, database = storing
    for length, kept in ((REQUEST_ID_LENGTH, True), (REQUEST_ID_LENGTH + 1, False), (128, False)):
        sent = "r" * length
        response = httpx.post(f"{server.url}/predict", json={"text": f"id of {length}"}, headers={"X-Request-ID": sent})
        assert response.status_code == 200, response.text
        used = response.headers["x-request-id"]
        assert (used == sent) is kept and len(used) <= REQUEST_ID_LENGTH
        assert [p.text for p in Store.open(database).predictions_of(used)] == [f"id of {length}"]


def test_a_reused_id_is_refused_for_feedback_and_nothing_is_stored(storing: tuple[RunningServer, str]) -> None:
    server, database = storing
    for text in ("what the first request said", "what the second request said"):
        httpx.post(f"{server.url}/predict", json={"text": text}, headers={"X-Request-ID": "same-id"}).raise_for_status()
    response = httpx.post(f"{server.url}/feedback", json={"request_id": "same-id", "label": "hate"}, headers=AUTH)
    assert response.status_code == 409 and response.json()["error_type"] == "ambiguous"
    assert Store.open(database).feedback().total == 0
    httpx.post(f"{server.url}/predict", json={"text": "alone"}, headers={"X-Request-ID": "unique-id"})
    labelled = httpx.post(f"{server.url}/feedback", json={"request_id": "unique-id", "label": "noHate"}, headers=AUTH)
    assert labelled.status_code == 201
    assert [f.text for f in Store.open(database).iter_feedback()] == ["alone"]
