"""The full recipe trained behind a quick model while it serves (``serve --train-full``, used by ``make run``).

A separate process (``hatespeech train --like <the quick model> --share-cpu``) at the lowest CPU priority, on the
cores the server leaves free (``training.cpu_share``, measured in docs/training.md); when it finishes it
publishes the new version at the served link, and the server's link watch swaps it in with the usual hot reload (no
request fails). Its output goes to ``<state dir>/full-training.log`` and its progress to
``full-training.progress.json`` (logged once a minute with an estimate of the time left). One run per state dir: a
lock on ``full-training.lock`` (``flock``), taken before the run starts and held by the server and the training
process both, so two servers started together start one run, and a run that outlives its server still holds it.
Stopping the server stops it; the next start, still on the quick model, starts it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from hatespeech.logs import log_event
from hatespeech.model_dir import ModelDir
from hatespeech.progress import read_progress

logger = logging.getLogger("hatespeech.training")
LOG_FILE = "full-training.log"
LOCK_FILE = "full-training.lock"
PROGRESS_FILE = "full-training.progress.json"


class FullTraining:
    """The background training process, and a thread that logs its progress once a minute."""

    def __init__(
        self,
        model_dir: Path,
        state_dir: Path,
        lock: int,
        every_s: float = 60.0,
        *,
        threads: int | None = None,
        share_cpu: bool = True,
    ) -> None:
        """``lock``: the open, locked :func:`exclusive` file, passed on to the training process. ``threads`` and
        ``share_cpu`` are for the benchmark; the server uses the defaults."""
        self.lock = lock
        self.log_path = state_dir / LOG_FILE
        self.progress_path = state_dir / PROGRESS_FILE
        with contextlib.suppress(FileNotFoundError):
            self.progress_path.unlink()  # a stopped run's figures are not this one's
        command = [sys.executable, "-m", "hatespeech", "train", "--out", str(model_dir), "--like", str(model_dir),
                   "--progress-file", str(self.progress_path), *(["--share-cpu"] if share_cpu else [])]  # fmt: skip
        # One thread to start with: --share-cpu adds the others while the machine is idle. Started with all cores and
        # cut to one, it made ~60% of the progress beside a busy server (docs/experiments.md).
        threads = threads or (1 if share_cpu else None)
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=lambda: os.nice(19), pass_fds=(lock,)
            )  # the server keeps the CPU first: the trainer gets what it leaves; it holds the lock as long as it runs
        self._stop = threading.Event()
        self._every_s = every_s
        threading.Thread(target=self._report, name="full-training", daemon=True).start()
        log_event(logger, "full_training_started", message="a better model is training", pid=self.process.pid,
             log=str(self.log_path))  # fmt: skip

    def _report(self) -> None:
        while not self._stop.wait(self._every_s):
            code = self.process.poll()
            if code is not None:
                event = "full_training_published" if code == 0 else "full_training_failed"
                log_event(logger, event, status=code, log=str(self.log_path))
                return
            log_event(logger, "full_training_progress", describe(read_progress(self.progress_path)))

    def stop(self) -> None:
        """Stop the training (it publishes nothing half-done) and let the lock go."""
        self._stop.set()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.lock >= 0:
            os.close(self.lock)  # the training's copy closed as it ended: the lock is free
            self.lock = -1


def exclusive(state_dir: Path) -> int | None:
    """The state dir's training lock, open and locked (its file descriptor); None while another holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def start_if_quick(model_dir: Path, state_dir: Path) -> FullTraining | None:
    """Start the full training when ``model_dir`` serves the quick model and no other run holds the state dir."""
    if not ModelDir(model_dir.resolve(), lenient=True).quick:
        return None
    lock = exclusive(state_dir)
    if lock is None:
        log_event(logger, "full_training_running", message="the full model is already training (full-training.lock)")
        return None
    return FullTraining(model_dir, state_dir, lock)


def describe(snapshot: dict[str, object] | None) -> dict[str, object]:
    """A progress snapshot as log fields: stage, percent done, estimated seconds left, and a one-line message."""
    if snapshot is None:
        return {"message": "the full model is starting to train"}
    fraction, eta = snapshot.get("fraction"), snapshot.get("eta_s")
    percent = round(100 * fraction, 1) if isinstance(fraction, float | int) else 0.0
    fields: dict[str, object] = {"stage": snapshot.get("stage"), "percent": percent}
    left = ""
    if isinstance(eta, int):
        fields["eta_s"] = eta
        left = f", about {max(1, round(eta / 60))} min left"
    fields["message"] = f"the full model is {percent:g}% trained{left} ({snapshot.get('stage')})"
    return fields
