"""Schema exactness (issue 28, item 10): what the OpenAPI schema says is what the server does: a feedback text
over maxLength is refused, a body that is not UTF-8 gets a documented 400, any ISO 8601 date is accepted and its
UTC offset honoured on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from hatespeech.store import Store

from api.live_server import RunningServer, serving

ADMIN = "admin-secret-schema-1"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def served(tiny_model: Path, tmp_path: Path, database: str) -> Iterator[tuple[RunningServer, str]]:
    with serving(tiny_model, tmp_path / "server.log", admin_keys=ADMIN, database_url=database,
                 max_text_chars="50") as server:  # fmt: skip
        yield server, database


def test_a_feedback_text_over_max_length_is_refused_and_not_stored(served: tuple[RunningServer, str]) -> None:
    server, database = served
    schema = httpx.get(f"{server.url}/openapi.json", headers=AUTH).json()
    feedback_text = schema["components"]["schemas"]["FeedbackIn"]["properties"]["text"]
    assert feedback_text["maxLength"] == 50
    refused = httpx.post(f"{server.url}/feedback", json={"text": "x" * 51, "label": "hate"}, headers=AUTH)
    assert refused.status_code == 422 and refused.json()["error_type"] == "validation"
    assert (
        httpx.post(f"{server.url}/feedback", json={"text": "x" * 50, "label": "hate"}, headers=AUTH).status_code == 201
    )
    assert [len(f.text) for f in Store.open(database).iter_feedback()] == [50]


def test_a_body_that_is_not_utf8_gets_the_documented_400(served: tuple[RunningServer, str]) -> None:
    server, _ = served
    schema = httpx.get(f"{server.url}/openapi.json", headers=AUTH).json()
    for path in ("/predict", "/feedback"):
        assert "400" in schema["paths"][path]["post"]["responses"], path
        body = b'{"text": "caf\xe9", "label": "hate"}'  # Latin-1, not UTF-8
        response = httpx.post(f"{server.url}{path}", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code in (400, 422) and response.json()["error_type"] in ("bad_request", "validation")
        assert str(response.status_code) in schema["paths"][path]["post"]["responses"]


def test_dates_in_any_iso_form_with_their_offsets_honoured(served: tuple[RunningServer, str]) -> None:
    server, _ = served
    assert (
        httpx.post(f"{server.url}/feedback", json={"text": "dated", "label": "hate"}, headers=AUTH).status_code == 201
    )
    created = datetime.fromisoformat(
        httpx.get(f"{server.url}/feedback", headers=AUTH).json()["items"][0]["created_at"].replace("Z", "+00:00")
    )
    plus_two = timezone(timedelta(hours=2))

    def total(**query: str) -> int:
        response = httpx.get(f"{server.url}/feedback", params=query, headers=AUTH)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    a_minute = timedelta(minutes=1)
    assert total(since=(created - a_minute).astimezone(plus_two).isoformat()) == 1  # 2 h "later" on the clock face
    assert total(since=(created + a_minute).astimezone(plus_two).isoformat()) == 0
    assert total(until=(created + a_minute).astimezone(plus_two).isoformat()) == 1
    assert total(since=(created - a_minute).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")) == 1  # Z for UTC
    year_end = datetime(created.year, 12, 31).date().isoformat()
    assert total(since=year_end) == (1 if created.date().isoformat() >= year_end else 0)  # the 31st is a date
    assert total(since="2024-02-29") == 1 and total(until="2024-02-29") == 0  # a leap day
    basic = (created - a_minute).astimezone(plus_two).strftime("%Y%m%dT%H%M%S%z")  # basic form: 20261231T101500+0200
    assert total(since=basic) == 1 and total(until=basic) == 0
    assert total(since="20240229") == 1 and total(since=(created + a_minute).strftime("%Y%m%dT%H%MZ")) == 0
    for bad in ("2026-02-30", "2025-02-29", "2026-04-31", "yesterday", "12", "2026-W53-1", "20261231T10:00"):
        response = httpx.get(f"{server.url}/feedback", params={"since": bad}, headers=AUTH)
        assert response.status_code == 422 and response.json()["error_type"] == "validation"
