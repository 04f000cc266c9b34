"""Inference engines: tokenize with `tokenizers`, run a forward pass, turn logits into predictions.

:class:`OnnxEngine` (ONNX Runtime) is what the server and CLI use; ``hatespeech.modeling.TorchEngine`` runs
the same steps on the PyTorch weights (training side), for parity checks. Nothing here imports torch or the
HTTP layer.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
from tokenizers import Encoding, Tokenizer

from hatespeech.calibration import apply_shift, prior_shift
from hatespeech.errors import ModelError
from hatespeech.model_dir import CONFIG_FILE, ModelDir
from hatespeech.normalization import CONFIG_KEY, Normalization, attach, checked
from hatespeech.parts import Splitter, worst

HATE = "hate"
MAX_ROWS_PER_PASS = 64  # predict(): rows per forward pass, so that a batch of long texts stays bounded
NO_HATE = "noHate"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The verdict for one text. ``score`` is P(hate)."""

    label: str
    score: float
    truncated: bool
    parts: int = 1  # a text over the model's token limit is scored in parts (hatespeech.parts)
    part: tuple[int, int] | None = None  # characters [start, end) of the worst part, when there are several

    @property
    def scores(self) -> dict[str, float]:
        return {HATE: self.score, NO_HATE: 1.0 - self.score}

    def as_dict(self) -> dict[str, Any]:
        result = {"label": self.label, "score": self.score, "scores": self.scores, "truncated": self.truncated}
        result["parts"] = self.parts
        if self.part is not None:
            result["part"] = {"start": self.part[0], "end": self.part[1]}
        return result


def combine(parts: Sequence[Prediction], spans: Sequence[tuple[int, int]]) -> Prediction:
    """One text's prediction from its parts' (in order): the worst part's, with its offsets when there are
    several. ``truncated`` only if a part itself was cut (a part is built to fit, so almost never)."""
    if len(parts) == 1:
        return parts[0]
    index = worst([p.score for p in parts])
    chosen = parts[index]
    return Prediction(chosen.label, chosen.score, any(p.truncated for p in parts), len(parts), spans[index])


@dataclass(frozen=True)
class Encoded:
    """A padded batch of token ids, ready for a forward pass."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    truncated: list[bool]

    @property
    def tokens(self) -> int:
        """Padded cost of the batch: rows x longest row."""
        return int(self.input_ids.shape[0] * self.input_ids.shape[1])

    def feeds(self, names: Collection[str]) -> dict[str, np.ndarray]:
        """The arrays a graph declares as inputs, by name (DistilBERT-like graphs have no token_type_ids)."""
        arrays = {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                  "token_type_ids": self.token_type_ids}  # fmt: skip
        return {name: value for name, value in arrays.items() if name in names}


@dataclass(frozen=True)
class Tokens:
    """One tokenized text (or part of one): what the batcher queues."""

    ids: tuple[int, ...]
    type_ids: tuple[int, ...]
    truncated: bool

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Split:
    """One text as rows to score: one per part (a single row unless the text is over the token limit)."""

    rows: list[Tokens]
    spans: list[tuple[int, int]]  # characters [start, end) of each part in the text


def regroup(splits: Sequence[Split], scored: Sequence[Prediction]) -> list[Prediction]:
    """Each text's prediction from its rows' (``scored`` in the order of the splits' rows)."""
    predictions, first = [], 0
    for split in splits:
        predictions.append(combine(scored[first : first + len(split.rows)], split.spans))
        first += len(split.rows)
    return predictions


def collate(items: Sequence[Tokens]) -> Encoded:
    """Pad tokenized texts to the longest one: the arrays a forward pass takes."""
    width = max((len(t) for t in items), default=1)
    shape = (len(items), width)
    input_ids = np.zeros(shape, dtype=np.int64)
    attention_mask = np.zeros(shape, dtype=np.int64)
    token_type_ids = np.zeros(shape, dtype=np.int64)
    for row, item in enumerate(items):
        size = len(item)
        input_ids[row, :size] = item.ids
        attention_mask[row, :size] = 1
        token_type_ids[row, :size] = item.type_ids
    return Encoded(input_ids, attention_mask, token_type_ids, [t.truncated for t in items])


@dataclass(frozen=True)
class ModelInfo:
    """What a model dir says about itself (config.json and friends)."""

    directory: Path
    labels: tuple[str, ...]
    hate_index: int
    threshold: float
    max_length: int
    base_model: str
    lexical_weight: float = 0.0  # model dirs before 0.2 blended a TF-IDF model in; it is no longer applied
    hate_prior: float | None = None
    prior_shift: float = 0.0  # log-odds shift from the training prior to hate_prior (see calibration)
    metrics: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    quick: bool = False  # the quick first model (TrainConfig.quick), served while the full recipe trains
    normalization: Normalization = "none"  # the text normalisation it was trained with (hatespeech.normalization)
    data_mix: dict[str, Any] = field(default_factory=dict)  # corpora, shares, offensive: what it learnt from


class Engine(Protocol):
    """Anything that turns texts into predictions, in input order."""

    info: ModelInfo

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


def optional_module(name: str, engine: str, package: str) -> ModuleType:
    """Import the library an optional engine needs, or say in one line which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ModelError(f"the {engine} engine needs {package}: pip install '.[{engine}]' ({exc})") from exc


def is_valid_unicode(text: str) -> bool:
    """False for strings that cannot be UTF-8 encoded (lone surrogates, e.g. from JSON "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_model_info(directory: Path) -> ModelInfo:
    """Labels, threshold and token limit from a model dir's config.json (plus metrics and data fingerprint)."""
    files = ModelDir(directory)
    config, config_path, labels = files.config, directory / CONFIG_FILE, files.labels
    if HATE not in labels:
        raise ModelError(f"{config_path}: labels {labels} do not include {HATE!r}")
    prior = config.get("hate_prior")
    train_prior = config.get("training_hate_prior", 0.5)
    if prior is not None and not (0 < prior < 1 and 0 < train_prior < 1):
        raise ModelError(f"{config_path}: hate_prior {prior} and training_hate_prior {train_prior} must be in (0, 1)")
    try:
        normalization = checked(config.get(CONFIG_KEY))
    except ValueError as exc:
        raise ModelError(f"{config_path}: {exc}") from exc
    return ModelInfo(
        directory=directory,
        labels=labels,
        hate_index=labels.index(HATE),
        threshold=float(config.get("decision_threshold", 0.5)),
        max_length=int(config.get("max_seq_length", 128)),
        base_model=files.base_model,
        lexical_weight=float(config.get("lexical_weight", 0.0)),
        hate_prior=None if prior is None else float(prior),
        prior_shift=prior_shift(prior, float(train_prior)),
        metrics={k: v for k, v in files.metrics.items() if k in ("validation", "validation_kind", "test", "selected")},
        fingerprint=files.fingerprint,
        quick=files.quick,
        normalization=normalization,
        data_mix=files.data_mix,
    )


class BaseEngine:
    """Tokenization and post-processing shared by every engine; subclasses supply ``forward``."""

    padding_free = False  # True when a batch costs its real tokens, not rows x longest row (micro-batcher budget)

    def __init__(self, directory: Path, threshold: float | None = None) -> None:
        self.info = read_model_info(directory)
        if threshold is not None:
            self.info = ModelInfo(**{**self.info.__dict__, "threshold": threshold})
        tokenizer_path = directory / "tokenizer.json"
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception on malformed files
            raise ModelError(f"cannot load {tokenizer_path}: {exc}") from exc
        self.tokenizer.enable_truncation(max_length=self.info.max_length)
        self.tokenizer.no_padding()
        self.splitter = Splitter(self.tokenizer, self.info.max_length)
        for tokenizer in (self.tokenizer, self.splitter.whole):  # offsets stay the caller's text's
            attach(tokenizer, self.info.normalization)
        if self.info.lexical_weight > 0:
            logger.warning(
                "%s was trained with a lexical (TF-IDF) blend of weight %g, which this version no longer applies: "
                "it serves the encoder's scores alone (within %g of the blend); retrain it to refresh its metrics",
                directory, self.info.lexical_weight, self.info.lexical_weight,
            )  # fmt: skip

    def tokenize(self, texts: Sequence[str]) -> list[Tokens]:
        """Token ids of each text, truncated to the model's limit (no padding)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return [Tokens(tuple(e.ids), tuple(e.type_ids), bool(e.overflowing)) for e in encodings]

    def split(self, texts: Sequence[str]) -> list[Split]:
        """Each text's rows: the text itself, or its parts if it is over the model's token limit."""
        texts = list(texts)
        splits: list[Split] = []
        pieces: list[str] = []
        for text, encoding in zip(texts, self.tokenizer.encode_batch(texts), strict=True):
            spans = self.splitter.parts(text, encoding)
            rows = [] if len(spans) > 1 else [Tokens(tuple(encoding.ids), tuple(encoding.type_ids), False)]
            splits.append(Split(rows, spans))
            if not rows:
                pieces.extend(text[start:end] for start, end in spans)
        encoded = iter(self.tokenizer.encode_batch(pieces))
        for split in splits:
            if not split.rows:
                for _ in split.spans:
                    e = next(encoded)
                    split.rows.append(Tokens(tuple(e.ids), tuple(e.type_ids), bool(e.overflowing)))
        return splits

    def encodings(self, texts: Sequence[str]) -> list[Encoding]:
        """The tokenizer's encodings (ids, offsets, word ids), truncated to the model's limit."""
        return list(self.tokenizer.encode_batch(list(texts)))

    @property
    def mask_id(self) -> int:
        """The token that masks a word out (``[MASK]``, else ``[UNK]``): what explanations occlude with."""
        for token in ("[MASK]", "<mask>", "[UNK]", "<unk>"):
            found = self.tokenizer.token_to_id(token)
            if found is not None:
                return int(found)
        raise ModelError("the tokenizer has no mask or unknown token: explanations need one")

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Tokenize, truncate to the model's limit and pad to the longest text of the batch."""
        return collate(self.tokenize(texts))

    def forward(self, batch: Encoded) -> np.ndarray:
        """Logits of shape (batch, labels)."""
        raise NotImplementedError

    def predict_encoded(self, batch: Encoded) -> list[Prediction]:
        """Forward an encoded batch and turn its logits into predictions."""
        logits = self.forward(batch).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        hate = apply_shift(probs[:, self.info.hate_index], self.info.prior_shift)
        threshold = self.info.threshold
        return [
            Prediction(HATE if p >= threshold else NO_HATE, float(p), t)
            for p, t in zip(hate, batch.truncated, strict=True)
        ]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Predictions for ``texts`` in input order, long texts scored in parts (one forward pass per
        ``MAX_ROWS_PER_PASS`` rows; callers choose batch sizes)."""
        splits = self.split(texts)
        rows = [row for split in splits for row in split.rows]
        scored: list[Prediction] = []
        for start in range(0, len(rows), MAX_ROWS_PER_PASS):
            scored.extend(self.predict_encoded(collate(rows[start : start + MAX_ROWS_PER_PASS])))
        return regroup(splits, scored)


def length_batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Indices in batches of ``size``, shortest first, so that a batch pads little; a caller puts each result
    back at its index. The one length-sorted batching of offline scoring (engines, calibration, training)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[start : start + size] for start in range(0, len(order), size)]


SERVER_BATCH_SIZE = 32  # the server's default texts per forward pass (``HATESPEECH_MAX_BATCH_SIZE``)
SERVER_BATCH_TOKENS = 512  # and its default cost per forward pass (``HATESPEECH_MAX_BATCH_TOKENS``)


def plan_batches(lengths: Sequence[int], max_size: int, max_tokens: int, padding_free: bool) -> list[list[int]]:
    """Indices of one window of waiting texts, shortest first, cut into batches of at most ``max_size`` texts
    and ``max_tokens`` cost: rows x longest row, or the real tokens for an engine that skips padding. The
    micro-batcher's plan, and what ``auto`` times engines on."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0  # real tokens in ``current``
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        width = lengths[index]  # sorted: the newest is the longest
        cost = real + width if padding_free else (len(current) + 1) * width
        if current and (len(current) >= max_size or cost > max_tokens):
            batches.append(current)
            current, real = [], 0
        current.append(index)
        real += width
    if current:
        batches.append(current)
    return batches


def predict_in_batches(engine: Engine, texts: Sequence[str], batch_size: int = 64) -> list[Prediction]:
    """Predict many texts in length-sorted batches, in input order."""
    results: list[Prediction | None] = [None] * len(texts)
    for chunk in length_batches([len(text) for text in texts], batch_size):
        for index, prediction in zip(chunk, engine.predict([texts[i] for i in chunk]), strict=True):
            results[index] = prediction
    return [r for r in results if r is not None]
