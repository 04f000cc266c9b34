"""Model lifecycle: swap time and memory of a hot reload under load, and what a shadow model costs the primary.

Swaps: a second version of the model (same weights, hard-linked, another threshold) is published beside it;
with 16 clients sending distinct texts, the server is told to reload ``--swaps`` times, back and forth. Each
swap's time runs from the reload request to the first answer tagged with the new version; the server's RSS
is sampled every 20 ms. Every answer must be a 200.

Shadow: p50 latency at c=1 of the same server with and without a shadow model (the same model again, so the
shadow does as much work as the primary), in alternating phases of ``--requests`` requests, each server
alone on the machine during its phase. This machine's speed drifts by tens of percent within a minute, so
the phases are many and short, and the ratio is also given phase pair by phase pair (quartiles).

    .venv/bin/python benchmarks/lifecycle.py [--model models/current] [--swaps 3] [--phases 24 --requests 250]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness
import httpx
import psutil
from rich.console import Console

from hatespeech import artifact, versions

console = Console(width=140)


def second_version(model: Path, scratch: Path) -> tuple[Path, str, str]:
    """A private store holding the model and a copy with another threshold; returns the link and both ids."""
    link = scratch / "models" / "current"
    versions.use(link, str(model.resolve()))  # copied in, weights hard-linked where possible

    def change(staged: Path) -> None:
        config = json.loads((staged / "config.json").read_text())
        config["decision_threshold"] = 0.51
        (staged / "config.json.new").write_text(json.dumps(config))
        (staged / "config.json.new").replace(staged / "config.json")

    first = versions.version_id(link)
    second = versions.version_id(artifact.revise(link, change))
    versions.use(link, first)
    return link, first, second


def serve(link: Path, env: dict[str, str]) -> tuple[object, str]:
    port = harness.free_port()
    command = [sys.executable, "-m", "hatespeech", "serve", "--model", str(link), "--port", str(port)]
    process, _ = harness.start_server(command, f"http://127.0.0.1:{port}/ready", env={**os.environ, **env})
    return process, f"http://127.0.0.1:{port}"


def swaps(link: Path, first: str, second: str, texts: list[str], count: int) -> dict[str, object]:
    process, url = serve(link, {})
    pid = process.pid  # type: ignore[attr-defined]
    answers: list[tuple[float, int, str]] = []
    stopping = threading.Event()
    rss: list[tuple[float, float]] = []

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            number = index
            while not stopping.is_set():
                response = http.post("/predict", json={"text": texts[number % len(texts)]})
                answers.append((time.monotonic(), response.status_code, response.headers.get("x-model-version", "")))
                number += 16

    def sample() -> None:
        server = psutil.Process(pid)
        while not stopping.is_set():
            rss.append((time.monotonic(), server.memory_info().rss / 2**20))
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)] + [threading.Thread(target=sample)]
    for thread in threads:
        thread.start()
    results = []
    try:
        time.sleep(3)
        for number in range(count):
            target = second if number % 2 == 0 else first
            versions.use(link, target)
            started = time.monotonic()
            reply = httpx.post(f"{url}/admin/reload", timeout=120).json()
            while not any(t >= started and v == target for t, _, v in answers[-64:]):
                time.sleep(0.005)
            first_answer = min(t for t, _, v in answers if t >= started and v == target)
            results.append({"to": target, "first_answer_s": first_answer - started, "reload_s": reply["seconds"],
                            "rss_before_mb": _rss_at(rss, started)})  # fmt: skip
            time.sleep(4)  # the old model is released once its last request answered
            results[-1]["rss_after_mb"] = rss[-1][1]
            results[-1]["rss_peak_mb"] = max(m for t, m in rss if t >= started)
            console.print(f"swap {number + 1} to {target}: first answer after {results[-1]['first_answer_s']:.2f} s "
                          f"(reload {reply['seconds']:.2f} s), RSS {results[-1]['rss_before_mb']:.0f} -> peak "
                          f"{results[-1]['rss_peak_mb']:.0f} -> {results[-1]['rss_after_mb']:.0f} MB")  # fmt: skip
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
        harness.stop(process)  # type: ignore[arg-type]
    failed = sum(status != 200 for _, status, _ in answers)
    console.print(f"{len(answers)} requests from 16 clients during {count} swaps: {failed} failed")
    return {"swaps": results, "requests": len(answers), "failed": failed, "clients": 16}


def _rss_at(samples: list[tuple[float, float]], moment: float) -> float:
    before = [m for t, m in samples if t <= moment]
    return before[-1] if before else samples[0][1]


def latency(url: str, texts: list[str], requests: int, offset: int) -> list[float]:
    values = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for number in range(requests):
            started = time.perf_counter()
            response = http.post("/predict", json={"text": texts[(offset + number) % len(texts)]})
            values.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return values


def shadow_cost(link: Path, texts: list[str], phases: int, requests: int) -> dict[str, object]:
    plain, plain_url = serve(link, {})
    # The shadow: the other version (same weights, so as much work as the primary; the primary's own dir
    # would be no shadow, by design).
    others = [v for v in versions.list_versions(link) if not v.current]
    candidate = link.parent / "candidate"
    artifact.point(candidate, others[0].path)
    shadowed, shadowed_url = serve(link, {"HATESPEECH_SHADOW_MODEL_DIR": str(candidate)})
    medians: dict[str, list[float]] = {"plain": [], "shadow": []}
    try:
        offset = 0
        for phase in range(phases):
            for name, url in (("plain", plain_url), ("shadow", shadowed_url))[:: 1 if phase % 2 == 0 else -1]:
                latency(url, texts, 50, offset)  # warm
                values = latency(url, texts, requests, offset)
                offset += requests
                medians[name].append(statistics.median(values))
                time.sleep(0.5)
        summary = httpx.get(f"{shadowed_url}/admin/shadow").json()
    finally:
        harness.stop(plain)  # type: ignore[arg-type]
        harness.stop(shadowed)  # type: ignore[arg-type]
    ratio = statistics.median(medians["shadow"]) / statistics.median(medians["plain"])
    pairs = [s / p for s, p in zip(medians["shadow"], medians["plain"], strict=True)]
    quartiles = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else pairs * 3
    console.print(f"p50 at c=1 over {phases} phases each: without a shadow {statistics.median(medians['plain']):.2f} "
                  f"ms, with {statistics.median(medians['shadow']):.2f} ms; ratio of medians {ratio:.3f}; phase "
                  f"pairs' ratio quartiles {', '.join(f'{q:.2f}' for q in quartiles)}; the shadow compared "
                  f"{summary['compared']}, dropped {summary['dropped']}")  # fmt: skip
    return {"p50_ms": medians, "ratio": ratio, "pair_ratio_quartiles": quartiles,
            "shadow_compared": summary["compared"], "shadow_dropped": summary["dropped"],
            "requests_per_phase": requests}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--swaps", type=int, default=3)
    parser.add_argument("--phases", type=int, default=24)
    parser.add_argument("--requests", type=int, default=250)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="lifecycle-"))
    try:
        link, first, second = second_version(args.model, scratch)
        texts = harness.distinct_texts(args.model.resolve(), 20000)
        figures = {"swap": swaps(link, first, second, texts, args.swaps),
                   "shadow": shadow_cost(link, texts, args.phases, args.requests)}  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    console.print(f"written: {harness.write('lifecycle', figures)}")


if __name__ == "__main__":
    main()
