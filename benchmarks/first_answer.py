"""From a clean clone to the first answer: what a new user waits for after `make run`.

Clones this repository's HEAD into a scratch folder (``../shared`` linked beside it, as CI has it), runs
``make install`` (pip's own time, reported apart; ``--cold-pip`` empties pip's cache for it), then ``make run`` and
sends a ``/predict`` every half second until one answers 200. Records both times, the quick model's figures
(hold-out validation, and ``sampled_test`` for the record) and what ``/model`` says; then stops the server, which
stops the full training it started in the background.

    .venv/bin/python benchmarks/first_answer.py [--cold-pip] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import harness
import httpx
from rich.console import Console

console = Console(width=140)
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-pip", action="store_true", help="pip downloads everything (no cache)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch clone")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="first-answer-"))
    clone = scratch / "main"
    (scratch / "shared").symlink_to((ROOT.parent / "shared").resolve())
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {**os.environ, **({"PIP_NO_CACHE_DIR": "1"} if args.cold_pip else {})}
    env.pop("HATESPEECH_DATA_DIR", None)  # the clone finds ../shared by itself
    started = time.perf_counter()
    subprocess.run(["make", "install"], cwd=clone, env=env, check=True, stdout=subprocess.DEVNULL)
    install_s = time.perf_counter() - started

    port = harness.free_port()
    log = (scratch / "run.log").open("wb")
    started = time.perf_counter()
    run = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)  # fmt: skip
    try:
        first_answer_s = wait_for_answer(port, run, started, args.timeout)
        model = httpx.get(f"http://127.0.0.1:{port}/model", timeout=10).json()
        time.sleep(5)  # the background training has started (its pid file is written at the server's start)
        training = (clone / "var" / "full-training.pid").is_file()  # the default state dir
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        code = run.wait(60)
        log.close()
    metrics = json.loads((clone / "models" / "current" / "metrics.json").read_text())
    figures = {
        "install_s": round(install_s, 1),
        "pip_cache": "cold" if args.cold_pip else "warm",
        "first_answer_s": round(first_answer_s, 1),
        "quick_train_s": metrics["train_seconds"],
        "recipe": model.get("recipe"),
        "validation": {k: metrics["validation"][k] for k in ("accuracy", "roc_auc", "macro_f1")},
        "sampled_test": {k: metrics["test"][k] for k in ("accuracy", "roc_auc", "macro_f1")},
        "background_training_started": training,
        "make_run_exit": code,
    }
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        console.print(f"kept: {scratch}")
    path = harness.write("first_answer", figures, args.out)
    console.print_json(json.dumps(figures))
    console.print(f"written: {path}")


def wait_for_answer(port: int, run: subprocess.Popen[bytes], started: float, timeout: float) -> float:
    """Seconds from ``make run`` until a ``/predict`` answers 200."""
    while time.perf_counter() - started < timeout:
        if run.poll() is not None:
            raise RuntimeError(f"make run exited with {run.returncode}")
        try:
            answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": "hello there"}, timeout=5)
            if answer.status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer within {timeout:g} s")


if __name__ == "__main__":
    main()
