"""Long texts cannot hide hate (issue 28, item 11): a text over the model's token limit is scored sentence by
sentence, gets its worst sentence's score with that sentence's offsets, and the number of parts is capped.
A real server on loopback: the tiny model for the mechanics, the shipped model for the attack itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from shipped import shipped_model

from hatespeech.behaviour import CASES, load_cases

from api.live_server import RunningServer, serving

ADMIN = "admin-secret-long-texts-1"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
# Sentences that end like sentences (some emoji cases end with an emoji, which the splitter rightly joins to the
# next sentence): each is one part of the padded text.
TEXTS = [case.text for case in load_cases(CASES) if case.text.rstrip()[-1] in ".!?"]


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("long-texts") / "server.log"
    # fp32: a row's score does not depend on what it is batched with (int8 scales activations per batch), and
    # the tiny model's scores are close together.
    with serving(
        tiny_model, log, admin_keys=ADMIN, max_parts="120", quantized="no", explain_min_effect="0"
    ) as running:  # every word: the tiny model's effects are small
        yield running


def scores(server: RunningServer, texts: list[str]) -> list[float]:
    found = []
    for start in range(0, len(texts), 100):  # within the cap of the server above
        response = httpx.post(f"{server.url}/predict", json={"texts": texts[start : start + 100]}, timeout=60)
        assert response.status_code == 200, response.text
        found += [p["score"] for p in response.json()["predictions"]]
    return found


def padded(server: RunningServer) -> tuple[str, str, float]:
    """Thirty of the least hateful sentences (to this model), the most hateful one, then ten more: the worst
    sentence lies far past the model's token limit."""
    ranked = sorted(zip(scores(server, TEXTS), TEXTS, strict=True))
    worst_score, worst = ranked[-1]
    benign = [text for _, text in ranked[:40]]
    return " ".join([*benign[:30], worst, *benign[30:]]), worst, worst_score


def test_benign_padding_does_not_hide_the_worst_sentence(server: RunningServer) -> None:
    text, worst, worst_score = padded(server)
    body = httpx.post(f"{server.url}/predict", json={"text": text}, timeout=60).json()
    assert body["parts"] >= 41 and body["truncated"] is False
    assert text[body["part"]["start"] : body["part"]["end"]] == worst
    assert body["score"] == pytest.approx(worst_score, abs=1e-4)
    assert body["score"] > max(scores(server, [text[: body["part"]["start"]]]))  # what truncation used to score
    metrics = httpx.get(f"{server.url}/metrics", headers=AUTH).text
    assert re.search(r"^hatespeech_split_texts_total [1-9]", metrics, re.MULTILINE)


def test_a_long_text_is_explained_over_its_worst_part(server: RunningServer) -> None:
    text, worst, _ = padded(server)
    body = httpx.post(f"{server.url}/predict", json={"text": text, "explain": True}, timeout=60).json()
    start, end = body["part"]["start"], body["part"]["end"]
    spans = body["explanation"]
    assert spans and all(start <= s["start"] < s["end"] <= end for s in spans)
    assert all(text[s["start"] : s["end"]] == s["text"] for s in spans)
    assert " ".join(s["text"] for s in spans) == worst


def test_parts_are_capped_per_request_and_the_cap_is_published(server: RunningServer) -> None:
    limits = httpx.get(f"{server.url}/model").json()["limits"]
    assert limits["max_parts"] == 120
    response = httpx.post(f"{server.url}/predict", json={"text": "Short one. " * 200}, timeout=60)
    assert response.status_code == 422
    assert response.json()["error_type"] == "validation" and "200 parts" in response.json()["error"]
    response = httpx.post(f"{server.url}/predict", json={"texts": ["Short one. " * 60, "Short one. " * 60]})
    assert response.status_code == 200  # 120 parts in all: at the cap
    refused = httpx.post(f"{server.url}/predict", json={"text": "Short one. " * 60, "truncate": False})
    assert refused.status_code == 422 and "truncate=false" in refused.json()["error"]


@pytest.mark.shipped
def test_the_shipped_model_flags_hate_hidden_after_benign_padding(tmp_path: Path) -> None:
    model = shipped_model()
    cases = load_cases(CASES)
    neutral = [c.text for c in cases if c.category == "identity_neutral"]
    hateful = [c.text for c in cases if c.category in ("dehumanising", "explicit_dislike")]
    with serving(model, tmp_path / "server.log") as server:
        neutral_scores = scores(server, neutral)
        benign = [t for t, s in zip(neutral, neutral_scores, strict=True) if s < 0.2][:12]
        flagged = [t for t, s in zip(hateful, scores(server, hateful), strict=True) if s > 0.9][:5]
        assert len(benign) == 12 and len(flagged) == 5
        padding = " ".join(benign)
        answers = httpx.post(f"{server.url}/predict", json={"texts": [padding + " " + h for h in flagged]}).json()
        alone = httpx.post(f"{server.url}/predict", json={"text": padding}).json()
    assert alone["label"] == "noHate" and alone["parts"] > 1  # the padding alone is over the limit, and benign
    for hate, answer in zip(flagged, answers["predictions"], strict=True):
        text = padding + " " + hate
        assert answer["label"] == "hate", (hate, answer)
        assert text[answer["part"]["start"] : answer["part"]["end"]] == hate
