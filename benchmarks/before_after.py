"""Our server before and after a change, in the same run: plain /predict throughput, pair by pair.

The server at ``--before REV`` (a git worktree of that commit, its ``src/`` first on the path, the same
virtualenv and model) and the server of the current tree take turns: each pair runs both, in alternating
order, with the load of ``peers.py`` (wrk, one thread, distinct texts, single-text requests, only 200s
counted). Usage::

    .venv/bin/python benchmarks/before_after.py --before e647366 [--concurrency 1 32] [--pairs 3] [--seconds 10]
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
from pathlib import Path

import record
from peers import PEERS, distinct_texts, drain, free_port, run_wrk, stop, wrk_script
from rich.console import Console
from serve import start

REPO = Path(__file__).resolve().parent.parent
console = Console(width=140)


def start_at(src: Path, model: Path, port: int) -> subprocess.Popen[bytes]:
    """``hatespeech serve`` with ``src`` first on the path (the worktree of the commit, or this tree)."""
    env = {**os.environ, "PYTHONPATH": str(src), "HATESPEECH_LOG_LEVEL": "info"}
    command = [sys.executable, "-m", "hatespeech", "serve", "--model", str(model), "--port", str(port)]
    process, _ = start(command, "/ready", port, env)
    return process


def measure(src: Path, model: Path, bodies: list[str], concurrency: list[int], seconds: int) -> dict[str, float]:
    peer, port = PEERS["ours"], free_port()
    process = start_at(src, model, port)
    try:
        run_wrk(wrk_script(peer, port, bodies[:200]), port, 8, 3)  # warm-up
        rates = {}
        for c in concurrency:
            figures = run_wrk(wrk_script(peer, port, bodies), port, c, seconds)
            drain(peer, port, bodies[0])
            rates[f"c{c}"] = figures["ok"] / figures["seconds"]
        return rates
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    model = args.model.resolve()
    worktree = Path(tempfile.mkdtemp(prefix="before-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.before], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    bodies = [json.dumps(PEERS["ours"].single(t)) for t in distinct_texts(model, 6000)]
    sides = {"before": worktree / "src", "after": REPO / "src"}
    pairs: list[dict[str, dict[str, float]]] = []
    try:
        for number in range(args.pairs):
            order = ["before", "after"] if number % 2 == 0 else ["after", "before"]
            pair = {side: measure(sides[side], model, bodies, args.concurrency, args.seconds) for side in order}
            pairs.append(pair)
            console.print(f"pair {number + 1}: " + "; ".join(
                f"c={c}: before {pair['before'][f'c{c}']:.0f}, after {pair['after'][f'c{c}']:.0f} req/s"
                for c in args.concurrency))  # fmt: skip
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
        shutil.rmtree(worktree.parent, ignore_errors=True)
    summary = {
        f"c{c}": {side: statistics.median(p[side][f"c{c}"] for p in pairs) for side in ("before", "after")}
        for c in args.concurrency
    }
    for cell, values in summary.items():
        console.print(f"{cell}: median before {values['before']:.0f}, after {values['after']:.0f} req/s "
                      f"(after/before {values['after'] / values['before']:.2f})")  # fmt: skip
    figures = {"before": args.before, "seconds": args.seconds, "pairs": pairs, "median": summary}
    console.print(f"written: {record.write('before_after', figures)}")


if __name__ == "__main__":
    main()
