"""Every engine this CPU can run for a model, measured as ``HATESPEECH_ENGINE=auto`` measures them: texts per
second over the model's parity sentences in length-sorted batches of 32, accuracy and label agreement against
ONNX Runtime fp32, and which one auto would serve. Repeated ``--runs`` times (fresh engines each run) to show the
spread; each run's wall time is what auto's first start costs. Then each engine's resident memory: a fresh
process opens it alone and scores the parity sentences; its RSS after that, less the same process's RSS before it
opened the engine (numpy, tokenizers and the package imported), and its ``sampled_test`` accuracy (reporting
only). A model dir exported before parity.jsonl existed
gets one in a temporary copy. Usage::

    .venv/bin/python benchmarks/engines.py [--model models/current] [--threads 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import harness
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hatespeech import artifact
from hatespeech.data import load_split, resolve_data_dir
from hatespeech.engines.base import predict_in_batches
from hatespeech.engines.measure import calibrate, cpu_description, parity_texts
from hatespeech.engines.registry import open_engine, use_int8

console = Console(width=140)


def with_parity(model: Path, scratch: Path) -> Path:
    """``model`` itself when it has parity sentences, else a re-published copy that does."""
    if (model / artifact.PARITY_FILE).is_file():
        return model
    from hatespeech.export import write_parity_texts

    copy = scratch / "model"
    shutil.copytree(model.resolve(), copy)
    write_parity_texts(copy)
    artifact.write_manifest(copy)
    return copy


def resident(model: Path, engine: str, threads: int) -> tuple[float, float, float]:
    """In a fresh process: RSS before opening ``engine`` and after it scored 128 parity sentences (MB); then its
    accuracy on ``sampled_test`` (reporting only: nothing is chosen on it)."""
    texts, _ = parity_texts(model)
    before = harness.rss_mb()
    opened = open_engine(model, engine, threads)
    opened.predict(texts[:64])
    opened.predict(texts[64:128])
    after = harness.rss_mb()
    test = load_split(resolve_data_dir(None), "sampled_test")
    predicted = [p.label == "hate" for p in predict_in_batches(opened, test.texts, batch_size=32)]
    accuracy = sum(p == (label == 1) for p, label in zip(predicted, test.labels, strict=True)) / len(test)
    return before, after, accuracy


def memory(model: Path, engines: list[str], threads: int) -> dict[str, dict[str, float]]:
    """Each engine's resident memory and ``sampled_test`` accuracy, each in its own spawned process."""
    found = {}
    for engine in engines:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            before, after, accuracy = pool.submit(resident, model, engine, threads).result()
        found[engine] = {"process_mb": before, "total_mb": after, "engine_mb": after - before}
        found[engine]["test_accuracy"] = accuracy
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-drop", type=float, default=0.01)
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/engines.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = with_parity(args.model, Path(scratch))
        runs, seconds = [], []
        baseline = "onnx-int8" if use_int8(model, "auto", args.max_drop) else "onnx-fp32"  # what `onnx` serves
        for _ in range(args.runs):
            started = time.perf_counter()
            runs.append(calibrate(model, args.threads, args.max_drop, baseline))
            seconds.append(time.perf_counter() - started)
        resident_mb = memory(model, [t.engine for t in runs[0].trials if t.error is None], args.threads)
    title = f"Engines on {cpu_description()}, {args.threads} threads, {runs[0].texts} parity sentences"
    table = Table(title=escape(title))
    columns = ("engine", "texts/s under load, median [min-max]", "one at a time", "x onnx-fp32 (auto's rank)",
               "accuracy", "agreement", "passes", "RSS MB", "sampled_test")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "engine" else "right")
    rows = []
    reference = statistics.median(r.trials[0].speed for r in runs)
    for index, trial in enumerate(runs[0].trials):
        speeds = [r.trials[index].texts_per_s for r in runs]
        median, single = statistics.median(speeds), statistics.median(r.trials[index].single_per_s for r in runs)
        rank = statistics.median(r.trials[index].speed for r in runs)
        memory_mb = resident_mb.get(trial.engine, {})
        rows.append({**asdict(trial), "texts_per_s": median, "runs": speeds, "single_per_s": single, "rank": rank,
                     **memory_mb})  # fmt: skip
        table.add_row(trial.engine, f"{median:.0f} [{min(speeds):.0f}-{max(speeds):.0f}]", f"{single:.0f}",
                      f"{rank / reference:.2f}",
                      f"{trial.accuracy:.4f}", f"{trial.agreement:.4f}", "yes" if trial.passed else "no",
                      f"{memory_mb.get('engine_mb', 0):.0f}", f"{memory_mb.get('test_accuracy', 0):.4f}")  # fmt: skip
    console.print(table)
    chosen = [r.chosen for r in runs]
    console.print(escape(f"auto chose: {', '.join(chosen)} ({runs[0].reason})"), highlight=False)
    console.print(f"calibration took {', '.join(f'{s:.0f}' for s in seconds)} s (what auto's first start adds)")
    figures = {"cpu": cpu_description(), "threads": args.threads, "texts": runs[0].texts, "rows": rows,
               "chosen": chosen, "reasons": [r.reason for r in runs], "calibration_s": seconds}  # fmt: skip
    console.print(f"written: {harness.write('engines', figures, args.json)}")


if __name__ == "__main__":
    main()
