"""How ``auto`` measures the engines this machine can run (:func:`~hatespeech.engines.registry.candidates`) on a
model dir; :mod:`hatespeech.engines.choice` keeps the result and decides what serves.

- **Parity**: on the model dir's parity sentences (``parity.jsonl``: the project's generated frames, written at
  export; never the test split), a candidate's accuracy may fall at most ``max_drop`` below ONNX Runtime fp32's
  (the bound int8 has always had), and its labels must agree with fp32's on all but that share.
- **Speed**: on texts of realistic length (:func:`timing_texts`), timed two ways, the engines taking turns (best
  of ``ROUNDS``): under load, windows of arriving texts planned into batches exactly as the micro-batcher plans
  them at its default limits; and one text at a time, as a lone client's requests run. An engine's speed is the
  geometric mean of the two, so a 2x gain under load does not buy a 2x loss for a lone client.
  Another engine replaces the baseline (what ``onnx`` would serve) only when it is ``MIN_GAIN`` faster: a tie
  within measurement noise keeps today's engine.

``python -m hatespeech.engines.measure`` runs one measurement and prints it as a JSON line: the choice runs it in a
child process, so the server never holds more than the engine it serves.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hatespeech.artifact import PARITY_FILE
from hatespeech.engines.base import (
    SERVER_BATCH_SIZE,
    SERVER_BATCH_TOKENS,
    BaseEngine,
    Encoded,
    Tokens,
    collate,
    length_batches,
    plan_batches,
)
from hatespeech.engines.registry import EngineName, candidates, open_engine
from hatespeech.errors import ModelError

BATCH = 32
ROUNDS = 3  # timed passes per engine, taken in turns
MIN_GAIN = 1.05  # how much faster than the baseline another engine must be to replace it
SINGLES = 96  # texts timed one at a time
METHOD = 2  # how speed is measured; part of a record's key, so a record made another way is measured again


@dataclass(frozen=True)
class Trial:
    """One candidate, measured: its speed, its accuracy against the reference's, and whether it may serve."""

    engine: str
    texts_per_s: float  # under load: batches as the micro-batcher plans them
    accuracy: float
    agreement: float
    passed: bool
    error: str | None = None
    single_per_s: float = 0.0  # one text at a time

    @property
    def speed(self) -> float:
        """What ``auto`` ranks by: the geometric mean of the speed under load and one text at a time."""
        return float(np.sqrt(self.texts_per_s * self.single_per_s))


@dataclass(frozen=True)
class Calibration:
    """What ``auto`` chose for one CPU, model version and thread count, and why."""

    chosen: str
    reason: str
    cpu: str
    threads: int
    texts: int
    trials: list[Trial]

    @classmethod
    def from_dict(cls, found: dict[str, Any]) -> Calibration:
        """A calibration from its JSON form (``asdict``): a stored record, or the child process's line."""
        return cls(**{**found, "trials": [Trial(**t) for t in found["trials"]]})


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


def timing_texts(sentences: list[str]) -> list[str]:
    """Texts of a realistic length from the parity sentences: one to four of them joined in turn (about 10 to 60
    tokens, as forum sentences and social posts run), so that the timing sees the lengths a server sees."""
    texts: list[str] = []
    start = 0
    while start < len(sentences):
        size = len(texts) % 4 + 1
        texts.append(" ".join(sentences[start : start + size]))
        start += size
    return texts


def _timed_rows(engine: BaseEngine, texts: list[str]) -> list[Tokens]:
    """The timing texts' rows, in arrival order."""
    return [row for split in engine.split(texts) for row in split.rows]


def _load_batches(engine: BaseEngine, rows: list[Tokens]) -> list[Encoded]:
    """Windows of arriving rows (as many as the micro-batcher gathers at once), each planned into batches as it
    plans them for this engine: an engine that skips padding gains here what it gains behind the server."""
    window = SERVER_BATCH_SIZE * 4
    batches: list[Encoded] = []
    for start in range(0, len(rows), window):
        chunk = rows[start : start + window]
        planned = plan_batches([len(r) for r in chunk], SERVER_BATCH_SIZE, SERVER_BATCH_TOKENS, engine.padding_free)
        batches.extend(collate([chunk[i] for i in batch]) for batch in planned)
    return batches


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

    Every candidate scores all sentences once (parity, and warm-up); then the engines take turns timing the
    :func:`timing_texts`, ``ROUNDS`` times, best time kept: turns spread the machine's drift over all alike."""
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
    rows = _timed_rows(next(iter(opened.values())), timing_texts(texts)) if opened else []
    loaded = {name: _load_batches(engine, rows) for name, engine in opened.items()}
    singles = [collate([row]) for row in rows[:SINGLES]]
    fastest = dict.fromkeys(opened, float("inf"))
    fastest_single = dict.fromkeys(opened, float("inf"))
    for _ in range(ROUNDS):
        for name, engine in opened.items():
            fastest[name] = min(fastest[name], _seconds(engine, loaded[name]))
            fastest_single[name] = min(fastest_single[name], _seconds(engine, singles))
    timed_texts = len(rows)
    trials: list[Trial] = []
    reference: np.ndarray | None = None
    for name in names:
        if name in errors:
            trials.append(Trial(name, 0.0, 0.0, 0.0, False, errors[name]))
            continue
        predicted = scored[name] >= opened[name].info.threshold
        reference = predicted if reference is None else reference
        accuracy, agreement = float(np.mean(predicted == hate)), float(np.mean(predicted == reference))
        single = len(singles) / fastest_single[name]
        trials.append(Trial(name, timed_texts / fastest[name], accuracy, agreement, True, single_per_s=single))
    # The reference: ONNX Runtime fp32; in a serving copy without it, the ONNX Runtime graph it holds (itself
    # checked against fp32 at export).
    if not trials or not trials[0].engine.startswith("onnx-") or not trials[0].passed:
        raise ModelError(f"{directory}: ONNX Runtime, the reference, could not run; auto cannot choose")
    ref = trials[0].engine
    floor = trials[0].accuracy - max_drop
    trials = [
        t if not t.passed or (t.accuracy >= floor and t.agreement >= 1 - max_drop) else replace(t, passed=False)
        for t in trials
    ]
    best = max((t for t in trials if t.passed), key=lambda t: t.speed)
    kept = next((t for t in trials if t.engine == baseline and t.passed), trials[0])
    if best.speed < kept.speed * MIN_GAIN:
        reason = (
            f"kept {kept.engine} (what HATESPEECH_ENGINE=onnx serves, {_speeds(kept)}): no engine was "
            f"{MIN_GAIN:.2f}x faster on texts of 1-4 parity sentences (fastest: {best.engine}, {_speeds(best)})"
        )
        best = kept
    else:
        reason = (
            f"fastest of {', '.join(t.engine for t in trials if t.passed)} that kept accuracy within {max_drop:g} "
            f"of {ref} on {len(texts)} parity sentences, on texts of 1-4 of them: {_speeds(best)} "
            f"({best.speed / trials[0].speed:.2f}x {ref}, {best.speed / kept.speed:.2f}x {kept.engine})"
        )
    refused = [t.engine for t in trials if not t.passed]
    if refused:
        reason += f"; refused: {', '.join(refused)}"
    return Calibration(best.engine, reason, cpu_description(), threads, len(texts), trials)


def _speeds(trial: Trial) -> str:
    return f"{trial.texts_per_s:.0f} texts/s under load, {trial.single_per_s:.0f} one at a time"


def main() -> None:
    """``python -m hatespeech.engines.measure DIR THREADS MAX_DROP BASELINE``: one calibration, as a JSON line."""
    with suppress(OSError):
        os.nice(10)  # a measurement beside a serving process yields to it
    directory, threads, max_drop, baseline = sys.argv[1:5]
    calibration = calibrate(Path(directory), int(threads), float(max_drop), baseline)
    sys.stdout.write(json.dumps(asdict(calibration)) + "\n")


if __name__ == "__main__":
    main()
