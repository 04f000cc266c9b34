"""What ``auto`` serves: the engine measured fastest on this CPU (:mod:`hatespeech.engines.measure` says how),
measured once per CPU, model version and thread count and kept as JSON: in the model dir at export (the exporting
machine's), in the state dir while serving (``engines.json``), so a restart does not measure again. The measuring
runs in a child process, at a lower priority, so the server never holds more than the engine it serves.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hatespeech.engines.measure import METHOD, Calibration, cpu_description
from hatespeech.engines.registry import DEFAULT_MAX_DROP, EngineName, Resolved, candidates, resolve
from hatespeech.errors import ModelError

logger = logging.getLogger(__name__)
CACHE_FILE = "engines.json"


def _key(threads: int, baseline: str, version: str = "") -> str:
    """An entry's key: this CPU (model and flags), the thread count, the baseline and (in the state dir, which
    serves many versions) the model version."""
    text = f"{cpu_description()}|{version}|{threads}|{baseline}|{METHOD}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _entries(path: Path) -> dict[str, Any]:
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _entry(path: Path, key: str) -> Calibration | None:
    found = _entries(path).get(key)
    if not isinstance(found, dict):
        return None
    try:
        return Calibration.from_dict(found)
    except (TypeError, KeyError):
        logger.warning("ignoring a malformed entry in %s", path)
        return None


def _store(path: Path, key: str, calibration: Calibration) -> None:
    """Add an entry (atomically); a read-only folder costs a measurement next time, never an error."""
    entries = _entries(path)
    entries[key] = asdict(calibration)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(entries, indent=2) + "\n")
        partial.replace(path)
    except OSError as exc:
        logger.warning("cannot keep the engine measurement in %s: %s", path, exc)


def lookup(directory: Path, version: str, threads: int, baseline: str, state_dir: Path | None) -> Calibration | None:
    """``auto``'s measurement for this CPU, if there is one: the state dir's (measured while serving), else the
    model dir's own (measured at export, on the machine that exported it)."""
    found = _entry(state_dir / CACHE_FILE, _key(threads, baseline, version)) if state_dir is not None else None
    return found or _entry(directory / CACHE_FILE, _key(threads, baseline))


def decide(
    directory: Path,
    setting: str,
    *,
    threads: int,
    quantized: str = "auto",
    max_drop: float = DEFAULT_MAX_DROP,
    state_dir: Path | None = None,
) -> Resolved:
    """The engine a setting opens on this CPU. ``auto``: the one measured here (:func:`lookup`) if this
    installation can run it; else what ``onnx`` serves, with ``measure`` set when nothing was measured here (the
    server then measures in the background; the CLI and the Python API never measure)."""
    from hatespeech.versions import version_id

    resolved = resolve(directory, setting, quantized=quantized, max_drop=max_drop)
    if not resolved.measure:
        return resolved
    found = lookup(directory, version_id(directory), threads, resolved.name, state_dir)
    runnable = candidates(directory)
    if found is None and len(runnable) < 2:  # a serving copy with one graph, say
        return Resolved(resolved.name, f"auto: {resolved.name} is the one engine that can run here")
    if found is None:
        return resolved
    chosen = EngineName(found.chosen)
    if chosen not in runnable:  # measured where OpenVINO was installed, say, and served where it is not
        return Resolved(
            resolved.name, f"auto: {found.chosen} was measured fastest on this CPU but this installation cannot run "
            f"it, so what onnx serves ({resolved.name})",
        )  # fmt: skip
    return Resolved(chosen, f"auto: {found.reason}")


def _command(directory: Path, threads: int, max_drop: float, baseline: str) -> list[str]:
    return [sys.executable, "-m", "hatespeech.engines.measure", str(directory), str(threads), str(max_drop), baseline]


def _parsed(stdout: bytes | str, stderr: bytes | str, code: int | None) -> Calibration:
    out = stdout.decode() if isinstance(stdout, bytes) else stdout
    err = stderr.decode() if isinstance(stderr, bytes) else stderr
    if code != 0 or not out.strip():
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"measuring the engines failed (exit {code}): {last}")
    found = json.loads(out.strip().splitlines()[-1])
    return Calibration.from_dict(found)


def calibrate_apart(directory: Path, threads: int, max_drop: float, baseline: str) -> Calibration:
    """:func:`calibrate` in a child process (at a lower CPU priority): the engines it tries never stay in this
    process's memory, and torch (at export) never reaches them."""
    done = subprocess.run(_command(directory, threads, max_drop, baseline), capture_output=True, check=False)
    return _parsed(done.stdout, done.stderr, done.returncode)


async def calibrate_in_background(directory: Path, threads: int, max_drop: float, baseline: str) -> Calibration:
    """:func:`calibrate_apart` for the event loop; cancelling it kills the child at once (a shutdown never waits
    for a measurement)."""
    process = await asyncio.create_subprocess_exec(
        *_command(directory, threads, max_drop, baseline), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        stdout, stderr = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    return _parsed(stdout, stderr, process.returncode)


def choose(
    directory: Path, version: str, threads: int, max_drop: float, state_dir: Path, baseline: str = EngineName.ONNX_FP32
) -> Calibration:
    """``auto``'s choice for this model version on this CPU: as measured before, else measured now and kept in
    the state dir."""
    found = lookup(directory, version, threads, baseline, state_dir)
    if found is not None:
        return found
    calibration = calibrate_apart(directory, threads, max_drop, baseline)
    keep(calibration, version, baseline, state_dir)
    return calibration


def keep(calibration: Calibration, version: str, baseline: str, state_dir: Path) -> None:
    """Keep a measurement made while serving in the state dir."""
    _store(state_dir / CACHE_FILE, _key(calibration.threads, baseline, version), calibration)


def measure_at_export(directory: Path, threads: int, max_drop: float, baseline: str) -> Calibration:
    """Measure on the exporting machine and keep the result in the model dir (before its manifest is written), so
    that a server on the same kind of CPU starts on the fastest engine at once."""
    calibration = calibrate_apart(directory, threads, max_drop, baseline)
    _store(directory / CACHE_FILE, _key(threads, baseline), calibration)
    return calibration
