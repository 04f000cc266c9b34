"""The web page at GET /, in a real headless Chromium against the real server on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from hatespeech.data import load_split

from api.live_server import RunningServer

pytestmark = pytest.mark.browser
KEY = "browser-test-key-3c1d"


@pytest.fixture(scope="module")
def keyed_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = RunningServer(tiny_model, {"HATESPEECH_API_KEYS": KEY}, tmp_path_factory.mktemp("keyed") / "log")
    running.wait_ready()
    yield running
    running.stop()


def open_page(page: Any, url: str) -> tuple[list[str], list[str]]:
    """Open the page; returns the lists that collect console errors and every requested URL."""
    errors: list[str] = []
    requested: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url + "/")
    # A locator wait, not wait_for_function: that one evaluates a string in the page, which the page's
    # Content-Security-Policy (no 'unsafe-eval') rightly refuses.
    expect(page.locator("#model-info")).to_have_text(re.compile(r"^Model "), timeout=30_000)
    return errors, requested


def test_page_is_served_offline_with_a_strict_content_security_policy(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "http://" not in response.text and "https://" not in response.text  # no CDN
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200


def test_classify_one_sentence_shows_label_score_and_confidence_bar(page: Any, server: RunningServer) -> None:
    errors, requested = open_page(page, server.url)
    expect(page.locator("#model-card")).to_have_attribute("href", "/model/card")  # the model card, linked
    page.get_by_label("Text to classify").fill("We should welcome our new neighbours.")
    page.get_by_role("button", name="Classify").click()
    label = page.locator("#result-label")
    label.wait_for(state="visible")
    assert label.inner_text() in ("hate", "noHate")
    score = float(page.locator("#result-score").inner_text())
    assert 0.0 <= score <= 1.0
    expected = httpx.post(f"{server.url}/predict", json={"text": "We should welcome our new neighbours."}).json()
    assert label.inner_text() == expected["label"] and score == pytest.approx(expected["score"], abs=1e-4)
    width = page.eval_on_selector("#result-bar", "el => el.getBoundingClientRect().width")
    assert width > 0
    expect(page.locator("#result-parts")).to_be_hidden()  # one part: nothing to say
    assert errors == []  # no script errors, no Content-Security-Policy violations
    assert all(url.startswith(server.url) for url in requested), requested  # nothing leaves the server


def test_classify_highlights_the_words_that_moved_the_score(page: Any, server: RunningServer) -> None:
    text = "Some of these words matter more than others."
    errors, _ = open_page(page, server.url)
    page.get_by_label("Text to classify").fill(text)
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#why")).to_be_visible()
    expected = httpx.post(f"{server.url}/predict", json={"text": text, "explain": True}).json()["explanation"]
    words = page.locator("#why-text .word")
    assert words.all_inner_texts() == [s["text"] for s in expected]
    shown = [float(w.get_attribute("data-contribution") or "nan") for w in words.all()]
    assert shown == pytest.approx([s["contribution"] for s in expected], abs=1e-9)
    assert page.locator("#why-text").inner_text().replace("\n", "").startswith("Some")
    for word, span in zip(words.all(), expected, strict=True):  # both directions, by colour and by line style
        assert ("up" if span["contribution"] >= 0 else "down") in (word.get_attribute("class") or "")
    # The text alternative: every word is also said in words, and the strongest ones are listed each way.
    hidden = page.locator("#why-text .visually-hidden").all_inner_texts()
    assert len(hidden) == len(expected) and all("hate" in h for h in hidden)
    top = max(expected, key=lambda s: s["contribution"])
    listed = page.locator("#why-up li").all_inner_texts() + page.locator("#why-down li").all_inner_texts()
    if top["contribution"] > 0:
        assert page.locator("#why-up li").first.inner_text().startswith(top["text"])
    assert 1 <= len(listed) <= 10
    assert errors == []


def test_review_mode_labels_the_queue_with_key_presses(tiny_model: Path, tmp_path: Path, page: Any) -> None:
    env = {"HATESPEECH_ADMIN_KEYS": KEY, "HATESPEECH_STORE_PREDICTIONS": "true",
           "HATESPEECH_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    server = RunningServer(tiny_model, env, tmp_path / "log")
    server.wait_ready()
    try:
        auth = {"Authorization": f"Bearer {KEY}"}
        texts = ["first stored text", "second stored text", "third stored text"]
        httpx.post(f"{server.url}/predict", json={"texts": texts}, headers=auth).raise_for_status()
        errors, _ = open_page(page, server.url)
        page.get_by_role("radio", name="Review queue").check()
        expect(page.get_by_role("alert")).to_contain_text("API key")  # the queue is behind the key
        page.get_by_label("API key").fill(KEY)
        page.get_by_label("API key").press("Enter")
        page.get_by_label("API key").blur()  # 'change' fires; the queue loads
        item = page.locator("#review-text")
        expect(item).to_be_visible()
        shown = [item.inner_text()]
        page.keyboard.press("h")
        expect(item).not_to_have_text(shown[0])
        shown.append(item.inner_text())
        page.keyboard.press("s")  # skipped: no feedback
        expect(item).not_to_have_text(shown[1])
        shown.append(item.inner_text())
        page.get_by_role("button", name="Not hate").click()
        expect(page.locator("#review-progress")).to_contain_text("Saved 2 labels")
        assert sorted(shown) == sorted(texts)
        stored = httpx.get(f"{server.url}/feedback", headers=auth).json()["items"]
        assert {(f["text"], f["label"]) for f in stored} == {(shown[0], "hate"), (shown[2], "noHate")}
        assert [e for e in errors if "status of 401" not in e] == []  # the browser logs the keyless 401s
    finally:
        server.stop()


def test_a_long_text_says_which_part_decided_and_marks_its_words(page: Any, server: RunningServer) -> None:
    text = " ".join(f"Sentence number {i} is about the weather today." for i in range(40))
    errors, _ = open_page(page, server.url)
    page.get_by_label("Text to classify").fill(text)
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#result-parts")).to_be_visible()
    expected = httpx.post(f"{server.url}/predict", json={"text": text, "explain": True}).json()
    start, end = expected["part"]["start"], expected["part"]["end"]
    assert f"scored in {expected['parts']} parts" in page.locator("#result-parts").inner_text()
    assert f"characters {start}\u2013{end}" in page.locator("#result-parts").inner_text()
    assert " ".join(page.locator("#why-text .word").all_inner_texts()) == text[start:end]
    assert errors == []


def test_empty_text_shows_an_error_and_no_result(page: Any, server: RunningServer) -> None:
    open_page(page, server.url)
    page.get_by_role("button", name="Classify").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "empty" in alert.inner_text()
    assert page.locator("#result").is_hidden()


def test_text_over_the_size_limit_shows_the_servers_message(page: Any, server: RunningServer) -> None:
    open_page(page, server.url)
    page.get_by_label("Text to classify").fill("word " * 20_000)  # 100 kB: over the fixture's 64 KiB body limit
    page.get_by_role("button", name="Classify").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "too large" in alert.inner_text() and "65536" in alert.inner_text()


def test_batch_of_20_lines_gives_a_sortable_table(page: Any, server: RunningServer, shared_data: Path) -> None:
    texts = [t.strip() for t in load_split(shared_data, "sampled_test").texts if "\n" not in t][:20]
    open_page(page, server.url)
    page.get_by_label("Batch (one text per line)").check()
    page.get_by_label("Texts to classify, one per line").fill("\n".join(texts) + "\n\n")
    page.get_by_role("button", name="Classify").click()
    rows = page.locator("#batch-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 20  # over the server's 16-texts limit: the page split the batch in two requests
    expected = httpx.post(f"{server.url}/predict", json={"texts": texts[:16]}).json()["predictions"]
    first_cells = rows.nth(0).locator("td").all_inner_texts()
    assert first_cells[0] == "1" and first_cells[1] == texts[0]
    assert float(first_cells[3]) == pytest.approx(expected[0]["score"], abs=1e-4)

    score_header = page.get_by_role("button", name="P(hate)")
    score_header.click()
    shown = [float(t) for t in page.locator("#batch-table tbody td:nth-child(4)").all_inner_texts()]
    assert shown == sorted(shown)
    assert page.locator("th", has=score_header).get_attribute("aria-sort") == "ascending"
    score_header.press("Enter")  # keyboard works too: Enter on the focused header sorts the other way
    shown = [float(t) for t in page.locator("#batch-table tbody td:nth-child(4)").all_inner_texts()]
    assert shown == sorted(shown, reverse=True)
    assert page.locator("th", has=score_header).get_attribute("aria-sort") == "descending"


def test_keyboard_only_use(page: Any, server: RunningServer) -> None:
    open_page(page, server.url)
    page.get_by_label("Text to classify").focus()
    page.keyboard.type("They are all vermin and should be driven out.")
    page.keyboard.press("Control+Enter")
    page.locator("#result-label").wait_for(state="visible")
    assert page.locator("#result-label").inner_text() in ("hate", "noHate")


def test_every_control_has_a_label_and_the_page_fits_a_phone(browser: Any, server: RunningServer) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        open_page(phone, server.url)
        unlabelled = phone.evaluate(
            "[...document.querySelectorAll('input, textarea')].filter(el => el.labels.length === 0).map(el => el.id)"
        )
        assert unlabelled == []
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        box = phone.get_by_role("button", name="Classify").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    finally:
        context.close()


def test_api_key_field_appears_on_401_and_the_key_is_used(page: Any, keyed_server: RunningServer) -> None:
    page.goto(keyed_server.url + "/")
    key_field = page.get_by_label("API key")
    key_field.wait_for(state="visible")  # /model answered 401, so the page asks for a key
    page.get_by_label("Text to classify").fill("hello there")
    key_field.fill("wrong-key")
    page.get_by_role("button", name="Classify").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "refused" in alert.inner_text()
    key_field.fill(KEY)
    page.get_by_role("button", name="Classify").click()
    page.locator("#result-label").wait_for(state="visible")
    assert alert.is_hidden()


def test_overload_message_tells_when_to_retry(page: Any, server: RunningServer) -> None:
    """A 503 from an overloaded server (hard to provoke on time in a browser test) is answered by the page
    with the server's message and Retry-After; the response is stubbed at the network layer."""
    open_page(page, server.url)
    body = '{"error": "server overloaded: 2048 texts queued", "error_type": "overloaded"}'
    page.route(
        "**/predict",
        lambda route: route.fulfill(
            status=503, body=body, headers={"Content-Type": "application/json", "Retry-After": "2"}
        ),
    )
    page.get_by_label("Text to classify").fill("hello")
    page.get_by_role("button", name="Classify").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "busy" in alert.inner_text() and "2 s" in alert.inner_text()
