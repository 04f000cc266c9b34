"""ONNX Runtime engine: the serving path. Imports onnxruntime, numpy and tokenizers only, never torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hatespeech.artifact import MANIFEST_FILE, ONNX_FP32, ONNX_INT8, left_out
from hatespeech.engines.base import BaseEngine, Encoded
from hatespeech.errors import ModelError
from hatespeech.model_dir import ModelDir

__all__ = ["ONNX_FP32", "ONNX_INT8", "OnnxEngine"]


class OnnxEngine(BaseEngine):
    """A model dir's ONNX graph (fp32, or the int8 variant with ``quantized=True``) in ONNX Runtime."""

    def __init__(
        self,
        directory: Path,
        *,
        quantized: bool = False,
        threads: int | None = None,
        threshold: float | None = None,
    ) -> None:
        import onnxruntime as ort

        super().__init__(directory, threshold)
        self.graph = directory / (ONNX_INT8 if quantized else ONNX_FP32)
        if not self.graph.is_file():
            if self.graph.name in left_out(ModelDir(directory).read(MANIFEST_FILE)):
                raise ModelError(
                    f"{self.graph.name} was left out of the serving copy {directory}: "
                    "serve the other graph, or make the copy with `hatespeech pack --graphs all`"
                )
            raise ModelError(f"{self.graph} not found: run `hatespeech export --model {directory}` to create it")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(self.graph), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
            raise ModelError(f"cannot load {self.graph}: {exc}") from exc
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.quantized = quantized

    def forward(self, batch: Encoded) -> np.ndarray:
        (logits,) = self.session.run(["logits"], batch.feeds(self.input_names))
        result: np.ndarray = np.asarray(logits)
        return result
