"""What explain=true costs: server CPU per request, plain against explained, by text length.

A real ``hatespeech serve`` on loopback gets the same distinct ``sampled_test`` texts twice, one request at
a time: plain, then with ``"explain": true``. Texts are grouped by their length in tokens. The CPU time of
the server process (user + system, all threads) per request is the cost, and the wall time is the latency.
The ratio of the two per group is what issue 20's target is about (at most 10x for texts up to 64 tokens).
Usage::

    .venv/bin/python benchmarks/explain.py [--model models/current] [--per-group 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import harness
import httpx
import psutil
from rich.console import Console
from tokenizers import Tokenizer

from hatespeech.data import load_split, resolve_data_dir

console = Console(width=140)
GROUPS = ((1, 16), (17, 32), (33, 64))


def serve(model: Path) -> tuple[Any, str]:
    port = harness.free_port()
    command = [sys.executable, "-m", "hatespeech", "serve", "--model", str(model), "--port", str(port)]
    process, _ = harness.start_server(command, f"http://127.0.0.1:{port}/ready")
    return process, f"http://127.0.0.1:{port}"


def measure(process: Any, url: str, texts: list[str], explain: bool) -> dict[str, float]:
    """Server CPU ms and wall ms per request, sending ``texts`` one at a time."""
    server = psutil.Process(process.pid)
    body = {"explain": True} if explain else {}
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/predict", json={"text": texts[0], **body})  # warm-up
        before, started = server.cpu_times(), time.perf_counter()
        for text in texts:
            response = client.post("/predict", json={"text": text, **body})
            assert response.status_code == 200, response.text
        wall, after = time.perf_counter() - started, server.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return {"cpu_ms": cpu / len(texts) * 1000, "wall_ms": wall / len(texts) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--per-group", type=int, default=60)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    tokenizer = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    texts = load_split(resolve_data_dir(None), "sampled_test").texts
    lengths = [len(tokenizer.encode(t).ids) for t in texts]
    groups = {f"{low}-{high} tokens": [t for t, n in zip(texts, lengths, strict=True) if low <= n <= high]
              for low, high in GROUPS}  # fmt: skip
    process, url = serve(args.model)
    rows = []
    try:
        for name, members in groups.items():
            chosen = members[: args.per_group]
            plain = [measure(process, url, chosen, False) for _ in range(args.runs)]
            explained = [measure(process, url, chosen, True) for _ in range(args.runs)]
            row = {"group": name, "texts": len(chosen),
                   "plain_cpu_ms": [r["cpu_ms"] for r in plain], "explain_cpu_ms": [r["cpu_ms"] for r in explained],
                   "plain_wall_ms": [r["wall_ms"] for r in plain],
                   "explain_wall_ms": [r["wall_ms"] for r in explained]}  # fmt: skip
            row["cpu_ratio"] = statistics.median(row["explain_cpu_ms"]) / statistics.median(row["plain_cpu_ms"])
            rows.append(row)
            medians = {k: statistics.median(v) for k, v in row.items() if k.endswith("_ms")}
            console.print(
                f"{name:14} n={len(chosen):3} plain {medians['plain_cpu_ms']:6.1f} ms CPU, explain "
                f"{medians['explain_cpu_ms']:6.1f} ms CPU: x{row['cpu_ratio']:.1f}; wall "
                f"{medians['plain_wall_ms']:.1f} / {medians['explain_wall_ms']:.1f} ms",
                highlight=False,
            )
    finally:
        process.terminate()
        process.wait(30)
    console.print(f"written: {harness.write('explain', {'runs': args.runs, 'rows': rows})}")


if __name__ == "__main__":
    main()
