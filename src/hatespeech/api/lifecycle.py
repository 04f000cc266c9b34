"""The model a server runs, and replacing it while it serves: load at start, hot reload, the link watch.

A :class:`Live` model is an engine with its own micro-batcher. A request takes the live model once and
uses it throughout (tokenizer, queue, version header), so a swap never mixes two models in one answer.
A reload verifies, loads and warms the new model beside the old one, then swaps in one assignment on the
event loop; the old batcher then finishes what was queued for it and stops, and the old model is freed
once its last request has answered. At most two models are loaded at once (reloads take a lock). A model
that fails to load leaves the old one serving: the error goes to ``/ready``, the log and a metric.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from hatespeech.api.service import Live, ModelService, PendingReload, ReloadOutcome
from hatespeech.api.shadow import Shadow
from hatespeech.batching import MicroBatcher
from hatespeech.engines.base import BaseEngine
from hatespeech.logs import log_event
from hatespeech.settings import Settings

logger = logging.getLogger("hatespeech.api")
WARM_UP_TEXT = "warm-up forward pass"
RELEASE_AFTER_S = 2.0  # by then the requests that held the old model have answered


@dataclass(frozen=True)
class Opened:
    """An engine opened for a model dir: its exact name, why, and whether ``auto`` still has to measure this CPU
    (it then serves what ``onnx`` serves until the measurement ends)."""

    engine: BaseEngine
    name: str
    reason: str
    measure: bool = False


def load_engine(settings: Settings, directory: Path | None = None, threads: int | None = None) -> Opened:
    """Verify a model dir (default: where ``model_dir`` points now) and open it in the engine ``settings.engine``
    names (:mod:`hatespeech.engines.registry`). ``auto`` never measures here: it opens the engine measured on this
    CPU (the state dir's record, or the model dir's from its export), else what ``onnx`` serves, and says so."""
    from hatespeech import artifact
    from hatespeech.engines.choice import decide
    from hatespeech.engines.registry import open_engine

    directory = directory or settings.model_dir.resolve()
    artifact.verify(directory)
    threads = threads or settings.intra_op_threads()
    decided = decide(
        directory, settings.engine, threads=threads, quantized=settings.quantized,
        max_drop=settings.max_int8_accuracy_drop, state_dir=settings.state_dir,
    )  # fmt: skip
    reason = decided.reason if settings.engine == "auto" else f"HATESPEECH_ENGINE={settings.engine}: {decided.reason}"
    return Opened(open_engine(directory, decided.name, threads), decided.name.value, reason, decided.measure)


async def load_warm(settings: Settings, directory: Path, threads: int | None = None) -> Opened:
    """:func:`load_engine` off the event loop, then one warm-up forward pass."""
    opened = await asyncio.to_thread(load_engine, settings, directory, threads)
    await asyncio.to_thread(opened.engine.predict, [WARM_UP_TEXT])
    return opened


async def measure_then_switch(service: ModelService, directory: Path) -> None:
    """``auto`` on a CPU not measured before: measure every engine in a child process while the model serves, keep
    the result in the state dir, and swap the fastest in (a reload: no request fails); a failure is logged and
    the engine serving stays."""
    from hatespeech.engines.choice import calibrate_in_background, keep
    from hatespeech.engines.registry import resolve
    from hatespeech.versions import version_id

    settings = service.settings
    threads, drop = settings.intra_op_threads(), settings.max_int8_accuracy_drop
    baseline = resolve(directory, "onnx", quantized=settings.quantized, max_drop=drop).name
    started = time.perf_counter()
    log_event(logger, "engine_measuring", model_dir=str(directory))
    try:
        calibration = await calibrate_in_background(directory, threads, drop, baseline)
    except Exception as exc:  # never fatal: the engine that serves goes on
        log_event(logger, "engine_measure_failed", error=str(exc), level=logging.ERROR)
        return
    keep(calibration, version_id(directory), baseline, settings.state_dir)
    log_event(
        logger,
        "engine_measured",
        chosen=calibration.chosen,
        reason=calibration.reason,
        seconds=round(time.perf_counter() - started, 1),
    )
    live = service.live
    if live is not None and live.directory == directory and live.engine_name != calibration.chosen:
        await reload(service, "engine measured", force=True)


def schedule_measurement(service: ModelService, opened: Opened, directory: Path) -> None:
    """Start :func:`measure_then_switch` when ``opened`` asks for it and none is under way."""
    if opened.measure and (service.measuring is None or service.measuring.done()):
        service.measuring = asyncio.create_task(measure_then_switch(service, directory))


def start_live(service: ModelService, engine: BaseEngine, name: str, directory: Path, reason: str = "") -> Live:
    """Put a batcher (with the service's limits and metrics) in front of a warmed-up engine."""
    from hatespeech.versions import version_id

    settings = service.settings
    batcher = MicroBatcher(
        engine,
        max_batch_size=settings.max_batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        max_wait_s=settings.max_wait_ms / 1000.0,
        max_queue=settings.max_queue,
        padding_free=engine.padding_free,
        on_batch=service.metrics.observe_batch,
        on_abandoned=service.metrics.abandoned.inc,
    )
    batcher.start()
    return Live(engine, name, batcher, version_id(directory), directory, reason)


async def bring_up(service: ModelService, engine: BaseEngine | None = None) -> None:
    """At start: load (or take ``engine``), warm up and start serving; a failure is kept for ``/ready``."""
    directory = service.settings.model_dir.resolve()
    try:
        opened: Opened | None = None
        if engine is None:
            opened = await load_warm(service.settings, directory)
            engine, name, why = opened.engine, opened.name, opened.reason
        else:
            name, directory = type(engine).__name__, engine.info.directory.resolve()
            why = "given to create_app"
            await asyncio.to_thread(engine.predict, [WARM_UP_TEXT])
    except Exception as exc:  # reported by /ready and the log; the process keeps answering
        service.load_error, service.failed_target = str(exc), directory
        log_event(logger, "model_load_failed", error=str(exc), level=logging.ERROR)
        return
    live = start_live(service, engine, name, directory, why)
    _go_live(service, live)
    log_event(
        logger,
        "ready",
        engine=name,
        engine_reason=why,
        version=live.version,
        recipe="quick" if engine.info.quick else "full",
        model_dir=str(service.settings.model_dir),
        seconds=round(time.monotonic() - service.started, 3),
    )
    if opened is not None:
        schedule_measurement(service, opened, directory)
    async with service.reload_lock:
        await refresh_shadow(service)


async def reload(service: ModelService, reason: str, force: bool = False) -> ReloadOutcome:
    """Load what ``settings.model_dir`` points to now and swap it in; the old model keeps serving until then.
    Whatever the outcome, the shadow is then brought in line (its link may have moved on its own).

    Coalesced: a reload asked for while one of the same target (forced, when this one is) is queued or under way
    gets that one's outcome instead of loading the model again, so a burst of requests costs one load. The shared
    reload is shielded: a caller that goes away does not cancel it for the others."""
    target = service.settings.model_dir.resolve()
    pending: PendingReload | None = service.pending_reload
    if pending is not None and not pending.task.done() and pending.target == target and pending.force >= force:
        return await asyncio.shield(pending.task)
    task = asyncio.ensure_future(_reload_in_turn(service, reason, force))
    service.pending_reload = PendingReload(target, force, task)
    return await asyncio.shield(task)


async def _reload_in_turn(service: ModelService, reason: str, force: bool) -> ReloadOutcome:
    async with service.reload_lock:
        outcome = await _swap(service, reason, force)
        await refresh_shadow(service)
        return outcome


async def _swap(service: ModelService, reason: str, force: bool) -> ReloadOutcome:
    started = time.perf_counter()
    old: Live | None = service.live
    previous = old.version if old else None
    directory = service.settings.model_dir.resolve()
    if old is not None and directory == old.directory and not force:
        return ReloadOutcome("unchanged", previous, previous, 0.0)
    try:
        opened = await load_warm(service.settings, directory)
    except Exception as exc:  # the old model goes on serving
        error = f"{directory.name}: {exc}"
        service.reload_error, service.failed_target = error, directory
        service.metrics.reloads.labels("failed").inc()
        log_event(logger, "model_reload_failed", reason=reason, error=error, level=logging.ERROR)
        return ReloadOutcome("failed", previous, previous, round(time.perf_counter() - started, 3), error)
    new = start_live(service, opened.engine, opened.name, directory, opened.reason)
    _go_live(service, new)
    schedule_measurement(service, opened, directory)
    service.metrics.reloads.labels("reloaded").inc()
    seconds = round(time.perf_counter() - started, 3)
    log_event(
        logger,
        "model_reloaded",
        reason=reason,
        engine=new.engine_name,
        version=new.version,
        recipe="quick" if new.engine.info.quick else "full",
        previous=previous,
        seconds=seconds,
    )
    if old is not None:
        await asyncio.to_thread(old.batcher.stop, service.settings.request_timeout_s)  # its queue finishes
        del old
        asyncio.get_running_loop().call_later(RELEASE_AFTER_S, release_memory)
    return ReloadOutcome("reloaded", new.version, previous, seconds)


def shadow_target(settings: Settings) -> Path | None:
    """Where the shadow model dir points now (None: no shadow configured, or the link is gone)."""
    if settings.shadow_model_dir is None or not settings.shadow_model_dir.exists():
        return None
    return settings.shadow_model_dir.resolve()


async def refresh_shadow(service: ModelService) -> None:
    """Make the shadow match its dir and the primary serving now (called with the reload lock held).

    A new shadow starts its comparison from zero; one that fails to load is reported in ``/admin/shadow``
    and the log, and leaves no shadow (the primary is never affected).
    """
    from hatespeech.versions import version_id

    old, live, wanted = service.shadow, service.live, shadow_target(service.settings)
    if old is not None and live is not None and (old.directory, old.summary.primary) == (wanted, live.version):
        return
    service.shadow, service.shadow_error, service.shadow_failed_target = None, None, None
    engine: BaseEngine | None = old.engine if old is not None and old.directory == wanted else None  # kept
    if old is not None:
        await asyncio.to_thread(old.stop)
        del old
        asyncio.get_running_loop().call_later(RELEASE_AFTER_S, release_memory)
    if wanted is None or live is None or wanted == live.directory:
        return
    try:
        engine = engine or (await load_warm(service.settings, wanted, threads=1)).engine
    except Exception as exc:
        service.shadow_error, service.shadow_failed_target = f"{wanted.name}: {exc}", wanted
        log_event(logger, "shadow_load_failed", error=service.shadow_error, level=logging.ERROR)
        return
    max_queue = service.settings.shadow_max_queue
    service.shadow = Shadow(engine, version_id(wanted), wanted, live.version, service.metrics.shadow, max_queue)
    log_event(logger, "shadow_ready", shadow=service.shadow.version, primary=live.version)


def release_memory() -> None:
    """Free the old model's memory for real: collect it, then hand glibc's free pages back to the system
    (without ``malloc_trim`` the server's RSS keeps the old model's size after every swap)."""
    gc.collect()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _go_live(service: ModelService, live: Live) -> None:
    """The swap: one assignment on the event loop; requests that took the old model keep it."""
    if service.live is not None:  # before the new label: a forced reload keeps the same version
        service.metrics.model_info.remove(service.live.version)
    service.live = live
    service.ready = True
    service.load_error = service.reload_error = service.failed_target = None
    service.metrics.model_info.labels(live.version).set(1)


async def watch_link(service: ModelService, every_s: float) -> None:
    """Reload whenever ``model_dir`` comes to point somewhere new (a target that failed is not retried)."""
    while True:
        await asyncio.sleep(every_s)
        target = Path(os.path.realpath(service.settings.model_dir))
        live, shadow = service.live, service.shadow
        moved = live is None or target != live.directory
        wanted = shadow_target(service.settings)
        wanted = None if live is not None and wanted == live.directory else wanted
        shadow_moved = wanted != (shadow.directory if shadow else None) and wanted != service.shadow_failed_target
        if (moved and target != service.failed_target) or shadow_moved:
            try:
                await reload(service, "watch")
            except Exception as exc:  # never end the watch
                log_event(logger, "model_watch_failed", error=str(exc), level=logging.ERROR)
