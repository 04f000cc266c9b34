"""Every error path returns the one JSON error body with the right status, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest


def assert_error(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.keys() == {"error", "error_type"}
    assert body["error_type"] == error_type and body["error"]


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ""},
        {"text": "   \n\t"},
        {"text": None},
        {"text": 42},
        {"text": ["a"]},
        {"text": {"a": 1}},
        {"texts": []},
        {"texts": ["ok", ""]},
        {"texts": ["ok", 3]},
        {"texts": "not a list"},
        {"inputs": 1},
        {},
        {"txt": "typo"},
        {"text": "a", "texts": ["b"]},
        {"text": "a", "unknown": 1},
        {"text": "a", "raw_scores": True},
        {"text": "nul \u0000 inside"},
        # Strict types: no lax coercion of numbers to booleans or of booleans and strings to integers.
        {"inputs": "a sentence", "raw_scores": 0},
        {"text": "a", "truncate": 1},
        {"text": "a", "truncate": "true"},
        {"inputs": "a", "parameters": {"top_k": True}},
        {"inputs": "a", "parameters": {"top_k": "1"}},
        {"inputs": "a", "parameters": {"top_k": 1.5}},
        {"inputs": "a", "parameters": {"top_k": 0}},
        {"inputs": "a", "parameters": "top_k=1"},
        # Whitespace as Python counts it (U+001E, U+3000), which JSON Schema's \s does not all cover.
        {"text": "\u001e\u001e"},
        {"texts": ["ok", "\u3000 \u2029"]},
    ],
)
def test_invalid_bodies_are_422(client: httpx.Client, payload: object) -> None:
    assert_error(client.post("/predict", json=payload), 422, "validation")


def test_json_schema_integers_and_unknown_hugging_face_parameters_pass(client: httpx.Client) -> None:
    body = {"inputs": "a", "parameters": {"top_k": 1.0, "function_to_apply": "none"}, "raw_scores": False}
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200 and len(answer.json()) == 1


def test_a_blank_text_gets_a_readable_message(client: httpx.Client) -> None:
    message = client.post("/predict", json={"text": "\u001e\t"}).json()["error"]
    assert message == "text: a text needs a character that is not whitespace, and no NUL byte"


@pytest.mark.parametrize("payload", [[1, 2], 3, None, "text", True])
def test_non_object_json_is_422(client: httpx.Client, payload: object) -> None:
    response = client.post("/predict", content=json.dumps(payload), headers={"content-type": "application/json"})
    assert_error(response, 422, "validation")


def test_too_many_texts_is_422(client: httpx.Client) -> None:
    assert client.post("/predict", json={"texts": ["t"] * 16}).status_code == 200
    assert_error(client.post("/predict", json={"texts": ["t"] * 17}), 422, "validation")


def test_invalid_json_is_422(client: httpx.Client) -> None:
    response = client.post("/predict", content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert_error(response, 422, "validation")


def test_empty_body_is_422(client: httpx.Client) -> None:
    assert_error(client.post("/predict", headers={"content-type": "application/json"}), 422, "validation")


def test_body_over_the_limit_is_413(client: httpx.Client) -> None:
    assert_error(client.post("/predict", json={"text": "x" * 70_000}), 413, "payload_too_large")


def test_streamed_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> object:
        yield b'{"text": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    assert_error(client.post("/predict", content=b'{"text": "a"}', headers={"content-type": "text/plain"}), 415,
                 "unsupported_media_type")  # fmt: skip
    assert_error(client.post("/predict", data={"text": "a"}), 415, "unsupported_media_type")


def test_wrong_method_is_405(client: httpx.Client) -> None:
    assert_error(client.get("/predict"), 405, "method_not_allowed")


def test_405_allows_every_method_of_the_path(client: httpx.Client) -> None:
    """/feedback has two routes (POST and GET): Allow names both, not just the first route's."""
    response = client.delete("/feedback")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    assert client.delete("/predict").headers["allow"] == "POST"


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert_error(client.get("/nope"), 404, "not_found")


def test_server_still_answers_after_bad_requests(client: httpx.Client) -> None:
    client.post("/predict", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert client.post("/predict", json={"text": "still here"}).status_code == 200


def test_every_error_type_has_one_status_and_the_access_log_reads_it_from_the_request() -> None:
    from hatespeech.api.errors import STATUS_BY_ERROR_TYPE, ErrorResponse
    from hatespeech.errors import ErrorType

    assert set(STATUS_BY_ERROR_TYPE) == set(ErrorType)
    scope: dict[str, object] = {"type": "http", "state": {}}
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    import asyncio

    asyncio.run(ErrorResponse(ErrorType.rate_limited, "slow down")(scope, receive, send))  # type: ignore[arg-type]
    assert scope["state"] == {"error_type": ErrorType.rate_limited} and sent[0]["status"] == 429
