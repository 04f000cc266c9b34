"""What ``auto`` serves: every engine this machine can run (:func:`~hatespeech.engines.registry.candidates`),
measured once per CPU, model version and thread count; the fastest that passes the parity gate wins:

- **Parity**: on the model dir's parity sentences (``parity.jsonl``: the project's generated frames, written at
  export; never the test split), a candidate's accuracy may fall at most ``max_drop`` below ONNX Runtime fp32's
  (the bound int8 has always had), and its labels must agree with fp32's on all but that share.
- **Speed**: texts per second over the same texts, in length-sorted batches of 32, as the micro-batcher sends them,
  the engines taking turns (best of ``ROUNDS``).
  Another engine replaces the baseline (what ``onnx`` would serve) only when it is ``MIN_GAIN`` faster: a tie
  within measurement noise keeps today's engine.

The measuring runs in a child process, so the server never holds more than the engine it serves; the result is
cached as JSON in the state dir (``engines.json``), so a restart does not measure again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from hatespeech.artifact import PARITY_FILE
from hatespeech.engines.base import BaseEngine, Encoded, collate, length_batches
from hatespeech.engines.registry import EngineName, candidates, open_engine
from hatespeech.errors import ModelError

logger = logging.getLogger(__name__)
CACHE_FILE = "engines.json"
BATCH = 32
ROUNDS = 3  # timed passes per engine, taken in turns
MIN_GAIN = 1.05  # how much faster than the baseline another engine must be to replace it


@dataclass(frozen=True)
class Trial:
    """One candidate, measured: its speed, its accuracy against the reference's, and whether it may serve."""

    engine: str
    texts_per_s: float
    accuracy: float
    agreement: float
    passed: bool
    error: str | None = None


@dataclass(frozen=True)
class Calibration:
    """What ``auto`` chose for one CPU, model version and thread count, and why."""

    chosen: str
    reason: str
    cpu: str
    threads: int
    texts: int
    trials: list[Trial]


def cpu_description() -> str:
    """The CPU's model name and the flags that decide engine speed (what the cache is keyed by)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")
    return f"{model} [{' '.join(f for f in wanted if f in flags)}]"


def parity_texts(directory: Path) -> tuple[list[str], np.ndarray]:
    """The model dir's parity sentences (``parity.jsonl``, written at export) and whether each is hate."""
    path = directory / PARITY_FILE
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts, hate = [str(r["text"]) for r in rows], np.array([r["label"] == "hate" for r in rows])
    except FileNotFoundError:
        raise ModelError(
            f"{directory} has no {PARITY_FILE}, which auto checks engines on: export it again "
            f"(`hatespeech export --model {directory}`), or name an engine"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if not texts:
        raise ModelError(f"{path} is empty")
    return texts, hate


def _batches(engine: BaseEngine, texts: list[str]) -> tuple[list[int], list[Encoded]]:
    """The texts' order by length, and their length-sorted batches (as the micro-batcher makes them)."""
    rows = [split.rows[0] for split in engine.split(texts)]  # parity texts are sentences: one part each
    batches = length_batches([len(row) for row in rows], BATCH)
    return [i for batch in batches for i in batch], [collate([rows[i] for i in batch]) for batch in batches]


def _score(engine: BaseEngine, order: list[int], batches: list[Encoded]) -> np.ndarray:
    """P(hate) of every text in input order (one pass, which also warms the engine up)."""
    scores = np.zeros(len(order))
    predictions = [p for batch in batches for p in engine.predict_encoded(batch)]
    for index, prediction in zip(order, predictions, strict=True):
        scores[index] = prediction.score
    return scores


def _seconds(engine: BaseEngine, batches: list[Encoded]) -> float:
    """Wall time of one pass over ``batches``."""
    started = time.perf_counter()
    for batch in batches:
        engine.predict_encoded(batch)
    return time.perf_counter() - started


def calibrate(directory: Path, threads: int, max_drop: float, baseline: str = EngineName.ONNX_FP32) -> Calibration:
    """Measure every candidate on the parity sentences; choose the fastest that passes the parity gate, if it is
    ``MIN_GAIN`` faster than ``baseline`` (what ``onnx`` serves), else the baseline.

    Every candidate scores all sentences once (parity); then the engines take turns timing every other batch,
    ``ROUNDS`` times, best time kept: turns spread the machine's drift over all of them alike."""
    texts, hate = parity_texts(directory)
    opened: dict[EngineName, BaseEngine] = {}
    scored: dict[EngineName, np.ndarray] = {}
    errors: dict[EngineName, str] = {}
    order: list[int] = []
    batches: list[Encoded] = []
    names = candidates(directory)
    for name in names:
        try:
            engine = open_engine(directory, name, threads)
            if not batches:
                order, batches = _batches(engine, texts)
            scored[name], opened[name] = _score(engine, order, batches), engine
        except ModelError as exc:
            errors[name] = str(exc)
    timed = batches[::2]
    fastest = dict.fromkeys(opened, float("inf"))
    for _ in range(ROUNDS):
        for name, engine in opened.items():
            fastest[name] = min(fastest[name], _seconds(engine, timed))
    timed_texts = sum(batch.input_ids.shape[0] for batch in timed)
    trials: list[Trial] = []
    reference: np.ndarray | None = None
    for name in names:
        if name in errors:
            trials.append(Trial(name, 0.0, 0.0, 0.0, False, errors[name]))
            continue
        predicted = scored[name] >= opened[name].info.threshold
        reference = predicted if reference is None else reference
        accuracy, agreement = float(np.mean(predicted == hate)), float(np.mean(predicted == reference))
        trials.append(Trial(name, timed_texts / fastest[name], accuracy, agreement, True))
    if not trials or trials[0].engine != EngineName.ONNX_FP32 or not trials[0].passed:
        raise ModelError(f"{directory}: ONNX Runtime fp32, the reference, could not run; auto cannot choose")
    floor = trials[0].accuracy - max_drop
    trials = [
        t if not t.passed or (t.accuracy >= floor and t.agreement >= 1 - max_drop) else replace(t, passed=False)
        for t in trials
    ]
    best = max((t for t in trials if t.passed), key=lambda t: t.texts_per_s)
    kept = next((t for t in trials if t.engine == baseline and t.passed), trials[0])
    reference_speed = trials[0].texts_per_s
    if best.texts_per_s < kept.texts_per_s * MIN_GAIN:
        reason = (
            f"kept {kept.engine} (what HATESPEECH_ENGINE=onnx serves, {kept.texts_per_s:.0f} texts/s): no engine "
            f"was {MIN_GAIN:.2f}x faster on {len(texts)} parity sentences (fastest: {best.engine}, "
            f"{best.texts_per_s:.0f} texts/s)"
        )
        best = kept
    else:
        reason = (
            f"fastest of {', '.join(t.engine for t in trials if t.passed)} that kept accuracy within {max_drop:g} "
            f"of onnx-fp32 on {len(texts)} parity sentences: {best.texts_per_s:.0f} texts/s "
            f"({best.texts_per_s / reference_speed:.2f}x onnx-fp32, {best.texts_per_s / kept.texts_per_s:.2f}x "
            f"{kept.engine})"
        )
    refused = [t.engine for t in trials if not t.passed]
    if refused:
        reason += f"; refused: {', '.join(refused)}"
    return Calibration(best.engine, reason, cpu_description(), threads, len(texts), trials)


def _cache_key(version: str, threads: int, baseline: str) -> str:
    return hashlib.sha256(f"{cpu_description()}|{version}|{threads}|{baseline}".encode()).hexdigest()[:16]


def calibrate_apart(directory: Path, threads: int, max_drop: float, baseline: str) -> Calibration:
    """:func:`calibrate` in a child process: the engines it tries never stay in this process's memory."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(calibrate, directory, threads, max_drop, baseline).result()


def choose(
    directory: Path, version: str, threads: int, max_drop: float, state_dir: Path, baseline: str = EngineName.ONNX_FP32
) -> Calibration:
    """``auto``'s choice for this model version on this CPU: from the cache, else measured now and cached."""
    cache = state_dir / CACHE_FILE
    key = _cache_key(version, threads, baseline)
    try:
        entries = json.loads(cache.read_text())
    except (OSError, ValueError):
        entries = {}
    if isinstance(entries, dict) and isinstance(entries.get(key), dict):
        try:
            found = entries[key]
            return Calibration(**{**found, "trials": [Trial(**t) for t in found["trials"]]})
        except TypeError:
            logger.warning("ignoring a malformed entry in %s", cache)
    calibration = calibrate_apart(directory, threads, max_drop, baseline)
    entries = entries if isinstance(entries, dict) else {}
    entries[key] = asdict(calibration)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".tmp")
        partial.write_text(json.dumps(entries, indent=2) + "\n")
        partial.replace(cache)
    except OSError as exc:  # a read-only state dir: measure again next start, but serve now
        logger.warning("cannot cache the engine choice in %s: %s", cache, exc)
    return calibration
