"""PyTorch -> ONNX (fp32 and dynamically quantized int8), checked against PyTorch before it counts.

The export fails unless the fp32 graph agrees with PyTorch on at least ``MIN_AGREEMENT`` of the labels of
the check texts. The results (agreement, score differences, accuracy of each variant) go to
``export.json`` in the model dir; the server reads it to decide whether the int8 graph may be used. Since
that is a choice, the check texts are the training data, never the test split: the accuracies are
in-sample, and their difference says how much int8 changes the model's answers, not how good it is.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hatespeech.artifact import PARITY_FILE
from hatespeech.data import LABELS, Dataset
from hatespeech.engine import TorchEngine, predict_in_batches
from hatespeech.errors import ModelError
from hatespeech.evaluation import compute_metrics
from hatespeech.onnx_engine import ONNX_FP32, ONNX_INT8, OnnxEngine

EXPORT_FILE = "export.json"
MIN_AGREEMENT = 0.995
OPSET = 17

_FALLBACK_TEXTS = [
    "I love this community and everyone in it.",
    "Those people are vermin and should be thrown out of our country.",
    "The meeting is on Tuesday at the usual place.",
    "a",
    "Long text " * 200,
]


def export_onnx(directory: Path) -> None:
    """Write ``model.onnx`` (fp32, dynamic batch and sequence axes) and ``model.int8.onnx``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from hatespeech.modeling import load_trained

    tokenizer, model = load_trained(directory)
    model.config.return_dict = False
    sample = tokenizer(["export sample text", "a second one"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    dynamic = {name: {0: "batch", 1: "sequence"} for name in names}
    dynamic["logits"] = {0: "batch"}
    fp32 = directory / ONNX_FP32
    with torch.inference_mode(), warnings.catch_warnings():
        # The legacy (TorchScript) exporter is used on purpose: it handles BERT's dynamic axes reliably;
        # its deprecation and tracer warnings say nothing about this graph (parity is checked below).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model.config.return_dict = True
    # Per-channel weights with reduced range: plain per-tensor int8 flips ~7% of this model's labels
    # (u8 x s8 products saturate on CPUs without VNNI); this setting keeps agreement near 98%.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # silence the quantizer's generic "consider pre-processing" advice
    try:
        quantize_dynamic(
            str(fp32), str(directory / ONNX_INT8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
        )
    finally:
        root.setLevel(level)


def write_parity_texts(directory: Path) -> None:
    """``parity.jsonl``: the sentences other engines are checked on at serve time (``HATESPEECH_ENGINE=auto``).
    The project's own generated frames (another draw than training's), so the model dir carries no dataset text."""
    from hatespeech.training.frames import SEED, generate

    lines = [json.dumps({"text": e.text, "label": LABELS[e.label]}, ensure_ascii=False) for e in generate(SEED + 1)]
    (directory / PARITY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def check_parity(
    directory: Path, check: Dataset | None, on_step: Callable[[str], None] = lambda step: None
) -> dict[str, Any]:
    """Compare both ONNX graphs with PyTorch on ``check`` (labelled) or a few fixed texts."""
    texts = check.texts if check is not None and len(check) else _FALLBACK_TEXTS
    on_step(f"scoring {len(texts)} texts with PyTorch")
    reference = predict_in_batches(TorchEngine(directory), texts)
    ref_labels = np.array([p.label for p in reference])
    ref_scores = np.array([p.score for p in reference])
    report: dict[str, Any] = {
        "check_texts": len(texts),
        "check_source": check.report.source if check else "fixed",
    }
    if check is not None and len(check):
        report["torch_accuracy"] = compute_metrics(check.labels, ref_scores)["accuracy"]
    for name, quantized in (("fp32", False), ("int8", True)):
        on_step(f"scoring {len(texts)} texts with ONNX {name}")
        outputs = predict_in_batches(OnnxEngine(directory, quantized=quantized), texts)
        scores = np.array([p.score for p in outputs])
        entry: dict[str, Any] = {
            "label_agreement": float(np.mean(np.array([p.label for p in outputs]) == ref_labels)),
            "max_score_diff": float(np.max(np.abs(scores - ref_scores))),
            "mean_score_diff": float(np.mean(np.abs(scores - ref_scores))),
        }
        if check is not None and len(check):
            entry["accuracy"] = compute_metrics(check.labels, scores)["accuracy"]
        report[name] = entry
    return report


def export_model_dir(directory: Path, check: Dataset | None, console: Console | None = None) -> dict[str, Any]:
    """Export, check parity, write ``export.json``; raise :class:`ModelError` if fp32 disagrees with torch."""
    console = console or Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("exporting to ONNX (fp32 + int8)", total=4)
        export_onnx(directory)
        write_parity_texts(directory)

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        report = check_parity(directory, check, step)
        progress.update(task, advance=1)
    (directory / EXPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    table = Table(title=f"ONNX export: parity with PyTorch on {report['check_texts']} texts ({report['check_source']})")
    for column in ("graph", "label agreement", "max |score diff|", "accuracy"):
        table.add_column(column, justify="right" if column != "graph" else "left")
    for name in ("fp32", "int8"):
        entry = report[name]
        accuracy = f"{entry['accuracy']:.4f}" if "accuracy" in entry else "n/a"
        table.add_row(name, f"{entry['label_agreement']:.4f}", f"{entry['max_score_diff']:.2e}", accuracy)
    console.print(table)
    if report["fp32"]["label_agreement"] < MIN_AGREEMENT:
        raise ModelError(
            f"ONNX fp32 export disagrees with PyTorch on {1 - report['fp32']['label_agreement']:.2%} "
            f"of labels (limit {1 - MIN_AGREEMENT:.1%})"
        )
    return report
