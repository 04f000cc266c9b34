"""A real Ray cluster on loopback for the tests: a head node and a second worker node, each a `ray start`
process tree, stopped at the end by process id (never `ray stop`, which would stop every Ray on the host)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

import cleanup
from api.live_server import free_port

RAY = str(Path(sys.executable).parent / "ray")


def _ray_processes() -> dict[int, psutil.Process]:
    """Processes that belong to Ray (daemons, workers), by pid."""
    found = {}
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        name = process.info["name"] or ""
        if name in ("raylet", "gcs_server") or "ray::" in name or "/ray/" in command or "ray.util" in command:
            found[process.pid] = process
    return found


def nodes_running(*parts: str) -> set[int]:
    """Raylet pids of the nodes that run a process whose name + command line contain every one of ``parts``."""
    nodes: set[int] = set()
    for process in psutil.process_iter(["name", "cmdline"]):
        label = (process.info["name"] or "") + " ".join(process.info["cmdline"] or [])
        if all(part in label for part in parts):
            with contextlib.suppress(psutil.NoSuchProcess):
                nodes |= {p.pid for p in process.parents() if p.name() == "raylet"}
    return nodes


class RayCluster:
    """Head (`--head`) plus one worker node, `cpus` logical CPUs each."""

    def __init__(self, cpus: int = 2) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths are limited
        self.env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
            # a dead node is noticed after 3 missed 1 s health checks, not 5 missed 3 s ones (fault test)
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        }
        self._started = time.time()
        before = set(_ray_processes())
        self.processes: dict[int, psutil.Process] = {}
        try:
            self._ray("start", "--head", f"--port={self.port}", f"--temp-dir={self.temp}", f"--num-cpus={cpus}",
                      "--include-dashboard=false", "--node-ip-address=127.0.0.1")  # fmt: skip
            for attempt in range(3):  # the raylet port is picked here; another process may take it first
                self.worker_port = free_port()  # the worker node's raylet port: how the fault test finds it
                try:
                    self._ray("start", f"--address={self.address}", f"--num-cpus={cpus}",
                              "--node-ip-address=127.0.0.1", f"--node-manager-port={self.worker_port}")  # fmt: skip
                    break
                except subprocess.CalledProcessError:
                    if attempt == 2:
                        raise
        except BaseException:
            self.processes = {pid: p for pid, p in _ray_processes().items() if pid not in before}
            self.stop()  # no half-started cluster is left behind
            raise
        self.processes = {pid: p for pid, p in _ray_processes().items() if pid not in before}
        cleanup.at_end(self.stop)  # also when the run is stopped part-way: Ray's daemons left its process group

    def _ray(self, *args: str) -> None:
        done = subprocess.run([RAY, *args, "--disable-usage-stats"], env=self.env, capture_output=True, text=True,
                              timeout=180)  # fmt: skip
        if done.returncode != 0:
            print(f"ray {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)

    def worker_node_raylet(self) -> psutil.Process:
        for process in _ray_processes().values():
            if process.name() == "raylet" and f"--node_manager_port={self.worker_port}" in " ".join(process.cmdline()):
                return process
        raise LookupError("the worker node's raylet is not running")

    def kill_worker_node(self) -> None:
        """SIGKILL the worker node's raylet and every process it started (its Ray workers)."""
        raylet = self.worker_node_raylet()
        victims = [raylet, *raylet.children(recursive=True)]
        for process in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        """Stop every process this cluster started (and Ray processes started since), by pid."""
        self.processes.update({pid: p for pid, p in _ray_processes().items() if p.create_time() >= self._started})
        alive = []
        for process in self.processes.values():
            try:
                process.terminate()
                alive.append(process)
            except psutil.NoSuchProcess:
                pass
        _, still = psutil.wait_procs(alive, timeout=10)
        for process in still:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(still, timeout=10)
        self.processes = {}
