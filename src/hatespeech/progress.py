"""How far a training run is, for whoever watches it from outside (``train --progress-file``).

The plan is counted in work units: one fine-tuning batch is 1; the cheaper steps are weighted by their measured
cost on CPU (the `2026-12-04` figures of docs/experiments.md: a head batch on the frozen encoder costs about a
third of a fine-tuning batch, scoring a text about three quarters of a fine-tuned text). The estimate of the time
left is the time so far scaled by the work left, so a slower or busier machine is measured, not assumed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

HEAD_BATCH = 0.36  # a stage-1 batch (frozen encoder, head only) against a fine-tuning batch
SCORED_TEXT = 0.75  # scoring a text (validation) against training on one, in a batch of the same size


@dataclass
class ProgressFile:
    """Work done against the plan, written as one JSON object (replaced, never half-written) at most every second."""

    path: Path | None
    total: float = 0.0
    done: float = 0.0
    stage: str = "starting"
    every_s: float = 1.0
    started: float = field(default_factory=time.monotonic)
    _written: float = 0.0

    def plan(self, total: float) -> None:
        self.total = max(total, 1e-9)
        self.write(force=True)

    def advance(self, units: float, stage: str) -> None:
        self.done += units
        self.stage = stage
        self.write()

    def at(self, stage: str) -> None:
        """A step outside the plan (loading, exporting): the stage changes, the work done does not."""
        self.stage = stage
        self.write(force=True)

    def snapshot(self) -> dict[str, object]:
        elapsed = time.monotonic() - self.started
        fraction = min(1.0, self.done / self.total) if self.total else 0.0
        # No estimate from the first 2%: warm-up and the first batches' allocations say little about the rest.
        eta = round(elapsed * (1 - fraction) / fraction) if fraction >= 0.02 else None
        return {"stage": self.stage, "fraction": round(fraction, 4), "elapsed_s": round(elapsed), "eta_s": eta,
                "work": [round(self.done, 3), round(self.total, 3)], "pid": os.getpid()}  # fmt: skip

    def write(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.path is None or (not force and now - self._written < self.every_s):
            return
        self._written = now
        staged = self.path.with_name(self.path.name + ".tmp")
        staged.write_text(json.dumps(self.snapshot()) + "\n")
        os.replace(staged, self.path)


def read_progress(path: Path) -> dict[str, object] | None:
    """The last snapshot a run wrote, or None when there is none (yet) or it cannot be read."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
