"""Prometheus metrics, one registry per app (so tests can build many), names prefixed ``hatespeech_``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hatespeech.batching import BatchStats

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DIFFERENCE_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


class Metrics:
    """Requests, latency by stage, batch sizes, predictions by label, queue depth, errors by type."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "hatespeech_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "hatespeech_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokenize = Histogram(
            "hatespeech_tokenize_seconds",
            "Tokenization time per request",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue = Histogram(
            "hatespeech_queue_seconds",
            "Time a text waited for its batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "hatespeech_inference_seconds", "Forward-pass time per batch", buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "hatespeech_batch_size", "Texts per forward pass", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "hatespeech_batch_padded_tokens",
            "Padded tokens per forward pass",
            buckets=(64, 256, 1024, 2048, 4096, 8192, 16384, 32768),
            registry=r,
        )
        self.predictions = Counter("hatespeech_predictions", "Predictions by label", ["label"], registry=r)
        self.errors = Counter("hatespeech_errors", "Error responses by error type", ["error_type"], registry=r)
        self.queue_depth = Gauge("hatespeech_queue_depth", "Texts waiting for inference", registry=r)
        self.abandoned = Counter(
            "hatespeech_abandoned_texts",
            "Texts skipped, not computed, because their client left or their request timed out",
            registry=r,
        )
        self.reloads = Counter("hatespeech_model_reloads", "Model reloads by outcome (reloaded, failed)", ["outcome"],
                               registry=r)  # fmt: skip
        self.model_info = Gauge("hatespeech_model_info", "1 for the model version serving", ["version"], registry=r)
        self.shadow = ShadowMetrics(r)
        self.split_texts = Counter(
            "hatespeech_split_texts", "Texts over the model's token limit, scored in parts", registry=r
        )

    def observe_batch(self, stats: BatchStats) -> None:
        self.batch_size.observe(stats.size)
        self.batch_tokens.observe(stats.padded_tokens)
        self.inference.observe(stats.inference_seconds)
        for seconds in stats.queue_seconds:
            self.queue.observe(seconds)


class ShadowMetrics:
    """Prometheus series of the comparison, labelled by the two versions compared."""

    def __init__(self, registry: CollectorRegistry) -> None:
        names = ["primary", "shadow"]
        self.compared = Counter("hatespeech_shadow_compared_texts", "Texts scored by both models, by agreement",
                                [*names, "agree"], registry=registry)  # fmt: skip
        self.difference = Histogram("hatespeech_shadow_score_difference", "|P(hate) shadow - P(hate) primary|",
                                    names, buckets=DIFFERENCE_BUCKETS, registry=registry)  # fmt: skip
        self.labels = Counter("hatespeech_shadow_labels", "Labels each model gave the compared texts",
                              [*names, "model", "label"], registry=registry)  # fmt: skip
        self.dropped = Counter("hatespeech_shadow_dropped_texts", "Texts the shadow skipped: its queue was full",
                               names, registry=registry)  # fmt: skip
        self.failed = Counter("hatespeech_shadow_failed_texts", "Texts the shadow failed to score", names,
                              registry=registry)  # fmt: skip
