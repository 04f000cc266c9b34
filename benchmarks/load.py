"""Load and overload test on loopback (bounded in requests and time).

1. 64 clients for 30 s against `hatespeech serve`: errors, throughput, p50/p99, RSS after warm-up vs at the end.
2. Overload: a server with a small queue (HATESPEECH_MAX_QUEUE, default 64 here) and far more clients (512):
   only 200s and 503s are allowed, and normal answers must follow right after.

    .venv/bin/python benchmarks/load.py [--model models/current] [--seconds 30] [--clients 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import harness
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hatespeech.data import load_split, resolve_data_dir

console = Console(width=150)


async def clients(port: int, texts: list[str], count: int, seconds: float, max_requests: int) -> dict[str, object]:
    """``count`` keep-alive clients sending distinct texts until ``seconds`` or ``max_requests`` run out."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal sent
        connection = harness.Connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                payload = json.dumps({"text": f"{texts[sent % len(texts)]} #{sent}"}).encode()
                started = time.perf_counter()
                try:
                    status = await connection.post_json("/predict", payload)
                except (ConnectionError, asyncio.IncompleteReadError):
                    status = 0  # connection refused or dropped: counted as an error
                    connection = harness.Connection("127.0.0.1", port)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "rps": sum(statuses.values()) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
    }


def serve(model: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = harness.free_port()
    command = [sys.executable, "-m", "hatespeech", "serve", "--model", str(model), "--port", str(port)]
    process, _ = harness.start_server(command, f"http://127.0.0.1:{port}/ready", env={**os.environ, **env})
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(os.environ.get("HATESPEECH_MODEL_DIR", "models/current")))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--overload-clients", type=int, default=512)
    parser.add_argument("--overload-queue", type=int, default=64)
    args = parser.parse_args()
    texts = load_split(resolve_data_dir(None), "sampled_test").texts
    failures = []

    process, port = serve(args.model, {})
    try:
        asyncio.run(clients(port, texts, args.clients, 5.0, 2000))  # warm-up
        rss_warm = harness.rss_mb(process.pid)
        steady = asyncio.run(clients(port, texts, args.clients, args.seconds, 200_000))
        rss_end = harness.rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    growth = (rss_end - rss_warm) / rss_warm
    console.print(f"steady load, {args.clients} clients, {args.seconds:.0f} s: {steady}")
    console.print(f"RSS after warm-up {rss_warm:.0f} MB, at the end {rss_end:.0f} MB ({growth:+.1%})")
    if set(steady["statuses"]) != {200}:  # type: ignore[arg-type]
        failures.append("errors under steady load")
    if growth > 0.10:
        failures.append("RSS grew more than 10%")

    process, port = serve(args.model, {"HATESPEECH_MAX_QUEUE": str(args.overload_queue)})
    try:
        overload = asyncio.run(clients(port, texts, args.overload_clients, 10.0, 20_000))
        after = asyncio.run(clients(port, texts, 4, 3.0, 200))
    finally:
        process.terminate()
        process.wait(30)
    console.print(f"overload, {args.overload_clients} clients, queue {args.overload_queue}: {overload}")
    console.print(f"right after: {after}")
    if not set(overload["statuses"]) <= {200, 503}:  # type: ignore[arg-type]
        failures.append("overload answered with something other than 200/503")
    if set(after["statuses"]) != {200}:  # type: ignore[arg-type]
        failures.append("no normal answers right after the overload")
    console.print("PASS" if not failures else f"FAIL: {'; '.join(failures)}")
    figures = {"clients": args.clients, "seconds": args.seconds, "steady": steady, "rss_warm_mb": rss_warm,
               "rss_end_mb": rss_end, "overload_clients": args.overload_clients, "overload_queue": args.overload_queue,
               "overload": overload, "after": after, "failures": failures}  # fmt: skip
    console.print(f"written: {harness.write('load', figures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
