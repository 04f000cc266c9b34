"""ONNX Runtime engine: the serving path. Imports onnxruntime, numpy and tokenizers only, never torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hatespeech.engine import BaseEngine, Encoded
from hatespeech.errors import ModelError

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"


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
        # Feed only the inputs the graph declares (DistilBERT-like graphs have no token_type_ids).
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.quantized = quantized

    def forward(self, batch: Encoded) -> np.ndarray:
        feeds = {
            name: value
            for name, value in (
                ("input_ids", batch.input_ids),
                ("attention_mask", batch.attention_mask),
                ("token_type_ids", batch.token_type_ids),
            )
            if name in self.input_names
        }
        (logits,) = self.session.run(["logits"], feeds)
        result: np.ndarray = np.asarray(logits)
        return result
