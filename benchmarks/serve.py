"""Serving benchmark: this server vs the naive FastAPI + transformers.pipeline server, same model, same load.

Starts each server on loopback, measures the time from process start to ready, then drives it with the
same load generator (distinct texts from sampled_test, fixed request count) at concurrency 1 and 32, and
reads the server's peak RSS (VmHWM) from /proc. Prints a table and the ratios against the targets.

    .venv/bin/python benchmarks/serve.py [--model models/current] [--requests 960]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import record
from rich.console import Console
from rich.table import Table

from hatespeech.data import load_split, resolve_data_dir

HERE = Path(__file__).resolve().parent
console = Console(width=150)


@dataclass
class Result:
    name: str
    ready_seconds: float
    peak_rss_mb: float = 0.0
    runs: dict[int, dict[str, float]] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(
    command: list[str], ready_path: str, port: int, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}{ready_path}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.01)


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


def bench(name: str, command: list[str], ready_path: str, port: int, texts: list[str], levels: list[int]) -> Result:
    process, ready = start(command, ready_path, port)
    result = Result(name, ready)
    try:
        asyncio.run(drive(port, [f"warm-up {i}" for i in range(32)], 8))
        for level, chunk in zip(levels, split(texts, len(levels)), strict=True):
            result.runs[level] = asyncio.run(drive(port, chunk, level))
            console.print(f"{name} c={level}: {result.runs[level]}")
        result.peak_rss_mb = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    return result


def split(texts: list[str], parts: int) -> list[list[str]]:
    size = len(texts) // parts
    return [texts[i * size : (i + 1) * size] for i in range(parts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(os.environ.get("HATESPEECH_MODEL_DIR", "models/current")))
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=960, help="per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()

    base = load_split(resolve_data_dir(args.data), "sampled_test").texts
    total = args.requests * len(args.concurrency) * 2
    # Distinct texts everywhere: the dataset's sentences, each repeat made unique, so no cache can help.
    texts = [f"{base[i % len(base)]} ({i // len(base)})" if i >= len(base) else base[i] for i in range(total)]
    ours_texts, naive_texts = texts[: total // 2], texts[total // 2 :]

    port = free_port()
    ours = bench(
        "hatespeech (ONNX Runtime + batching)",
        [sys.executable, "-m", "hatespeech", "serve", "--model", str(args.model), "--port", str(port)],
        "/ready",
        port,
        ours_texts,
        args.concurrency,
    )
    port = free_port()
    naive = bench(
        "naive (FastAPI + transformers.pipeline)",
        [sys.executable, str(HERE / "naive_server.py"), str(args.model), str(port)],
        "/health",
        port,
        naive_texts,
        args.concurrency,
    )

    table = Table(title=f"Serving benchmark ({args.requests} requests per level, {os.cpu_count()} CPU cores)")
    for column in ("server", "concurrency", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "peak RSS MB", "ready s"):
        table.add_column(column, justify="right")
    for result in (ours, naive):
        for level, run in result.runs.items():
            latency = [f"{run[k]:.1f}" for k in ("p50", "p95", "p99")]
            table.add_row(
                result.name, str(level), f"{run['rps']:.1f}", *latency, str(int(run["errors"])),
                f"{result.peak_rss_mb:.0f}", f"{result.ready_seconds:.2f}",
            )  # fmt: skip
    console.print(table)
    high, low = max(args.concurrency), min(args.concurrency)
    ratios = {
        f"throughput at c={high} (target >= 5x)": ours.runs[high]["rps"] / naive.runs[high]["rps"],
        f"p50 latency at c={low}, ours/naive (target <= 0.33)": ours.runs[low]["p50"] / naive.runs[low]["p50"],
        "peak RSS, ours/naive (target <= 0.33)": ours.peak_rss_mb / naive.peak_rss_mb,
    }
    for name, value in ratios.items():
        console.print(f"{name}: {value:.2f}")
    console.print(f"ready within 2 s (target): {ours.ready_seconds:.2f} s")
    figures = {
        r.name: {"runs": r.runs, "peak_rss_mb": r.peak_rss_mb, "ready_s": r.ready_seconds} for r in (ours, naive)
    }
    console.print(f"written: {record.write('serve', {'servers': figures, 'ratios': ratios})}")


if __name__ == "__main__":
    main()
