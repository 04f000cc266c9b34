"""Scale benchmark: batch scoring and serving, single process vs Ray on the same machine.

Batch: at least 8,000 distinct texts (the dataset's sentences repeated with unique suffixes) scored by
  `hatespeech predict --input` (one process, ONNX Runtime on every core), then by Ray Data with 1 and 2
  workers of one thread each on a local Ray cluster. Wall time of the whole command, start-up included.
Serve: 32 concurrent clients sending distinct texts, single-process server vs Ray Serve with 1 and 2
  replicas of one CPU each.
Prints throughput, scaling efficiency per added worker and Ray's overhead against the single process.

    .venv/bin/python benchmarks/scale.py [--model models/current] [--texts 8000] [--requests 3200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import psutil
from rich.console import Console
from rich.table import Table

from hatespeech.data import load_split, resolve_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))

console = Console(width=150)
HATESPEECH = [sys.executable, "-m", "hatespeech"]
SMALL = 64
RAY = str(Path(sys.executable).parent / "ray")


def texts_for(count: int) -> list[str]:
    data = resolve_data_dir(None)
    base = [t.replace("\n", " ") for split in ("sampled_train", "sampled_test") for t in load_split(data, split).texts]
    return [f"{base[i % len(base)]} [{i // len(base)}]" for i in range(count)]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def rates(small_seconds: float, seconds: float, count: int) -> dict[str, float]:
    """End-to-end rate, the fixed cost (a SMALL-text job: start-up, model loading), and the marginal rate
    (the texts beyond SMALL over the time they added): what the rate tends to on a large archive."""
    return {
        "seconds": seconds,
        "per_s": count / seconds,
        "fixed_s": small_seconds,
        "marginal_per_s": (count - SMALL) / (seconds - small_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(os.environ.get("HATESPEECH_MODEL_DIR", "models/current")))
    parser.add_argument("--texts", type=int, default=8000)
    parser.add_argument("--requests", type=int, default=3200, help="requests per serving run")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-serve", action="store_true", help="batch scoring only")
    args = parser.parse_args()
    model = str(args.model)
    texts = texts_for(args.texts)
    work = Path(tempfile.mkdtemp(prefix="scale-"))
    source = work / "texts.txt"
    source.write_text("".join(t + "\n" for t in texts))
    results: dict[str, dict[str, float]] = {}

    small = work / "small.txt"
    small.write_text("".join(t + "\n" for t in texts[:SMALL]))

    def local(path: Path) -> float:
        return timed([*HATESPEECH, "predict", "-m", model, "--input", str(path), "--output", str(work / "l.jsonl")])

    results["batch single process"] = rates(local(small), local(source), len(texts))
    console.print(f"batch single process: {results['batch single process']}")

    port = harness.free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    before = {p.pid for p in psutil.process_iter()}
    subprocess.run([RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, env=env,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        import ray

        from hatespeech.scale.batch import score_files

        ray.init(address=address, log_to_driver=False, configure_logging=False)
        for workers in (1, 2):
            out = work / f"ray{workers}.jsonl"
            fixed = score_files(str(small), out, args.model, workers=workers, address=address).seconds
            job = score_files(str(source), out, args.model, workers=workers, address=address)
            assert job.predicted == len(texts) == sum(1 for _ in out.open())
            results[f"batch ray data {workers} worker(s)"] = rates(fixed, job.seconds, len(texts))
            console.print(f"batch ray {workers}: {results[f'batch ray data {workers} worker(s)']}")
        ray.shutdown()
        if args.no_serve:
            summarise(results, len(texts), args.json)
            return

        requests = [f"serve {t}" for t in texts_for(args.requests)]
        http_port = harness.free_port()
        process, _ = harness.start_server(
            [*HATESPEECH, "serve", "-m", model, "--port", str(http_port)], f"http://127.0.0.1:{http_port}/ready"
        )
        try:
            asyncio.run(harness.drive(http_port, [f"warm {i}" for i in range(64)], 32))
            results["serve single process"] = asyncio.run(harness.drive(http_port, requests, 32))
        finally:
            process.terminate()
            process.wait(30)
        console.print(f"serve single process: {results['serve single process']}")
        for replicas in (1, 2):
            http_port = harness.free_port()
            command = [*HATESPEECH, "serve", "--runtime", "ray", "--address", address, "--replicas", str(replicas),
                       "-m", model, "--port", str(http_port)]  # fmt: skip
            process, _ = harness.start_server(command, f"http://127.0.0.1:{http_port}/ready")
            try:
                time.sleep(2)  # every replica is up once serve.run returned; let the proxy see them
                asyncio.run(harness.drive(http_port, [f"warm {replicas} {i}" for i in range(64)], 32))
                results[f"serve ray {replicas} replica(s)"] = asyncio.run(
                    harness.drive(http_port, [f"{replicas} {t}" for t in requests], 32)
                )
            finally:
                process.terminate()
                process.wait(60)
            console.print(f"serve ray {replicas}: {results[f'serve ray {replicas} replica(s)']}")
    finally:  # stop the processes this cluster started, by pid (not `ray stop`: other Rays may run here)
        started = [
            p
            for p in psutil.process_iter(["cmdline"])
            if (p.pid not in before and str(temp) in " ".join(p.info["cmdline"] or []))
            or (p.pid not in before and (p.name() in ("raylet", "gcs_server") or p.name().startswith("ray::")))
        ]
        for process in started:
            process.terminate()
        for process in psutil.wait_procs(started, timeout=15)[1]:
            process.kill()

    summarise(results, len(texts), args.json)


def summarise(results: dict[str, dict[str, float]], count: int, json_path: Path | None) -> None:
    """Print the table and the targets (serving rows when they were measured); write the JSON if asked."""
    single, ones, twos = (results[k] for k in ("batch single process", "batch ray data 1 worker(s)",
                                                "batch ray data 2 worker(s)"))  # fmt: skip
    title = f"Scale-out on this machine ({os.cpu_count()} cores): {count} texts batch, 32 clients serve"
    table = Table(title=title)
    for column in ("path", "end to end", "vs single", "1 -> 2", "fixed cost", "marginal", "vs single", "1 -> 2"):
        table.add_column(column)
    table.add_row("batch: single process (2 threads)", f"{single['per_s']:.0f} texts/s", "1.00x", "",
                  f"{single['fixed_s']:.1f} s", f"{single['marginal_per_s']:.0f} texts/s", "1.00x", "")  # fmt: skip
    for name, row in (("batch: Ray Data, 1 worker", ones), ("batch: Ray Data, 2 workers", twos)):
        scaling = row is twos
        table.add_row(
            name, f"{row['per_s']:.0f} texts/s", f"{row['per_s'] / single['per_s']:.2f}x",
            f"{twos['per_s'] / ones['per_s']:.2f}x (eff. {twos['per_s'] / ones['per_s'] / 2:.0%})" if scaling else "",
            f"{row['fixed_s']:.1f} s", f"{row['marginal_per_s']:.0f} texts/s",
            f"{row['marginal_per_s'] / single['marginal_per_s']:.2f}x",
            f"{twos['marginal_per_s'] / ones['marginal_per_s']:.2f}x" if scaling else "",
        )  # fmt: skip
    if "serve single process" in results:
        serve_single = results["serve single process"]["rps"]
        r1, r2 = results["serve ray 1 replica(s)"]["rps"], results["serve ray 2 replica(s)"]["rps"]
        table.add_row("serve: single process (2 threads)", f"{serve_single:.0f} req/s", "1.00x", "")
        table.add_row("serve: Ray Serve, 1 replica (1 CPU)", f"{r1:.0f} req/s", f"{r1 / serve_single:.2f}x", "")
        table.add_row("serve: Ray Serve, 2 replicas", f"{r2:.0f} req/s", f"{r2 / serve_single:.2f}x",
                      f"{r2 / r1:.2f}x (eff. {r2 / r1 / 2:.0%})")  # fmt: skip
    console.print(table)
    for label, key in (("end to end", "per_s"), ("marginal", "marginal_per_s")):
        console.print(
            f"targets ({label}): Ray Data 2 vs 1 workers {twos[key] / ones[key]:.2f}x (>= 1.7x); "
            f"2 workers vs single process {twos[key] / single[key]:.2f}x (>= 0.85x)"
        )
    console.print(f"written: {harness.write('scale', results, json_path)}")


if __name__ == "__main__":
    main()
