"""Serving benchmark: this server vs the naive FastAPI + transformers.pipeline server, same model, same load.

Starts each server on loopback, measures the time from process start to ready, then drives it with the
same load generator (distinct texts from sampled_test, fixed request count) at concurrency 1 and 32, and
reads the server's peak RSS (VmHWM) from /proc. Prints a table and the ratios against the targets.

    .venv/bin/python benchmarks/serve.py [--model models/current] [--requests 960]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import harness
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


def bench(name: str, command: list[str], ready_path: str, port: int, texts: list[str], levels: list[int]) -> Result:
    process, ready = harness.start_server(command, f"http://127.0.0.1:{port}{ready_path}")
    result = Result(name, ready)
    try:
        asyncio.run(harness.drive(port, [f"warm-up {i}" for i in range(32)], 8))
        for level, chunk in zip(levels, split(texts, len(levels)), strict=True):
            result.runs[level] = asyncio.run(harness.drive(port, chunk, level))
            console.print(f"{name} c={level}: {result.runs[level]}")
        result.peak_rss_mb = harness.rss_mb(process.pid, "VmHWM")
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

    port = harness.free_port()
    ours = bench(
        "hatespeech (ONNX Runtime + batching)",
        [sys.executable, "-m", "hatespeech", "serve", "--model", str(args.model), "--port", str(port)],
        "/ready",
        port,
        ours_texts,
        args.concurrency,
    )
    port = harness.free_port()
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
    console.print(f"written: {harness.write('serve', {'servers': figures, 'ratios': ratios})}")


if __name__ == "__main__":
    main()
