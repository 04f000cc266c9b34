"""Does ONNX Runtime's fused BERT attention pay on this CPU? (issue 29: the "fused ONNX Runtime" engine)

Our export (transformers' default attention) leaves nothing for ONNX Runtime's transformer optimizer to fuse: it
builds the mask with IsNaN/Where nodes its pattern matcher does not know. This script exports the same model
again with eager attention, runs the optimizer (``model_type=bert``), prints its fused-operator statistics,
quantizes the fused graph as the export quantizes ours (dynamic, per channel, reduced range: the Attention
nodes become QAttention), and times all four graphs in turns on two text sets (parity sentences and
``sampled_test``), length-sorted batches of 32, best of ``--rounds``; label agreement with our fp32 graph.
Needs torch (an export). Usage::

    .venv/bin/python benchmarks/ort_fusion.py [--model models/current] [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import collections
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import harness
import numpy as np
import onnx
import onnxruntime as ort
from rich.console import Console
from rich.table import Table

from hatespeech.data import load_split, resolve_data_dir
from hatespeech.engines.base import Encoded, collate
from hatespeech.engines.measure import parity_texts
from hatespeech.engines.onnx_runtime import OnnxEngine

console = Console(width=140)


def export_fused(model: Path, out: Path) -> dict[str, int]:
    """Eager-attention export, optimized and quantized into ``out``; the optimizer's fused-operator counts."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    network = AutoModelForSequenceClassification.from_pretrained(model, attn_implementation="eager").eval()
    network.config.return_dict = False
    sample = tokenizer(["export sample text", "a second one"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes: dict[str, Any] = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, tuple(sample[n] for n in names), str(out / "eager.onnx"), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)  # fmt: skip
    config = network.config
    fused = optimizer.optimize_model(str(out / "eager.onnx"), model_type="bert", opt_level=0,
                                     num_heads=config.num_attention_heads, hidden_size=config.hidden_size)  # fmt: skip
    fused.save_model_to_file(str(out / "fused.onnx"))
    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(str(out / "fused.onnx"), str(out / "fused.int8.onnx"), weight_type=QuantType.QInt8,
                     per_channel=True, reduce_range=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fmt: skip
    counts: dict[str, int] = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    quantized = collections.Counter(n.op_type for n in onnx.load(str(out / "fused.int8.onnx")).graph.node)
    counts["QAttention (int8 graph)"] = quantized["QAttention"]
    return counts


def session(path: Path, threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    runner = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in runner.get_inputs()}
    return lambda batch: runner.run(["logits"], batch.feeds(names))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/ort_fusion.json")
    args = parser.parse_args()
    model = args.model.resolve()
    reference = OnnxEngine(model, threads=args.threads)
    texts = {"parity sentences": parity_texts(model)[0],
             "sampled_test": load_split(resolve_data_dir(None), "sampled_test").texts}  # fmt: skip
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        counts = export_fused(model, Path(scratch))
        console.print(f"fused operators: {counts}")
        here = Path(scratch)
        graphs = {"ours fp32": model / "model.onnx", "ours int8": model / "model.int8.onnx",
                  "fused fp32": here / "fused.onnx", "fused int8": here / "fused.int8.onnx"}  # fmt: skip
        runners = {name: session(path, args.threads) for name, path in graphs.items()}
        for set_name, set_texts in texts.items():
            tokens = reference.tokenize(set_texts)
            order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
            batches: list[Encoded] = [collate([tokens[i] for i in order[s : s + 32]]) for s in range(0, len(order), 32)]
            best, logits = dict.fromkeys(runners, float("inf")), {}
            for run in runners.values():
                run(batches[0])
            for _ in range(args.rounds):
                for name, run in runners.items():
                    started = time.perf_counter()
                    logits[name] = np.concatenate([run(b) for b in batches])
                    best[name] = min(best[name], time.perf_counter() - started)
            labels = logits["ours fp32"].argmax(axis=1)
            for name in runners:
                rows.append({"texts": set_name, "graph": name, "texts_per_s": len(set_texts) / best[name],
                             "agreement": float(np.mean(logits[name].argmax(axis=1) == labels))})  # fmt: skip
    table = Table(title=f"ONNX Runtime, {args.threads} threads, length-sorted batches of 32, best of {args.rounds}")
    for column in ("texts", "graph", "texts/s", "x ours fp32", "agreement with ours fp32"):
        table.add_column(column, justify="left" if column in ("texts", "graph") else "right")
    for row in rows:
        base = next(r for r in rows if r["texts"] == row["texts"] and r["graph"] == "ours fp32")["texts_per_s"]
        table.add_row(row["texts"], row["graph"], f"{row['texts_per_s']:.0f}", f"{row['texts_per_s'] / base:.2f}",
                      f"{row['agreement']:.4f}")  # fmt: skip
    console.print(table)
    figures = {"threads": args.threads, "rounds": args.rounds, "fused_operators": counts, "rows": rows}
    console.print(f"written: {harness.write('ort_fusion', figures, args.json)}")


if __name__ == "__main__":
    main()
