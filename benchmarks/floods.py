"""Probes under floods (issue 40, item 2): is /health answered while the public port is flooded?

Our server runs with its default limits and a management port. Two floods, each for ``--seconds`` while a prober
asks /health once a second on the public port and on the management port (1 s timeout each):

- **slow headers**: ``--connections`` connections, spread over ``--addresses`` loopback addresses (127.0.0.x, as
  many hosts would), each sending one header byte every 2 s and opening again when the server cuts it off;
- **overload**: wrk with 512 connections of /predict (distinct sampled_test texts).

Per flood and port: probes answered 200 within 1 s, out of those asked; the slowest answer. Then /predict's
answers during the overload.

    .venv/bin/python benchmarks/floods.py [--model models/current] [--seconds 40] [--connections 1500]
        [--addresses 1 8] [--json benchmarks/results/floods.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import harness
import httpx
from rich.console import Console
from rich.table import Table

console = Console()


async def slow_client(port: int, source: str, stop: float, counts: dict[str, int]) -> None:
    """One attacker's connection, reopened whenever it is closed, until ``stop``."""
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            counts["refused"] += 1
            await asyncio.sleep(0.5)
            continue
        counts["opened"] += 1
        try:
            for byte in b"GET /predict HTTP/1.1\r\nHost: x\r\nX-a: " + b"a" * 10_000:
                if time.monotonic() >= stop or reader.at_eof():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(2.0)
        except OSError:
            pass
        finally:
            writer.close()


async def slow_headers(port: int, connections: int, addresses: int, seconds: float) -> dict[str, int]:
    counts = {"opened": 0, "refused": 0}
    stop = time.monotonic() + seconds
    sources = [f"127.0.0.{2 + i % addresses}" for i in range(connections)]
    await asyncio.gather(*(slow_client(port, source, stop, counts) for source in sources))
    return counts


class Prober(threading.Thread):
    """Asks /health on each port once a second until stopped; keeps each answer's status and seconds."""

    def __init__(self, urls: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.urls, self.done = urls, threading.Event()
        self.answers: dict[str, list[tuple[int, float]]] = {name: [] for name in urls}

    def run(self) -> None:
        while not self.done.is_set():
            tick = time.monotonic()
            for name, url in self.urls.items():
                started = time.monotonic()
                try:
                    status = httpx.get(url, timeout=1.0).status_code
                except httpx.HTTPError:
                    status = 0
                self.answers[name].append((status, time.monotonic() - started))
            self.done.wait(max(0.0, 1.0 - (time.monotonic() - tick)))

    def summary(self) -> dict[str, dict[str, Any]]:
        return {name: {"asked": len(a), "answered_1s": sum(s == 200 and t <= 1.0 for s, t in a),
                       "slowest_s": round(max((t for _, t in a), default=0.0), 3)}
                for name, a in self.answers.items()}  # fmt: skip


def flood(name: str, urls: dict[str, str], attack: Any) -> dict[str, Any]:
    prober = Prober(urls)
    prober.start()
    try:
        extra = attack()
    finally:
        prober.done.set()
        prober.join()
    return {"flood": name, "probes": prober.summary(), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--connections", type=int, default=1500)
    parser.add_argument("--addresses", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/floods.json")
    args = parser.parse_args()
    port, management = harness.free_port(), harness.free_port()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "HATESPEECH_MANAGEMENT_PORT": str(management), "HATESPEECH_STATE_DIR": scratch}
        command = [str(Path(sys.executable).with_name("hatespeech")), "serve", "--model", str(args.model),
                   "--port", str(port)]  # fmt: skip
        process, _ = harness.start_server(command, f"http://127.0.0.1:{port}/ready", env=env,
                                          log=Path(scratch) / "server.log")  # fmt: skip
        urls = {"public": f"http://127.0.0.1:{port}/health", "management": f"http://127.0.0.1:{management}/health"}
        runs = []
        try:
            for addresses in args.addresses:
                runs.append(flood(f"{args.connections} slow-header connections from {addresses} address(es)", urls,
                                  lambda a=addresses: asyncio.run(
                                      slow_headers(port, args.connections, a, args.seconds))))  # fmt: skip
                time.sleep(12)  # the last slow connections are cut off (header deadline) before the next flood
            bodies = [json.dumps({"text": text}) for text in harness.distinct_texts(args.model, 4000)]
            script = harness.wrk_script("/predict", port, bodies)
            runs.append(flood("wrk, 512 connections of /predict", urls,
                              lambda: {"predict": harness.run_wrk(script, port, 512, args.seconds)}))  # fmt: skip
        finally:
            harness.stop(process)
    table = Table(title=f"/health probes answered within 1 s while flooded ({args.seconds:g} s each)")
    for column in ("flood", "public port", "management port", "slowest (public / management)"):
        table.add_column(column)
    for run in runs:
        p, m = run["probes"]["public"], run["probes"]["management"]
        table.add_row(run["flood"], f"{p['answered_1s']}/{p['asked']}", f"{m['answered_1s']}/{m['asked']}",
                      f"{p['slowest_s']} / {m['slowest_s']} s")  # fmt: skip
    console.print(table)
    console.print(f"written: {harness.write('floods', {'seconds': args.seconds, 'runs': runs}, args.json)}")


if __name__ == "__main__":
    main()
