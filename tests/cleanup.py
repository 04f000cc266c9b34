"""Every process a test starts ends with the test run, also when the run is stopped part-way (issue 40, item 7).

Servers, training processes and the Ray test cluster's daemons (which ``ray start`` detaches from the test run's
process group, so a CI runner's kill of the group never reaches them) are tracked here by process id. At exit, and
on SIGTERM or SIGHUP (a CI timeout, a closed terminal), every tracked process tree is terminated, then killed; Ctrl-C
reaches it through pytest's own teardown and then ``atexit``.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
from collections.abc import Callable
from types import FrameType

import psutil

_tracked: dict[int, psutil.Process] = {}
_stoppers: list[Callable[[], None]] = []
_installed = False


def track(*pids: int) -> None:
    """End these processes (and their children) with the test run, unless they end first."""
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            _tracked[pid] = psutil.Process(pid)


def at_end(stop: Callable[[], None]) -> None:
    """Call ``stop`` when the test run ends (a fixture's own finaliser may call it first: make it idempotent)."""
    _stoppers.append(stop)


def end_all() -> None:
    """Run every :func:`at_end` stopper, then terminate every tracked process tree that still runs; kill what is
    left after 10 s."""
    while _stoppers:
        with contextlib.suppress(Exception):  # one failed stop leaves the others to run
            _stoppers.pop()()
    trees: list[psutil.Process] = []
    for process in list(_tracked.values()):
        with contextlib.suppress(psutil.Error):
            if process.is_running():
                trees += [process, *process.children(recursive=True)]
    _tracked.clear()
    for process in trees:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(trees, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    end_all()
    raise KeyboardInterrupt(f"signal {signum}")  # pytest stops the run, runs its teardowns and exits with 2


def install() -> None:
    """Run :func:`end_all` at exit and on SIGTERM / SIGHUP (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(end_all)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
