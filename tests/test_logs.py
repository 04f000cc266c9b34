"""JSON log lines: time, level and logger on every line; a request's id and key name on every line logged for it;
events go through ``log_event`` (the standard library's ``extra``), never dumped to a string and parsed back."""

from __future__ import annotations

import json
import logging

from hatespeech.logs import REQUEST, JsonFormatter, log_event


def line(message: str, level: int = logging.INFO, exc_info: object = None) -> dict[str, object]:
    record = logging.LogRecord("hatespeech.api", level, __file__, 1, message, None, exc_info)  # type: ignore[arg-type]
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


class Lines(logging.Handler):
    """The formatted lines of the records a logger emits."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def event(name: str | None, **fields: object) -> dict[str, object]:
    logger = logging.getLogger("hatespeech.api.test")
    logger.setLevel(logging.INFO)
    lines = Lines()
    logger.addHandler(lines)
    try:
        log_event(logger, name, **fields)
    finally:
        logger.removeHandler(lines)
    return lines.lines[0]


def test_event_fields_are_merged_and_plain_messages_kept() -> None:
    event_line = event("ready", seconds=1.5)
    assert event_line["event"] == "ready" and event_line["seconds"] == 1.5 and event_line["level"] == "info"
    assert str(event_line["time"]).endswith("Z") and event_line["logger"] == "hatespeech.api.test"
    assert "message" not in event_line and "event" not in event(None, route="/predict")
    looks_like_json = line('{"event": "forged"}')  # a message is a message, never parsed
    assert looks_like_json["message"] == '{"event": "forged"}' and "event" not in looks_like_json
    plain = line("Started server process [42]", logging.WARNING)
    assert plain["message"] == "Started server process [42]" and plain["level"] == "warning"


def test_lines_logged_for_a_request_carry_its_id_and_key_but_never_override_an_event() -> None:
    token = REQUEST.set({"request_id": "abc", "key": "reviewer-1"})
    try:
        inside = event("database_error")
        own = event(None, request_id="given")
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
