"""PyTorch -> ONNX (fp32 and dynamically quantized int8), and CTranslate2 and OpenVINO static int8 where installed,
checked before they count.

The export fails unless the fp32 graph agrees with PyTorch on at least ``MIN_AGREEMENT`` of the labels of
the check texts. The results (agreement, score differences, accuracy of each variant) go to
``export.json`` in the model dir; the server reads it to decide whether the int8 graph may be used. Since
that is a choice, the check texts are the training data, never the test split: the accuracies are
in-sample, and their difference says how much int8 changes the model's answers, not how good it is.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hatespeech.artifact import CT2_DIR, OV_DIR, OV_INT8, PARITY_FILE
from hatespeech.data import LABELS, Dataset
from hatespeech.engines.base import BaseEngine, predict_in_batches
from hatespeech.engines.onnx_runtime import ONNX_FP32, ONNX_INT8, OnnxEngine
from hatespeech.engines.registry import DEFAULT_MAX_DROP, open_engine, resolve
from hatespeech.errors import ModelError
from hatespeech.evaluation import compute_metrics
from hatespeech.model_card import write_card
from hatespeech.model_dir import EXPORT_FILE
from hatespeech.modeling import TorchEngine

MIN_AGREEMENT = 0.995
OPSET = 17
CALIBRATION_TEXTS = 300  # NNCF's default subset size: activation ranges settle well before it


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


def export_ctranslate2(directory: Path) -> str | None:
    """Write ``ctranslate2/``: the encoder converted by CTranslate2 (float32; int8 is quantized at load) and the
    classification head. Returns None when written, else why it was not (CTranslate2 missing, a model it
    does not fit)."""
    out = directory / CT2_DIR
    shutil.rmtree(out, ignore_errors=True)  # a re-export never keeps an older conversion
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError:
        return "CTranslate2 is not installed (pip install '.[ctranslate2]')"
    from hatespeech.engines.ctranslate2 import HEAD_FILE
    from hatespeech.modeling import load_trained

    tokenizer, model = load_trained(directory)
    encoder, head = getattr(model, "bert", None), getattr(model, "classifier", None)
    if model.config.model_type != "bert" or encoder is None or encoder.pooler is None or head is None:
        return f"the ctranslate2 engine takes BERT models with a pooler; this one is {model.config.model_type}"
    if not hasattr(encoder.config, "position_embedding_type"):  # transformers 5 configs may omit the only kind
        encoder.config.position_embedding_type = "absolute"
    with tempfile.TemporaryDirectory() as source:
        encoder.save_pretrained(source)
        tokenizer.save_pretrained(source)
        try:
            TransformersConverter(source).convert(str(out), quantization="float32", force=True)
        except Exception as exc:  # the converter raises whatever its model specs hit; the ONNX export stands
            shutil.rmtree(out, ignore_errors=True)
            return f"CTranslate2 could not convert this model: {exc}"
    weight, bias = (p.detach().float().numpy() for p in (head.weight, head.bias))
    np.savez(out / HEAD_FILE, weight=weight, bias=bias)
    return None


def check_converted(directory: Path, engine: BaseEngine, folder: str) -> dict[str, Any]:
    """A converted engine (CTranslate2 f32, OpenVINO int8) against ONNX Runtime fp32 on the parity sentences; its
    ``folder`` is removed below ``MIN_AGREEMENT`` (a conversion that changed the model must not be offered)."""
    from hatespeech.engines.measure import parity_texts

    texts, _ = parity_texts(directory)
    reference = predict_in_batches(OnnxEngine(directory), texts)
    converted = predict_in_batches(engine, texts)
    scores = np.array([[a.score, b.score] for a, b in zip(reference, converted, strict=True)])
    entry: dict[str, Any] = {
        "check_texts": len(texts),
        "label_agreement": float(np.mean([a.label == b.label for a, b in zip(reference, converted, strict=True)])),
        "max_score_diff": float(np.max(np.abs(scores[:, 0] - scores[:, 1]))),
    }
    if entry["label_agreement"] < MIN_AGREEMENT:
        shutil.rmtree(directory / folder)
        entry["removed"] = f"agreement with ONNX fp32 below {MIN_AGREEMENT}"
    return entry


def export_openvino_int8(directory: Path, check: Dataset | None) -> str | None:
    """Write ``openvino/model.int8.xml``: the fp32 ONNX graph quantized to static int8 by NNCF, its activation
    ranges calibrated on up to ``CALIBRATION_TEXTS`` of the export's check texts (training data; else the parity
    sentences), tokenized as served. NNCF runs in a child process, so that it never shares one with torch (the
    training that called the export). Returns None when written, else why not (OpenVINO or NNCF missing)."""
    shutil.rmtree(directory / OV_DIR, ignore_errors=True)
    if importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None:
        return "OpenVINO and NNCF are not installed (pip install '.[openvino]')"
    from hatespeech.engines.measure import parity_texts

    texts = check.texts if check is not None and len(check) else parity_texts(directory)[0]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
        child.submit(quantize_for_openvino, directory, list(texts[:CALIBRATION_TEXTS])).result()
    return None


def quantize_for_openvino(directory: Path, texts: list[str]) -> None:
    """NNCF's static int8 quantization of the fp32 ONNX graph, calibrated on ``texts`` (the child's work)."""
    import nncf
    import openvino as ov

    engine = OnnxEngine(directory)
    model = ov.Core().read_model(str(directory / ONNX_FP32))
    names = {port.get_any_name() for port in model.inputs}
    samples = [engine.encode([text]).feeds(names) for text in texts]
    logging.getLogger("nncf").setLevel(logging.WARNING)
    quantized = nncf.quantize(
        model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(samples)
    )
    (directory / OV_DIR).mkdir()
    ov.save_model(quantized, str(directory / OV_INT8))


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


def export_model_dir(
    directory: Path, check: Dataset | None, console: Console | None = None, *, full: bool = True
) -> dict[str, Any]:
    """Export, check parity, write ``export.json`` and the model card; raise :class:`ModelError` if fp32
    disagrees with torch. ``full`` (not for the quick model, whose minutes count): also OpenVINO's static int8
    graph, and the measurement of which engine ``auto`` should serve on this CPU (:func:`measure_engines_here`)."""
    console = console or Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("exporting to ONNX (fp32 + int8)", total=6 if full else 5)
        export_onnx(directory)
        write_parity_texts(directory)

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        report = check_parity(directory, check, step)
        step("exporting to CTranslate2")
        skipped = export_ctranslate2(directory)
        report["ctranslate2"] = (
            {"skipped": skipped}
            if skipped
            else check_converted(directory, open_engine(directory, "ctranslate2-f32"), CT2_DIR)
        )
        if full:
            step("quantizing for OpenVINO (static int8)")
            skipped = export_openvino_int8(directory, check)
            report["openvino_int8"] = (
                {"skipped": skipped}
                if skipped
                else check_converted(directory, open_engine(directory, "openvino-int8"), OV_DIR)
            )
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
    for key, engine in (("ctranslate2", "CTranslate2"), ("openvino_int8", "OpenVINO int8")):
        entry = report.get(key, {"skipped": "not for the quick model"})
        if "skipped" in entry or "removed" in entry:
            console.print(f"no {engine} engine: {entry.get('skipped') or entry.get('removed')}", highlight=False)
        else:
            console.print(f"{engine}: label agreement {entry['label_agreement']:.4f} with ONNX fp32", highlight=False)
    if report["fp32"]["label_agreement"] < MIN_AGREEMENT:
        raise ModelError(
            f"ONNX fp32 export disagrees with PyTorch on {1 - report['fp32']['label_agreement']:.2%} "
            f"of labels (limit {1 - MIN_AGREEMENT:.1%})"
        )
    write_card(directory)
    if full:
        measure_engines_here(directory, console)
    return report


def measure_engines_here(directory: Path, console: Console) -> None:
    """Measure the engines on this machine (in a child process, as ``auto`` does) and keep the result in the model
    dir, so a server on this kind of CPU starts on the fastest at once; a failure only costs that head start."""
    from hatespeech.engines.choice import measure_at_export

    baseline = resolve(directory, "onnx").name
    with console.status("measuring the engines on this CPU (for auto)"):
        try:
            calibration = measure_at_export(directory, os.cpu_count() or 1, DEFAULT_MAX_DROP, baseline)
        except ModelError as exc:
            console.print(f"engines not measured: {exc}", highlight=False)
            return
    console.print(f"auto on this CPU: {calibration.chosen} ({calibration.reason})", highlight=False)
