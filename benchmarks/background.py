"""What the background full training (``make run``, ``serve --train-full``) costs the server, and what the server
leaves the training.

One server (``hatespeech serve``, the model given) and real full trainings beside it, started by the same code
the server uses (``cli.background.FullTraining``: nice 19), one per setting asked for (``--share-cpu``, the
server's, or a fixed thread count). Each phase lets at most
one trainer run (the others are paused with SIGSTOP, so they hold memory but no CPU) and measures:

- latency at a steady rate (``--rate`` requests/s, open loop: each request's time counts from when it was due, so
  queueing behind the trainer shows), p50 and p99;
- throughput at saturation (wrk, ``--concurrency`` connections), with p50 and p99;
- the trainer's CPU seconds per second and its training work per second (progress units, ``hatespeech.progress``)
  in each of the two and beside an idle server: how much later the full model arrives.

The conditions rotate phase by phase (this machine's speed drifts within a minute), every request carries a
distinct text, and the ratios to "no training" are given pair by pair (median and range over the repeats).

    .venv/bin/python benchmarks/background.py [--model models/current] [--trainers shared,2,1] [--repeats 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import harness
import psutil
from rich.console import Console

from hatespeech.cli.background import FullTraining, exclusive
from hatespeech.progress import read_progress

console = Console(width=140)


async def paced(port: int, texts: list[str], rate: float, seconds: float) -> dict[str, float]:
    """``rate`` requests/s for ``seconds``, each on a free connection of a pool; latency from its due time."""
    pool: asyncio.Queue[harness.Connection] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(harness.Connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0

    async def one(due: float, text: str) -> None:
        nonlocal errors
        connection = await pool.get()
        try:
            errors += await connection.post_json("/predict", json.dumps({"text": text}).encode()) != 200
        finally:
            pool.put_nowait(connection)
        latencies.append(time.perf_counter() - due)

    started, tasks = time.perf_counter(), []
    for index in range(int(rate * seconds)):
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due, texts[index % len(texts)])))
    await asyncio.gather(*tasks)
    while not pool.empty():
        await pool.get_nowait().close()
    latencies.sort()
    return {"p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * latencies[int(0.99 * len(latencies))],
            "errors": errors}  # fmt: skip


class Trainer:
    """A background full training and its pause switch."""

    def __init__(self, model: Path, state: Path, mode: str) -> None:
        """``mode``: "shared" (the server's setting: ``train --share-cpu``, started with one thread), "shared2" (the
        same started with two, the first version) or a fixed thread count."""
        names = {"shared": "shared CPU, started with one thread", "shared2": "shared CPU, started with two threads"}
        self.name = names.get(mode, f"{mode} thread(s), fixed")
        threads = 2 if mode == "shared2" else None if mode == "shared" else int(mode)
        self.training = FullTraining(
            model, state, _locked(state), every_s=3600, threads=threads, share_cpu=mode in names
        )
        self.progress = self.training.progress_path
        self.baseline = (0.0, 0.0)

    def pause(self) -> None:
        os.kill(self.training.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.training.process.pid, signal.SIGCONT)

    def counters(self) -> tuple[float, float]:
        """(training work done, in progress units; CPU seconds used)."""
        work = (read_progress(self.progress) or {}).get("work")
        cpu: float = sum(psutil.Process(self.training.process.pid).cpu_times()[:2])
        return (float(work[0]) if isinstance(work, list) else 0.0), cpu

    def planned(self) -> float:
        work = (read_progress(self.progress) or {}).get("work")
        return float(work[1]) if isinstance(work, list) else 0.0

    def started_training(self) -> bool:
        """Past loading the data and the base model: into the training steps proper."""
        return self.counters()[0] > 0

    def rate_during(self, action: Callable[[], None]) -> tuple[float, float]:
        """While ``action()`` runs: the trainer's CPU seconds per second (what the scheduler gives it) and its work
        units per second (what it makes of them; the progress file is rewritten every second)."""
        (work, cpu), started = self.counters(), time.perf_counter()
        action()
        (work_after, cpu_after), elapsed = self.counters(), time.perf_counter() - started
        return (cpu_after - cpu) / elapsed, (work_after - work) / elapsed


def _locked(state: Path) -> int:
    lock = exclusive(state)
    if lock is None:
        raise SystemExit(f"{state} is training already")
    return lock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--trainers", default="shared,2", help="one trainer each: shared, or a fixed thread count")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=30.0, help="the steady load, requests/s")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="background-"))
    model = scratch / "models" / "current"
    shutil.copytree(args.model.resolve(), model)  # the trainers publish nothing (stopped first) but aim here
    port = harness.free_port()
    server, _ = harness.start_server(
        [".venv/bin/hatespeech", "serve", "--model", str(model), "--port", str(port)],
        f"http://127.0.0.1:{port}/ready", log=scratch / "serve.log",
    )  # fmt: skip
    trainers: list[Trainer] = []
    try:
        for mode in args.trainers.split(","):
            trainers.append(Trainer(model, scratch / f"state-{mode}", mode))
            trainers[-1].pause()
        texts = harness.distinct_texts(model, 5000)
        offset = 0

        def next_texts(count: int) -> list[str]:
            nonlocal offset
            offset += count
            return [f"{texts[i % len(texts)]} [{i}]" for i in range(offset - count, offset)]

        for trainer in trainers:  # past loading and tokenizing: into the training steps proper
            trainer.resume()
            while not trainer.started_training():
                time.sleep(2)
            trainer.pause()
        conditions = ["none"] + [t.name for t in trainers]
        phases: dict[str, list[dict[str, float]]] = {name: [] for name in conditions}
        idle: dict[str, list[tuple[float, float]]] = {name: [] for name in conditions[1:]}
        for repeat in range(args.repeats):
            order = conditions[repeat % len(conditions) :] + conditions[: repeat % len(conditions)]
            for name in order:
                running = None if name == "none" else trainers[conditions.index(name) - 1]
                if running is not None:
                    running.resume()
                    idle[name].append(running.rate_during(lambda: time.sleep(args.seconds)))
                record = measure(port, running, next_texts, args)
                phases[name].append(record)
                console.print(f"repeat {repeat + 1} {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in record.items()))
        planned = max(t.planned() for t in trainers)
    finally:
        for trainer in trainers:
            trainer.resume()
            trainer.training.stop()
        harness.stop(server)
        shutil.rmtree(scratch, ignore_errors=True)
    figures = summarise(phases, idle, planned, args)
    path = harness.write("background", figures, args.out)
    console.print_json(json.dumps(figures))
    console.print(f"written: {path}")


def measure(
    port: int, trainer: Trainer | None, next_texts: Callable[[int], list[str]], args: argparse.Namespace
) -> dict[str, float]:
    """One phase: the steady load, then saturation, with ``trainer`` running (None: no training)."""
    record: dict[str, float] = {}

    def steady() -> None:
        result = asyncio.run(paced(port, next_texts(int(args.rate * args.seconds)), args.rate, args.seconds))
        record.update({f"steady_{k}": v for k, v in result.items()})

    def saturated() -> None:
        script = harness.wrk_script("/predict", port, [json.dumps({"text": t}) for t in next_texts(3000)])
        result = harness.run_wrk(script, port, args.concurrency, args.seconds)
        record["saturated_rps"] = result["requests"] / result["seconds"]
        record.update(saturated_p50_ms=result["p50_ms"], saturated_p99_ms=result["p99_ms"])
        record["saturated_errors"] = result["requests"] - result["ok"]

    if trainer is None:
        steady()
        saturated()
        return record
    record["steady_train_cpu"], record["steady_train_work"] = trainer.rate_during(steady)
    record["saturated_train_cpu"], record["saturated_train_work"] = trainer.rate_during(saturated)
    trainer.pause()
    return record


def summarise(
    phases: dict[str, list[dict[str, float]]],
    idle: dict[str, list[tuple[float, float]]],
    planned: float,
    args: argparse.Namespace,
) -> dict[str, object]:
    """Medians per condition, and each trainer's ratios to "none" pair by pair (median, min, max)."""

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    base = phases["none"]
    conditions: dict[str, object] = {"none": {key: statistics.median(p[key] for p in base) for key in base[0]}}
    for name, records in phases.items():
        if name == "none":
            continue
        idle_cpu, idle_work = (statistics.median(rates) for rates in zip(*idle[name], strict=True))
        medians = {key: statistics.median(r[key] for r in records) for key in records[0]}
        rates = {
            "idle": idle_work,
            "steady": medians["steady_train_work"],
            "saturated": medians["saturated_train_work"],
        }
        conditions[name] = {
            **medians,
            "idle_train_cpu": idle_cpu,
            "idle_train_work": idle_work,
            "vs_none": {
                key: spread([r[key] / b[key] for r, b in zip(records, base, strict=True)])
                for key in ("steady_p50_ms", "steady_p99_ms", "saturated_rps", "saturated_p99_ms")
            },
            # the whole plan at each rate (loading and export not included)
            "full_training_minutes": {load: planned / max(1e-9, rate) / 60 for load, rate in rates.items()},
            "train_share": {load: rates[load] / idle_work for load in ("steady", "saturated")},
        }
    return {"repeats": args.repeats, "seconds": args.seconds, "rate": args.rate, "concurrency": args.concurrency,
            "model": str(args.model), "planned_work": planned, "conditions": conditions}  # fmt: skip


if __name__ == "__main__":
    main()
