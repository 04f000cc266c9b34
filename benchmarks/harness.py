"""The benchmarks' one harness: start a server and wait for it, drive it (wrk, or a light asyncio client when each
request's latency matters), sample its memory, pick distinct texts, and record the figures as JSON.

Every benchmark writes ``benchmarks/results/NAME.json`` through :func:`write`, with the command, the commit, the
date and the machine, so the tables in the README and the docs are generated, never typed. The scripts import
this module and the package, never each other.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import psutil

from hatespeech.data import load_split, resolve_data_dir

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    """Cores, CPU model, bf16 support and the vector flags that decide speed (from /proc/cpuinfo where there is
    one)."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    kinds = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    return {"cores": os.cpu_count(), "cpu": model, "bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
            "flags": [flag for flag in kinds if flag in flags]}  # fmt: skip


def commit() -> str:
    """The commit the figures came from; ``+dirty`` when the code that made them (src/, benchmarks/,
    the Dockerfile and requirements) had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=RESULTS.parent.parent).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    code = ["src", "benchmarks", "Dockerfile", "deploy", "requirements.txt", "requirements-serve.txt"]
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no", "--", *code) else "")


def write(name: str, figures: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``figures`` with their provenance to ``path`` (default ``benchmarks/results/NAME.json``)."""
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "command": " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *map(_relative, sys.argv[1:])]),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "figures": figures,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def _relative(argument: str) -> str:
    """A path in the repository, relative to it (so a recorded command names no folder of this machine)."""
    path = Path(argument)
    return str(path.relative_to(REPO)) if path.is_absolute() and path.is_relative_to(REPO) else argument


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    command: list[str],
    ready_url: str,
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> tuple[subprocess.Popen[bytes], float]:
    """Start ``command`` and wait until ``ready_url`` answers 200; return the process and the seconds it took.
    Its output goes to ``log`` (appended), else nowhere."""
    started = time.perf_counter()
    output = log.open("ab") if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(command, env=dict(env) if env is not None else None, cwd=cwd, stdout=output,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    finally:
        if log:
            output.close()  # type: ignore[union-attr]
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{command[:4]} exited with {process.returncode}" + (f": see {log}" if log else ""))
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    stop(process)
    raise RuntimeError(f"{command[:4]} was not ready in {timeout:g} s" + (f": see {log}" if log else ""))


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
    for child in children:
        if child.is_running():
            child.kill()


def distinct_texts(model: Path, count: int, max_tokens: int = 80) -> list[str]:
    """sampled_test sentences short enough that no server truncates; repeated ones get a numbered suffix."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    base = [e.text for e in load_split(resolve_data_dir(None), "sampled_test").examples]
    base = [t for t in base if len(tokenizer.encode(t).ids) <= max_tokens - 4]
    return [base[i % len(base)] + (f" ({i // len(base)})" if i >= len(base) else "") for i in range(count)]


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(path: str, port: int, bodies: list[str]) -> str:
    """Requests formatted in request(), after wrk knows the host: Host and Content-Type on every one."""
    return f"""
local bodies = {{ {", ".join(lua_string(b) for b in bodies)} }}
local i = 0
local headers = {{ ["Host"] = "127.0.0.1:{port}", ["Content-Type"] = "application/json" }}
ok = 0
function request()
  i = i % #bodies + 1
  return wrk.format("POST", "{path}", headers, bodies[i])
end
function response(status, hdrs, body)
  if status == 200 then ok = ok + 1 end
end
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local good = 0
  for _, t in ipairs(threads) do good = good + t:get("ok") end
  io.write(string.format('RESULT {{"requests": %d, "ok": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, ' ..
    '"timeouts": %d}}\\n', summary.requests, good, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.timeout))
end
"""


def run_wrk(script: str, port: int, concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--timeout", "60s", "-s", handle.name,
                   f"http://127.0.0.1:{port}"]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120).stdout
    finally:
        os.unlink(handle.name)
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {output[-500:]}")
    result: dict[str, float] = json.loads(line[len("RESULT ") :])
    return result


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams: far cheaper per request than httpx, so the
    load generator (which shares the CPU with the server) distorts the figures as little as possible."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def drive(port: int, texts: list[str], concurrency: int) -> dict[str, float]:
    """Send every text once as {"text": ...} with ``concurrency`` requests in flight; latency per request."""
    latencies: list[float] = []
    errors = 0
    pending = iter([json.dumps({"text": t}).encode() for t in texts])

    async def worker() -> None:
        nonlocal errors
        connection = Connection("127.0.0.1", port)
        try:
            for payload in pending:
                sent = time.perf_counter()
                status = await connection.post_json("/predict", payload)
                latencies.append(time.perf_counter() - sent)
                errors += status != 200
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "rps": len(texts) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": pct(95),
        "p99": pct(99),
        "errors": errors,
    }


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident set (``VmRSS``) or its peak (``VmHWM``), in MB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TreeRss:
    """Samples the summed RSS of a process and its descendants; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.process, self.peak_mb, self._stop = psutil.Process(pid), 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                total = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                continue
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb
