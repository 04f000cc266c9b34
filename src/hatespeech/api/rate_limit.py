"""Per-key rate limits (the ``limits`` library's moving window, in this process's memory).

Each key has its own budget (``HATESPEECH_RATE_LIMIT``, e.g. ``50/second;1000/minute``); requests without a key
share one budget per client address (``HATESPEECH_ANONYMOUS_RATE_LIMIT``). Past it: 429 ``rate_limited`` with
``Retry-After``. The public routes (health, readiness, the page) are never limited. Counts live in each server
process: with N workers or replicas a client gets up to N times the budget (docs/security.md).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from hatespeech.api.errors import error_response
from hatespeech.api.security import ANYONE
from hatespeech.errors import ErrorType


def parse_rate(value: str) -> list[RateLimitItem]:
    """``50/second;1000/minute`` -> the limits; empty -> none. A ValueError names what is wrong."""
    return parse_many(value) if value.strip() else []


class RateLimitMiddleware:
    """429 with ``Retry-After`` once a key (or an anonymous address) has used its budget; runs after the key
    check, which puts the matched key in the request's state."""

    def __init__(self, app: ASGIApp, per_key: str, anonymous: str) -> None:
        self.app = app
        self.per_key = parse_rate(per_key)
        self.anonymous = parse_rate(anonymous)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("state", {}).get("access") in (ANYONE, None):  # open routes, 405s
            await self.app(scope, receive, send)
            return
        key = scope.get("state", {}).get("api_key")
        client = scope.get("client")
        identity = f"key:{key.name}" if key is not None else f"address:{client[0] if client else 'unknown'}"
        items = self.per_key if key is not None else self.anonymous
        wait = self._wait(items, identity)
        if wait is not None:
            who = f"key '{key.name}'" if key is not None else "this address (no key)"
            response = error_response(ErrorType.rate_limited, f"{who} is over its rate limit: retry after {wait} s",
                                      {"Retry-After": str(wait)})  # fmt: skip
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _wait(self, items: list[RateLimitItem], identity: str) -> int | None:
        """None when the request fits every limit (and is counted); else the seconds until it would."""
        if not items:
            return None
        if all(self.limiter.test(item, identity) for item in items):
            for item in items:
                self.limiter.hit(item, identity)
            return None
        now = time.time()
        resets = [self.limiter.get_window_stats(item, identity).reset_time for item in items
                  if not self.limiter.test(item, identity)]  # fmt: skip
        return max(1, math.ceil(max(resets, default=now + 1) - now))
