"""What the text normalisation costs on the serving path: tokenizing with and without it, against the forward pass.

The same model dir is opened twice by the server's engine (ONNX Runtime, int8 when the export allows it): once
as trained (``social-v1``) and once with the normalisation switched off in a copy of its config. Texts: distinct
posts of both kinds the server meets, ``sampled_test``'s forum sentences and HateXplain's val posts (7% hold
emoji), in length-sorted batches of 32 as the micro-batcher forms them. Each figure is the median of ``--runs``
runs, with the range; the cost per text is the difference of the two tokenizer timings.

Usage::

    .venv/bin/python benchmarks/normalization.py --model models/current [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import harness

from hatespeech.corpora import SHARED_HATEXPLAIN, load_hatexplain
from hatespeech.data import load_split, resolve_data_dir
from hatespeech.engines.base import collate, length_batches
from hatespeech.engines.onnx_runtime import ONNX_INT8, OnnxEngine
from hatespeech.model_dir import CONFIG_FILE
from hatespeech.normalization import CONFIG_KEY


def timed(work: Callable[[], object], runs: int) -> list[float]:
    """Seconds of ``runs`` calls of ``work`` (after one warm-up call)."""
    work()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="default: results/normalization.json")
    args = parser.parse_args()

    texts = load_split(resolve_data_dir(None), "sampled_test").texts
    if SHARED_HATEXPLAIN.is_file():
        texts += load_hatexplain(SHARED_HATEXPLAIN, ("val",)).texts
    texts = list(dict.fromkeys(texts))
    batches = [[texts[i] for i in batch] for batch in length_batches([len(t) for t in texts], 32)]
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir = Path(tmp) / "plain"
        shutil.copytree(args.model.resolve(), plain_dir)
        config = json.loads((plain_dir / CONFIG_FILE).read_text())
        config[CONFIG_KEY] = "none"
        (plain_dir / CONFIG_FILE).write_text(json.dumps(config))
        int8 = (args.model / ONNX_INT8).is_file()
        normalised, plain = OnnxEngine(args.model, quantized=int8), OnnxEngine(plain_dir, quantized=int8)
        if normalised.info.normalization == "none":
            raise SystemExit(f"{args.model} was trained without a normalisation: nothing to measure")
        encoded = [collate(normalised.tokenize(batch)) for batch in batches]
        tokenize_on = timed(lambda: [normalised.tokenize(batch) for batch in batches], args.runs)
        tokenize_off = timed(lambda: [plain.tokenize(batch) for batch in batches], args.runs)
        forward = timed(lambda: [normalised.forward(batch) for batch in encoded], args.runs)
    per_text = {name: [s / len(texts) * 1e6 for s in values] for name, values in
                (("tokenize_normalised_us", tokenize_on), ("tokenize_plain_us", tokenize_off),
                 ("forward_us", forward))}  # fmt: skip
    medians = {name: statistics.median(values) for name, values in per_text.items()}
    cost = medians["tokenize_normalised_us"] - medians["tokenize_plain_us"]
    figures = {
        "texts": len(texts),
        "runs": args.runs,
        "engine": "onnx-int8" if normalised.quantized else "onnx-fp32",
        **{name: {"median": medians[name], "min": min(v), "max": max(v)} for name, v in per_text.items()},
        "normalisation_us_per_text": cost,
        "share_of_forward": cost / medians["forward_us"],
    }
    print(json.dumps(figures, indent=1))
    print(f"written: {harness.write('normalization', figures, args.json)}")


if __name__ == "__main__":
    main()
