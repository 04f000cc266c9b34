"""The server's live state, typed: :class:`ModelService` and what it holds. Handlers get it by dependency.

One :class:`ModelService` per app: the settings and metrics, the primary model (:class:`Live`) and the shadow,
readiness and the last errors, the reload lock and the reload being coalesced, and the feedback database.
Everything that changes it runs on the event loop (:mod:`hatespeech.api.lifecycle`); a request takes the live
model once (:meth:`ModelService.require_live`) and keeps it, so a swap never mixes two models in one answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request

from hatespeech.api.errors import ApiError
from hatespeech.api.metrics import Metrics
from hatespeech.api.shadow import Shadow
from hatespeech.api.stores import Stores
from hatespeech.batching import MicroBatcher
from hatespeech.engines.base import BaseEngine
from hatespeech.errors import ErrorType
from hatespeech.settings import Settings


@dataclass(frozen=True)
class Live:
    """A loaded, warmed-up model and the batcher in front of it."""

    engine: BaseEngine
    engine_name: str
    batcher: MicroBatcher
    version: str
    directory: Path
    engine_reason: str = ""


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``reloaded``, ``unchanged`` (already serving that dir) or ``failed``."""

    status: Literal["reloaded", "unchanged", "failed"]
    version: str | None
    previous: str | None
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class PendingReload:
    """A reload queued or under way: what it loads, whether it is forced, and its outcome to come."""

    target: Path
    force: bool
    task: asyncio.Future[ReloadOutcome]


@dataclass
class ModelService:
    """Everything a request handler needs: settings, metrics, the stores and (once loaded) the live model."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    stores: Stores = field(default_factory=lambda: Stores(""))
    live: Live | None = None
    ready: bool = False
    load_error: str | None = None  # the model could not be loaded at start: not ready
    reload_error: str | None = None  # the last reload failed: the previous model still serves
    failed_target: Path | None = None
    started: float = field(default_factory=time.monotonic)
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending_reload: PendingReload | None = None  # the reload others asking now join (coalesced)
    shadow: Shadow | None = None
    shadow_error: str | None = None  # the shadow model could not be loaded
    shadow_failed_target: Path | None = None
    measuring: asyncio.Task[None] | None = None  # auto measuring this CPU's engines (api/lifecycle.py)
    heartbeat: float = field(default_factory=time.monotonic)  # the event loop's last beat (api/management.py)

    def require_live(self) -> Live:
        """The model serving now; a 503 ``not_ready`` while there is none."""
        live = self.live
        if not self.ready or live is None:
            raise ApiError(ErrorType.not_ready, f"not ready: {self.load_error or 'the model is still loading'}")
        return live


def service_of(app: FastAPI) -> ModelService:
    """The :class:`ModelService` that ``create_app`` gave ``app``."""
    service = app.state.service
    if not isinstance(service, ModelService):
        raise TypeError(f"app.state.service is {type(service).__name__}, not ModelService")
    return service


def get_service(request: Request) -> ModelService:
    """The app's :class:`ModelService` (a FastAPI dependency; tests may override it)."""
    return service_of(request.app)


ServiceDep = Annotated[ModelService, Depends(get_service)]
