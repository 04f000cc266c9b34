"""Hostile and odd input against the real server: the right 4xx with a JSON body, or 200; never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest

JSON = {"content-type": "application/json"}

LEGITIMATE_TEXTS = [
    "emoji 🙂🔥👍🏽 and a flag 🇪🇸",
    "right-to-left: שלום עולם and مرحبا بالعالم",
    "combining: e\u0301 a\u0308 o\u0303\u0323 Z\u0336\u0337a\u0335l\u0334g\u0336o",
    "non-English: これは日本語の文です。Это русский текст. Ceci est une phrase française.",
    "control characters \x01\x02\x1b[31m bell \x07 form feed \x0c",
    "zero width \u200b\u200c\u200d joiners and BOM \ufeff",
    "a" * 5000,  # one long word
    "🙂" * 3000,
]


@pytest.mark.parametrize("text", LEGITIMATE_TEXTS)
def test_odd_but_legitimate_text_is_classified(client: httpx.Client, text: str) -> None:
    response = client.post("/predict", json={"text": text})
    assert response.status_code == 200, response.text
    assert response.json()["label"] in ("hate", "noHate")


def test_lone_surrogates_are_refused_as_invalid_unicode(client: httpx.Client) -> None:
    body = b'{"text": "lone \\ud800 surrogate and \\udfff another"}'
    response = client.post("/predict", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert "unicode" in response.json()["error"].lower()


def test_a_valid_surrogate_pair_is_classified(client: httpx.Client) -> None:
    response = client.post("/predict", content=b'{"text": "pair \\ud83d\\ude42 ok"}', headers=JSON)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json at all",
        b'{"text": "\xff\xfe invalid utf-8"}',
        b"\xff\xfe\x00\x00",
        b'{"text": NaN}',
        b'{"text": Infinity}',
        b'{"texts": [NaN]}',
        b'{"text": "a"} trailing',
        b"[" * 5000 + b"]" * 5000,
        b'{"text": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
        b'{"text": "dup", "text": 5}',
    ],
)
def test_malformed_bodies_get_a_4xx_json_error(client: httpx.Client, body: bytes) -> None:
    response = client.post("/predict", content=body, headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error_type"]


def test_a_1mb_text_is_refused_as_too_large(client: httpx.Client) -> None:
    response = client.post("/predict", json={"text": "word " * 200_000})
    assert response.status_code == 413 and response.json()["error_type"] == "payload_too_large"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_wrong_methods_are_405(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/predict", json={"text": "a"})
    assert response.status_code == 405 and response.json()["error_type"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/predict/", "/admin", "/../etc/passwd", "/%00", "/static/../../x"])
def test_unknown_paths_are_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 405) and response.json()["error_type"]


def test_everything_still_works_after_the_abuse(client: httpx.Client) -> None:
    for body in (b"{", b"[" * 5000, b'{"text": NaN}'):
        client.post("/predict", content=body, headers=JSON)
    response = client.post("/predict", json={"texts": ["still", "answering"]})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2
    assert json.loads(client.get("/health").text) == {"status": "ok"}
