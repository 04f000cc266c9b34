"""Our server before and after a change, in the same run: plain /predict throughput, pair by pair.

The server at ``--before REV`` (a git worktree of that commit, its ``src/`` first on the path, the same
virtualenv and model) and the server of the current tree take turns: each pair runs both, in alternating
order, with the load of ``peers.py`` (wrk, one thread, distinct texts, single-text requests or
``--texts-per-request N``, only 200s counted). Throughput drifts on a shared machine (20-30% between pairs
here), so a last phase runs both servers at once and sends one request to each in turn from one client: the
per-request latency at c=1 of the two trees under the same conditions, which drift cannot separate. Usage::

    .venv/bin/python benchmarks/before_after.py --before e647366 [--concurrency 1 32] [--pairs 3] [--seconds 10]
        [--interleaved 3000] [--texts-per-request 32] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import httpx
from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
console = Console(width=140)
JSON = {"Content-Type": "application/json"}


def start_at(src: Path, model: Path, port: int) -> subprocess.Popen[bytes]:
    """``hatespeech serve`` with ``src`` first on the path (the worktree of the commit, or this tree)."""
    env = {**os.environ, "PYTHONPATH": str(src), "HATESPEECH_LOG_LEVEL": "info"}
    command = [sys.executable, "-m", "hatespeech", "serve", "--model", str(model), "--port", str(port)]
    process, _ = harness.start_server(command, f"http://127.0.0.1:{port}/ready", env=env)
    return process


def measure(
    src: Path, model: Path, bodies: list[str], concurrency: list[int], seconds: int, per_request: int = 1
) -> dict[str, float]:
    """Answered requests per second (texts per second when a request carries several texts)."""
    port = harness.free_port()
    process = start_at(src, model, port)
    try:
        harness.run_wrk(harness.wrk_script("/predict", port, bodies[:200]), port, 8, 3)  # warm-up
        rates = {}
        for c in concurrency:
            figures = harness.run_wrk(harness.wrk_script("/predict", port, bodies), port, c, seconds)
            # one answer after the cell: work wrk left queued must not slow the next one
            httpx.post(f"http://127.0.0.1:{port}/predict", content=bodies[0], headers=JSON, timeout=300)
            rates[f"c{c}"] = figures["ok"] * per_request / figures["seconds"]
        return rates
    finally:
        harness.stop(process)


def interleaved(
    sides: dict[str, Path], model: Path, bodies: list[str], rounds: int, burst: int
) -> dict[str, dict[str, float]]:
    """Both servers up; one client sends ``burst`` concurrent requests to one, then to the other (order flipped
    every round): per-request latency (burst 1) or per-burst throughput of the two trees under the same
    conditions."""
    import asyncio

    import httpx

    ports = {side: harness.free_port() for side in sides}
    processes = [start_at(src, model, ports[side]) for side, src in sides.items()]
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    warm_up = max(10, 200 // burst)

    async def run() -> None:
        limits = httpx.Limits(max_connections=burst, max_keepalive_connections=burst)
        clients = {side: httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits)
                   for side, port in ports.items()}  # fmt: skip
        sent = 0
        for number in range(warm_up + rounds):
            for side in list(sides) if number % 2 == 0 else list(reversed(list(sides))):
                batch = [bodies[(sent + i) % len(bodies)] for i in range(burst)]
                sent += burst
                started = time.perf_counter()
                posts = (clients[side].post("/predict", content=body, headers=JSON) for body in batch)
                answers = await asyncio.gather(*posts)
                elapsed = time.perf_counter() - started
                if any(a.status_code != 200 for a in answers):
                    raise RuntimeError(f"{side}: {[a.status_code for a in answers if a.status_code != 200][:5]}")
                if number >= warm_up:
                    seconds[side].append(elapsed)
        for client in clients.values():
            await client.aclose()

    try:
        asyncio.run(run())
    finally:
        for process in processes:
            harness.stop(process)
    figures = {}
    for side, values in seconds.items():
        p50 = statistics.median(values)
        figures[side] = {"burst": burst, "p50_ms": p50 * 1000, "p90_ms": statistics.quantiles(values, n=10)[-1] * 1000,
                         "req_per_s": burst / p50}  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--interleaved", type=int, default=3000, help="rounds per side in the last phase (0: skip)")
    parser.add_argument("--bursts", type=int, nargs="+", default=[1, 32], help="concurrent requests per round")
    parser.add_argument("--texts-per-request", type=int, default=1,
                        help="texts per request in the pairs ({'texts': [...]}); figures are then texts/s")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/before_after.json")
    args = parser.parse_args()
    model = args.model.resolve()
    worktree = Path(tempfile.mkdtemp(prefix="before-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.before], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    texts, size = harness.distinct_texts(model, 6000), args.texts_per_request
    singles = [json.dumps({"text": t}) for t in texts]  # the interleaved phase sends one text
    groups = range(0, len(texts) - size + 1, size)
    bodies = singles if size == 1 else [json.dumps({"texts": texts[i : i + size]}) for i in groups]
    sides = {"before": worktree / "src", "after": REPO / "src"}
    unit = "texts/s" if size > 1 else "req/s"
    pairs: list[dict[str, dict[str, float]]] = []
    try:
        for number in range(args.pairs):
            order = ["before", "after"] if number % 2 == 0 else ["after", "before"]
            pair = {side: measure(sides[side], model, bodies, args.concurrency, args.seconds, size) for side in order}
            pairs.append(pair)
            console.print(f"pair {number + 1}: " + "; ".join(
                f"c={c}: before {pair['before'][f'c{c}']:.0f}, after {pair['after'][f'c{c}']:.0f} {unit}"
                for c in args.concurrency))  # fmt: skip
        alternating = {f"c{burst}": interleaved(sides, model, singles, max(100, args.interleaved // burst), burst)
                       for burst in (args.bursts if args.interleaved else [])}  # fmt: skip
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
        shutil.rmtree(worktree.parent, ignore_errors=True)
    summary = {
        f"c{c}": {side: statistics.median(p[side][f"c{c}"] for p in pairs) for side in ("before", "after")}
        for c in args.concurrency
        if pairs
    }
    for cell, values in summary.items():
        console.print(f"{cell}: median before {values['before']:.0f}, after {values['after']:.0f} {unit} "
                      f"(after/before {values['after'] / values['before']:.2f})")  # fmt: skip
    for cell, by_side in alternating.items():
        ratio = by_side["after"]["req_per_s"] / by_side["before"]["req_per_s"]
        console.print(f"interleaved {cell}: " + "; ".join(
            f"{side} p50 {v['p50_ms']:.2f} ms per round ({v['req_per_s']:.0f} req/s), p90 {v['p90_ms']:.2f}"
            for side, v in by_side.items()) + f"; after/before {ratio:.2f}")  # fmt: skip
    figures = {"before": args.before, "seconds": args.seconds, "texts_per_request": size, "unit": unit,
               "pairs": pairs, "median": summary, "interleaved": alternating}  # fmt: skip
    console.print(f"written: {harness.write('before_after', figures, args.json)}")


if __name__ == "__main__":
    main()
