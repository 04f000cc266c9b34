"""Training beside a server (``train --share-cpu``): all cores while the machine is idle, one while others are busy.

Measured on 2 cores (``benchmarks/background.py``, docs/training.md): a nice-19 training with two threads is the
fastest on an idle machine, but beside a server answering 30 requests/s it made a fifth of the progress of a
one-thread training on the same CPU time: its threads wait for each other whenever the server preempts one of them.
So every couple of seconds this looks at how much CPU the other processes used and sets PyTorch's thread count to
the cores they leave free (at least one, at most the physical cores or what it started with). Rounding half a
core either way made it switch back and forth at a steady 30 requests/s, a third slower there than one fixed
thread (measured): a core counts as busy from a fifth of it. It is best started with one thread
(``OMP_NUM_THREADS=1``, as the server's background training is) and left to add the others.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import psutil

SLACK = 0.2  # a core counts as free while the others use less than this much of it


class CpuShare:
    """Adjusts ``torch``'s intra-op threads to the cores other processes leave free; call :meth:`tick` often."""

    def __init__(self, every_s: float = 2.0, report: Callable[[str], object] = lambda _: None) -> None:
        import torch

        self.torch, self.every_s, self.report = torch, every_s, report
        self.most = max(torch.get_num_threads(), psutil.cpu_count(logical=False) or 1)  # torch's default: cores
        self.cores = os.cpu_count() or 1
        self.me = psutil.Process()
        self.threads = torch.get_num_threads()  # started with one (OMP_NUM_THREADS=1), it adds the rest when idle
        self._mark = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        """(wall clock, CPU seconds busy on the whole machine, CPU seconds of this process)."""
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        mine = self.me.cpu_times()
        return time.monotonic(), busy, mine.user + mine.system

    def others(self, now: tuple[float, float, float]) -> float:
        """Cores the other processes kept busy since the last look."""
        (wall0, busy0, mine0), (wall, busy, mine) = self._mark, now
        return max(0.0, (busy - busy0) - (mine - mine0)) / max(wall - wall0, 1e-9)

    def tick(self) -> None:
        if time.monotonic() - self._mark[0] < self.every_s:
            return
        now = self._sample()
        others = self.others(now)
        threads = max(1, min(self.most, math.floor(self.cores - others + SLACK)))
        if threads != self.threads:
            self.torch.set_num_threads(threads)
            self.report(f"training threads {self.threads} -> {threads} (other processes used {others:.2f} cores)")
            self.threads = threads
        self._mark = now
