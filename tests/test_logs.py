"""JSON log lines: time, level and logger on every line; a request's id and key name on every line logged for it."""

from __future__ import annotations

import json
import logging

from hatespeech.logs import REQUEST, JsonFormatter


def line(message: str, level: int = logging.INFO, exc_info: object = None) -> dict[str, object]:
    record = logging.LogRecord("hatespeech.api", level, __file__, 1, message, None, exc_info)  # type: ignore[arg-type]
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_event_fields_are_merged_and_plain_messages_kept() -> None:
    event = line(json.dumps({"event": "ready", "seconds": 1.5}))
    assert event["event"] == "ready" and event["seconds"] == 1.5 and event["level"] == "info"
    assert str(event["time"]).endswith("Z") and event["logger"] == "hatespeech.api"
    plain = line("Started server process [42]", logging.WARNING)
    assert plain["message"] == "Started server process [42]" and plain["level"] == "warning"


def test_lines_logged_for_a_request_carry_its_id_and_key_but_never_override_an_event() -> None:
    token = REQUEST.set({"request_id": "abc", "key": "reviewer-1"})
    try:
        inside = line(json.dumps({"event": "database_error"}))
        own = line(json.dumps({"request_id": "given"}))
    finally:
        REQUEST.reset(token)
    assert inside["request_id"] == "abc" and inside["key"] == "reviewer-1"
    assert own["request_id"] == "given"
    assert "request_id" not in line("outside any request")


def test_an_exception_is_one_line_with_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = line("it failed", logging.ERROR, sys.exc_info())
    assert "ValueError: boom" in str(failed["exception"]) and failed["message"] == "it failed"
