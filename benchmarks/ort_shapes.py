"""ONNX Runtime alone on the batch shapes a server meets: where the inference time per text goes.

The served graph (int8 unless ``--fp32``) scores the same distinct texts as ``peers.py``, in batches of
N texts. Each batch is padded to its longest text, and the texts are grouped either as they arrive (random
groups, sorted only within the group) or sorted by length first (what a deep queue allows). The script
prints the time per text and the padding (padded tokens / real tokens) per batch size, for each thread
count. The gap between the two groupings is what padding costs, and the server's own
``hatespeech_inference_seconds`` / ``hatespeech_batch_size`` in ``/metrics`` can be set beside it. Usage::

    .venv/bin/python benchmarks/ort_shapes.py [--model models/current] [--threads 1 2] [--sizes 1 4 10 32]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import harness
from rich.console import Console

from hatespeech.engines.base import Tokens, collate
from hatespeech.engines.onnx_runtime import OnnxEngine

console = Console(width=140)


def time_batches(engine: OnnxEngine, groups: list[list[Tokens]], rounds: int) -> dict[str, float]:
    """Median over ``rounds`` of the time per text; padded / real tokens."""
    for group in groups[:3]:  # warm-up
        engine.predict_encoded(collate(group))
    texts = sum(len(g) for g in groups)
    per_text = []
    for _ in range(rounds):
        started = time.perf_counter()
        for group in groups:
            engine.predict_encoded(collate(group))
        per_text.append((time.perf_counter() - started) / texts * 1000)
    padded = sum(collate(g).tokens for g in groups)
    real = sum(len(t) for g in groups for t in g)
    return {"ms_per_text": statistics.median(per_text), "spread_ms": max(per_text) - min(per_text),
            "padding": padded / real}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 10, 32])
    parser.add_argument("--texts", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fp32", action="store_true", help="the fp32 graph instead of int8")
    args = parser.parse_args()
    model = args.model.resolve()
    rows: list[dict[str, Any]] = []
    for threads in args.threads:
        engine = OnnxEngine(model, quantized=not args.fp32, threads=threads)
        tokens = engine.tokenize(harness.distinct_texts(model, args.texts))
        shuffled = random.Random(0).sample(tokens, len(tokens))
        by_length = sorted(tokens, key=len)
        for size in args.sizes:
            for grouping, source in (("as they arrive", shuffled), ("sorted by length", by_length)):
                groups = [sorted(source[i : i + size], key=len) for i in range(0, len(source), size)]
                row = {"threads": threads, "batch": size, "grouping": grouping,
                       **time_batches(engine, groups, args.rounds)}  # fmt: skip
                rows.append(row)
                console.print(
                    f"threads {threads} batch {size:3} {grouping:17} {row['ms_per_text']:6.2f} ms/text "
                    f"(spread {row['spread_ms']:.2f}) padding {row['padding']:.2f}",
                    highlight=False,
                )
    figures = {"graph": "fp32" if args.fp32 else "int8", "texts": args.texts, "rounds": args.rounds, "rows": rows}
    console.print(f"written: {harness.write('ort_shapes', figures)}")


if __name__ == "__main__":
    main()
