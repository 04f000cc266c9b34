"""The BentoML peer for benchmarks/peers.py: adaptive batching over a transformers text-classification pipeline.

BentoML's documented way to serve a Hugging Face classifier: ``@bentoml.api(batchable=True)`` lets its
dispatcher group concurrent requests into one pipeline call. The model dir comes from HATESPEECH_PEER_MODEL.
"""

from __future__ import annotations

import os

import bentoml


@bentoml.service(workers=1, resources={"cpu": "2"})
class Classifier:
    def __init__(self) -> None:
        from transformers import pipeline

        self.pipe = pipeline("text-classification", model=os.environ["HATESPEECH_PEER_MODEL"], device="cpu")

    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=60_000)  # wrk waits 60 s: no early 503s
    def classify(self, texts: list[str]) -> list[dict[str, object]]:
        return list(self.pipe(texts, truncation=True, batch_size=32))
