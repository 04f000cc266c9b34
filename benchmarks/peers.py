"""Peer benchmark: our server against the servers a user would otherwise pick, same model, same load.

Each server runs alone on loopback, started from its own virtualenv (made here from the pinned files in
benchmarks/peers/, never the project's), offline. The load generator is wrk (one thread, keep-alive), the
same for all: distinct texts from sampled_test (at most 80 tokens, so nobody truncates), single-text and
32-text requests at each concurrency, counting only 200 answers. Per server: req/s, texts/s, p50/p99, the
peak RSS of its process tree, and the time from start to ready; then the ratios of ours to each peer.

Ours runs once per engine this machine can run for the model (``ours-<engine>``, HATESPEECH_ENGINE=<engine>),
besides ``ours`` (the default setting) and ``ours-auto`` (a fresh state dir, so its ready time includes the
calibration; the engine it picked is recorded).

    .venv/bin/python benchmarks/peers.py [--model models/current] [--peers ours ours-auto naive infinity-onnx ...]
        [--concurrency 1 8 32 128] [--seconds 10] [--runs 2] [--json benchmarks/results/peers.json]

What each peer is given (the fair-comparison rules) is in PEERS below and in docs/benchmarks.md.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import harness
import httpx
from rich.console import Console
from rich.table import Table

from hatespeech.artifact import write_manifest
from hatespeech.engines.choice import CACHE_FILE
from hatespeech.engines.registry import candidates

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENVS = REPO / ".peer-venvs"
console = Console(width=160)
OFFLINE = {  # no hub, no telemetry, for every server
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "INFINITY_ANONYMOUS_USAGE_STATS": "0",
    "BENTOML_DO_NOT_TRACK": "True",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass
class Peer:
    name: str
    requirements: str | None  # benchmarks/peers/<file>; None: the project's own venv
    command: Callable[[Path, Path, int], list[str]]  # (python, model dir, port) -> argv
    ready: str
    path: str
    single: Callable[[str], object]
    batch: Callable[[list[str]], object] | None
    prepare: Callable[[Path, Path], Path] | None = None  # (model dir, scratch) -> the dir to serve
    cwd_is_model: bool = False
    engine: str | None = None  # ours: HATESPEECH_ENGINE


def ours(
    engine: str | None = None, name: str | None = None, prepare: Callable[[Path, Path], Path] | None = None
) -> Peer:
    """Our server, with the default engine setting or ``engine``."""
    return Peer(
        name or ("ours" if engine is None else f"ours-{engine}"), None,
        lambda python, model, port: [str(python.with_name("hatespeech")), "serve", "--model", str(model),
                                     "--port", str(port)],
        "/ready", "/predict", lambda t: {"text": t}, lambda ts: {"texts": ts}, engine=engine, prepare=prepare,
    )  # fmt: skip


def _unmeasured(model: Path, scratch: Path) -> Path:
    """The model dir without its export's engine measurement: a CPU ``auto`` has not seen, so the server starts on
    what ``onnx`` serves and measures in the background (its ready time is the target's "CPU not seen before")."""
    target = scratch / "unmeasured"
    shutil.copytree(model, target)
    (target / CACHE_FILE).unlink(missing_ok=True)
    write_manifest(target)
    return target


def _onnx_only(model: Path, scratch: Path) -> Path:
    """infinity's ONNX engine loads the one .onnx file of the dir it runs in: our int8 graph, as we serve it."""
    target = scratch / "onnx-int8"
    target.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (model / name).exists():
            shutil.copy(model / name, target / name)
    shutil.copy(model / "model.int8.onnx", target / "model.onnx")
    return target


def _infinity(engine: str) -> Callable[[Path, Path, int], list[str]]:
    def command(python: Path, model: Path, port: int) -> list[str]:
        model_id = "." if engine == "optimum" else str(model)
        return [str(python.with_name("infinity_emb")), "v2", "--model-id", model_id, "--engine", engine,
                "--device", "cpu", "--port", str(port), "--host", "127.0.0.1", "--batch-size", "32",
                "--no-model-warmup"]  # fmt: skip  # its warm-up sends a text over 512 tokens: it then hangs

    return command


PEERS = {
    "ours": ours(),
    "ours-auto": ours("auto"),
    "ours-onnx": ours("onnx"),  # the default before 0.7
    "ours-openvino-int8": ours("openvino-int8"),  # the engine fastest under load on VNNI CPUs
    "ours-new-cpu": ours("auto", "ours-new-cpu", _unmeasured),
    "naive": Peer(
        "naive", "naive.txt",
        lambda python, model, port: [str(python), str(HERE / "naive_server.py"), str(model), str(port)],
        "/health", "/predict", lambda t: {"text": t}, None,
    ),
    "infinity-onnx": Peer(
        "infinity-onnx", "infinity.txt", _infinity("optimum"), "/health", "/classify",
        lambda t: {"input": [t]}, lambda ts: {"input": ts}, prepare=_onnx_only, cwd_is_model=True,
    ),
    "infinity-torch": Peer(
        "infinity-torch", "infinity.txt", _infinity("torch"), "/health", "/classify",
        lambda t: {"input": [t]}, lambda ts: {"input": ts},
    ),
    "bentoml": Peer(
        "bentoml", "bentoml.txt",
        lambda python, model, port: [str(python.with_name("bentoml")), "serve", "bento_service:Classifier",
                                     "--port", str(port), "--host", "127.0.0.1"],
        "/readyz", "/classify", lambda t: {"texts": [t]}, lambda ts: {"texts": ts},
    ),
}  # fmt: skip


def venv_python(peer: Peer) -> Path:
    """The peer's interpreter; its virtualenv is made from its pinned requirements on first use."""
    if peer.requirements is None:
        return Path(sys.executable)
    requirements = HERE / "peers" / peer.requirements
    target = VENVS / requirements.stem
    stamp = target / ".requirements"
    if not stamp.exists() or stamp.read_text() != requirements.read_text():
        console.print(f"[{peer.name}] making {target} from {requirements.relative_to(REPO)}")
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(requirements)]
        subprocess.run(pip, check=True)
        stamp.write_text(requirements.read_text())
    return target / "bin" / "python"


def start(
    peer: Peer, python: Path, model: Path, port: int, log: Path, scratch: Path
) -> tuple[subprocess.Popen[bytes], float]:
    env = {**os.environ, **OFFLINE, "HATESPEECH_PEER_MODEL": str(model)}
    env.pop("PYTHONPATH", None)
    if peer.engine is not None:  # a fresh state dir: auto measures at start, and ready_s says what that costs
        env.update({"HATESPEECH_ENGINE": peer.engine, "HATESPEECH_STATE_DIR": str(scratch / "state")})
    cwd = model if peer.cwd_is_model else HERE / "peers"
    command = peer.command(python, model, port)
    return harness.start_server(command, f"http://127.0.0.1:{port}{peer.ready}", env=env, log=log, cwd=cwd)


def drain(peer: Peer, port: int, body: str) -> None:
    """Wait for one answer after a cell: work that wrk left queued must not slow the next cell."""
    headers = {"Content-Type": "application/json"}
    httpx.post(f"http://127.0.0.1:{port}{peer.path}", content=body, headers=headers, timeout=300)


def measure(peer: Peer, model: Path, texts: list[str], concurrency: list[int], seconds: float, log: Path) -> dict:
    """Start the peer, warm it up, drive every (shape, concurrency) cell; return its figures."""
    python = venv_python(peer)
    scratch = Path(tempfile.mkdtemp(prefix=f"peer-{peer.name}-"))
    try:
        served = peer.prepare(model, scratch) if peer.prepare else model
        port = harness.free_port()
        process, ready = start(peer, python, served, port, log, scratch)
        engine = httpx.get(f"http://127.0.0.1:{port}/model").json().get("engine") if peer.requirements is None else None
        rss = harness.TreeRss(process.pid)
        cells: dict[str, dict[str, float]] = {}
        try:
            single = [json.dumps(peer.single(t)) for t in texts]
            # warm-up (BentoML starts one by one)
            harness.run_wrk(harness.wrk_script(peer.path, port, single[:200]), port, 8, 3)
            shapes = [("single", single, 1)]
            if peer.batch is not None:
                groups = [texts[i : i + 32] for i in range(0, len(texts) - 31, 32)]
                shapes.append(("batch32", [json.dumps(peer.batch(g)) for g in groups], 32))
            for shape, bodies, per_request in shapes:
                for c in concurrency:
                    figures = harness.run_wrk(harness.wrk_script(peer.path, port, bodies), port, c, seconds)
                    drain(peer, port, single[0])
                    rate = figures["ok"] / figures["seconds"]
                    cells[f"{shape}/c{c}"] = {**figures, "req_s": rate, "texts_s": rate * per_request}
                    console.print(
                        f"  {peer.name:15} {shape:8} c={c:<4} {rate:8.1f} req/s {rate * per_request:8.1f} texts/s "
                        f"p50 {figures['p50_ms']:7.1f} ms p99 {figures['p99_ms']:7.1f} ms "
                        f"ok {figures['ok']}/{figures['requests']}",
                        highlight=False,
                    )
        finally:
            peak = rss.stop()
            harness.stop(process)
        return {"ready_s": ready, "peak_rss_mb": peak, "cells": cells, "engine": engine}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(runs: list[dict[str, dict]], names: list[str]) -> None:
    cells = sorted({cell for run in runs for figures in run.values() for cell in figures["cells"]},
                   key=lambda c: (c.split("/")[0], int(c.split("/c")[1])))  # fmt: skip
    table = Table(title=f"req/s (texts/s for batch32), {len(runs)} run(s): median [min-max]; ours / peer")
    table.add_column("cell")
    for name in names:
        table.add_column(name, justify="right")
    for cell in cells:
        row = [cell]
        key = "texts_s" if cell.startswith("batch") else "req_s"
        ours = [run["ours"]["cells"][cell][key] for run in runs if "ours" in run and cell in run["ours"]["cells"]]
        for name in names:
            values = [run[name]["cells"][cell][key] for run in runs if name in run and cell in run[name]["cells"]]
            if not values:
                row.append("-")
                continue
            text = f"{statistics.median(values):.0f} [{min(values):.0f}-{max(values):.0f}]"
            if name != "ours" and ours:
                text += f" x{statistics.median(ours) / statistics.median(values):.2f}"
            row.append(text)
        table.add_row(*row)
    for label, key in (("peak RSS MB", "peak_rss_mb"), ("ready s", "ready_s")):
        table.add_row(label, *[
            "/".join(f"{run[name][key]:.1f}" for run in runs if name in run) or "-" for name in names
        ])  # fmt: skip
    table.add_row("engine", *[
        "/".join(str(run[name].get("engine") or "-") for run in runs if name in run) or "-" for name in names
    ])  # fmt: skip
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--peers", nargs="+", default=None, help=f"default: {', '.join(PEERS)} and ours-<engine>")
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=harness.RESULTS / "peers.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    model = args.model.resolve()
    for engine in candidates(model):
        PEERS.setdefault(f"ours-{engine}", ours(engine))
    args.peers = args.peers or list(PEERS)
    unknown = set(args.peers) - set(PEERS)
    if unknown:
        sys.exit(f"unknown peers: {', '.join(sorted(unknown))} (known: {', '.join(PEERS)})")
    texts = harness.distinct_texts(model, 6000)
    log = Path(tempfile.mkdtemp(prefix="peers-")) / "servers.log"
    console.print(f"{len(texts)} distinct texts; server logs in {log}")
    runs: list[dict[str, dict]] = []
    for run in range(args.runs):
        order = args.peers if run % 2 == 0 else list(reversed(args.peers))  # both orders: drift cancels out
        results: dict[str, dict] = {}
        for name in order:
            console.print(f"run {run + 1}: {name}")
            results[name] = measure(PEERS[name], model, texts, args.concurrency, args.seconds, log)
        runs.append(results)
    report(runs, args.peers)
    console.print(f"written: {harness.write('peers', {'seconds': args.seconds, 'runs': runs}, args.json)}")


if __name__ == "__main__":
    main()
