"""OpenVINO engine: the model dir's fp32 ONNX graph, compiled by OpenVINO for this CPU.

Optional (``pip install '.[openvino]'``); imports openvino, numpy and tokenizers only, never torch. Precision
``f32`` runs everywhere; ``bf16`` only where the CPU computes it natively (AMX or AVX-512 BF16), where it is
OpenVINO's own default; ``int8`` runs the static int8 graph NNCF made at export (``openvino/model.int8.xml``,
activation ranges calibrated on the export's texts), fastest with VNNI or AMX. bf16 and int8 change scores a
little, so whether they may serve a model is a parity question (:mod:`hatespeech.engines.measure`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from hatespeech.artifact import ONNX_FP32, OV_INT8
from hatespeech.engines.base import BaseEngine, Encoded, optional_module
from hatespeech.errors import ModelError

RUNTIME_CACHE_SHAPES = 128


def native_precisions() -> list[str]:
    """The precisions this CPU runs natively under OpenVINO (empty when OpenVINO is not installed)."""
    try:
        import openvino as ov
    except ImportError:
        return []
    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return ["f32", "bf16", "int8"] if "BF16" in capabilities else ["f32", "int8"]


class OpenVinoEngine(BaseEngine):
    """A model dir's fp32 ONNX graph in OpenVINO at ``precision`` f32 or bf16, or its static int8 graph (int8)."""

    def __init__(
        self,
        directory: Path,
        *,
        precision: str = "f32",
        threads: int | None = None,
        threshold: float | None = None,
    ) -> None:
        ov = optional_module("openvino", "openvino", "OpenVINO")
        super().__init__(directory, threshold)
        native = native_precisions()
        if precision not in native:
            raise ModelError(f"this CPU has no native {precision} in OpenVINO (it has: {', '.join(native)})")
        graph = directory / (OV_INT8 if precision == "int8" else ONNX_FP32)
        if not graph.is_file():
            raise ModelError(
                f"{graph} not found: export the model with OpenVINO and NNCF installed "
                f"(pip install '.[openvino]', then `hatespeech export --model {directory}`)"
                if precision == "int8" else f"{graph} not found: the openvino engine reads the fp32 ONNX graph"
            )  # fmt: skip
        config: dict[str, object] = {
            "INFERENCE_NUM_THREADS": threads or os.cpu_count() or 1,
            "PERFORMANCE_HINT": "LATENCY",  # one stream: the micro-batcher sends one batch at a time
            "NUM_STREAMS": 1,
            # Compiled kernels are cached per input shape; the default keeps 5,000, and the server's batches take
            # hundreds of shapes: measured, 2.7 GB after 400 shapes against 0.7 GB with this bound (docs/engines.md).
            "CPU_RUNTIME_CACHE_CAPACITY": RUNTIME_CACHE_SHAPES,
        }
        if precision != "int8":  # int8: the quantized operations are int8; the rest as OpenVINO sees fit
            config["INFERENCE_PRECISION_HINT"] = precision
        try:
            self.compiled = ov.Core().compile_model(str(graph), "CPU", config)
        except RuntimeError as exc:  # OpenVINO raises RuntimeError for graphs it cannot read or compile
            raise ModelError(f"OpenVINO cannot compile {graph}: {exc}") from exc
        self.input_names = {port.get_any_name() for port in self.compiled.inputs}
        self.output = next((p for p in self.compiled.outputs if "logits" in p.get_names()), self.compiled.output(0))
        self.request = self.compiled.create_infer_request()
        self.precision = precision
        self._lock = threading.Lock()  # one infer request: warm-up, the batcher and the CLI never overlap, but be sure

    def forward(self, batch: Encoded) -> np.ndarray:
        feeds = batch.feeds(self.input_names)
        with self._lock:
            result = self.request.infer(feeds)
            logits: np.ndarray = np.array(result[self.output], dtype=np.float32)  # a copy: the request reuses it
        return logits
