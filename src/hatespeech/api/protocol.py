"""uvicorn's HTTP protocol (httptools) with the limits slow clients need, which uvicorn does not have itself.

- **Header deadline**: a connection must send a request's complete headers within ``HATESPEECH_HEADER_TIMEOUT_S``
  of opening (or of the request's first byte); otherwise 408 ``request_timeout`` and the connection is closed.
  Without it, a client that opens sockets and sends a header byte now and then holds them for ever.
- **Connection limit**: beyond ``HATESPEECH_MAX_CONNECTIONS`` open connections, a new one gets 503 ``overloaded``
  and is closed at once, before it can hold a buffer.
- **Per address**: one client address holds at most ``HATESPEECH_MAX_CONNECTIONS_PER_ADDRESS`` of them (then the
  same 503), so that one host cannot take every place. Behind a proxy every connection has the proxy's address:
  raise it to the connection limit there.

The body deadline is :class:`hatespeech.api.middleware.BodyLimitMiddleware`'s; idle keep-alive connections close
after ``HATESPEECH_KEEP_ALIVE_S`` (uvicorn's own timer). ``hatespeech serve`` passes this class as uvicorn's
``http`` implementation; it reads its limits from the environment once per process (each worker is one).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from functools import cache
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hatespeech.errors import ErrorType
from hatespeech.settings import Settings


@cache
def _limits() -> tuple[float, int, int]:
    settings = Settings()
    return settings.header_timeout_s, settings.max_connections, settings.max_connections_per_address


def _response(status: str, error_type: ErrorType, message: str) -> bytes:
    body = json.dumps({"error": message, "error_type": error_type}).encode()
    head = (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")  # fmt: skip
    return head.encode("latin-1") + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a header deadline and a connection limit (see the module docstring)."""

    _header_deadline: asyncio.TimerHandle | None = None
    _address: str | None = None  # counted in ``per_address`` while open
    per_address: ClassVar[Counter[str]] = Counter()  # open connections by client address (one event loop per process)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        timeout, max_connections, per_address = _limits()
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if len(self.connections) > max_connections:
            self._refuse(transport, f"the server has {max_connections} connections open; retry shortly")
            return
        if self.per_address[address] >= per_address:
            self._refuse(transport, f"{address} has {per_address} connections open, the most one address may")
            return
        self._address = address
        self.per_address[address] += 1
        self._arm(timeout)

    @staticmethod
    def _refuse(transport: asyncio.Transport, message: str) -> None:
        transport.write(_response("503 Service Unavailable", ErrorType.overloaded, message))
        transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:  # from the request's first byte (a new connection is armed already)
            self._arm(_limits()[0])

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            self.per_address[self._address] -= 1
            if self.per_address[self._address] <= 0:
                del self.per_address[self._address]
            self._address = None
        super().connection_lost(exc)

    def _arm(self, timeout: float) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(timeout, self._headers_too_slow, timeout)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self, timeout: float) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        message = f"the request's headers did not arrive within {timeout:g} s"
        self.transport.write(_response("408 Request Timeout", ErrorType.request_timeout, message))
        self.transport.close()
