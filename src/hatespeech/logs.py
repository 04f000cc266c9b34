"""Structured logs: one JSON object per line, with time, level and logger, and the request's id and key name.

The server's modules log events as JSON objects (``logger.info(json.dumps({"event": ...}))``); the formatter
merges their fields into the line. Any other message (a library's, uvicorn's) becomes ``"message"``. While a
request is handled, :data:`REQUEST` holds its id and, once the key is checked, the key's name (never its
secret): every line logged on its behalf carries them, the access log line included.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST: ContextVar[dict[str, str] | None] = ContextVar("hatespeech_request", default=None)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", ...fields or "message", "request_id"?, "key"?, "exception"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line: dict[str, object] = {"time": moment, "level": record.levelname.lower(), "logger": record.name}
        message = record.getMessage()
        fields = _json_object(message)
        line.update(fields if fields is not None else {"message": message})
        for name, value in (REQUEST.get() or {}).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _json_object(message: str) -> dict[str, object] | None:
    if not message.startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
