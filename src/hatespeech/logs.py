"""Structured logs: one JSON object per line, with time, level and logger, and the request's id and key name.

The package's modules log events with :func:`log_event` (the standard library's ``extra``: the fields travel on
the record, never dumped to a string and parsed back); the formatter puts them on the line. Any other message (a
library's, uvicorn's) becomes ``"message"``. While a
request is handled, :data:`REQUEST` holds its id and, once the key is checked, the key's name (never its
secret): every line logged on its behalf carries them, the access log line included.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST: ContextVar[dict[str, str] | None] = ContextVar("hatespeech_request", default=None)


FIELDS = "hatespeech_fields"  # the record attribute :func:`log_event` puts its fields in


def log_event(
    logger: logging.Logger,
    event: str | None,
    record: Mapping[str, object] | None = None,
    /,
    *,
    level: int = logging.INFO,
    **fields: object,
) -> None:
    """One structured line: ``{"event": event, **record, **fields}`` (no ``event`` key when it is None: the access
    log's lines)."""
    named: dict[str, object] = {"event": event} if event is not None else {}
    logger.log(level, event or "request", extra={FIELDS: {**named, **(record or {}), **fields}})


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", ...fields or "message", "request_id"?, "key"?, "exception"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line: dict[str, object] = {"time": moment, "level": record.levelname.lower(), "logger": record.name}
        fields = getattr(record, FIELDS, None)
        line.update(fields if isinstance(fields, dict) else {"message": record.getMessage()})
        for name, value in (REQUEST.get() or {}).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str) -> None:
    """Send every logger's records, as JSON lines, to stderr at ``level`` (replaces earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's own handlers would print plain text
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
