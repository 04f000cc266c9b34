"""The Python API: ``load(model_dir)`` gives a :class:`Classifier` with ``predict(texts)`` and ``explain(text)``.

It runs on the same torch-free engines as the server and the CLI, opened the same way (:func:`open_model`): the
model dir is verified against its manifest first, and ``engine=None`` is ``auto``, as in ``hatespeech serve``: the
engine measured on this CPU (the model dir's record from its export, or the server's), else what ``onnx`` serves
(ONNX Runtime, int8 when its accuracy is within the export's bound of fp32's); it never measures itself::

    from hatespeech import load

    classifier = load("models/current")
    classifier.predict(["I really can't stand them.", "What a lovely day."])
    classifier.explain("They should all be sent back.")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hatespeech import artifact
from hatespeech.config import default_model_dir
from hatespeech.engines.base import BaseEngine, ModelInfo, Prediction, is_valid_unicode, predict_in_batches
from hatespeech.engines.choice import decide
from hatespeech.engines.registry import DEFAULT_ENGINE, open_engine
from hatespeech.errors import InputError, ModelError
from hatespeech.explain import Span, explain


@dataclass(frozen=True)
class Explanation:
    """A text's prediction and each span's contribution to P(hate) (occlusion, as ``/predict``'s explain)."""

    text: str
    prediction: Prediction
    spans: list[Span]

    def words(self) -> list[tuple[str, float]]:
        """Each listed span's text and effect on the log-odds of hate, in text order."""
        return [(self.text[s.start : s.end], s.contribution) for s in self.spans]


def open_model(
    model_dir: str | Path | None = None, engine: str | None = None, threads: int | None = None, *, verify: bool = True
) -> tuple[BaseEngine, str, str]:
    """Verify a model dir (default: ``$HATESPEECH_MODEL_DIR`` or ``models/current``) and open it in ``engine`` (a
    :class:`~hatespeech.engines.registry.EngineName`; ``None``: the server's default); returns the engine, its exact
    name and why. How the CLI and the Python API open a model (the server decides the same way, with its state
    dir: :func:`hatespeech.api.lifecycle.load_engine`)."""
    directory = Path(model_dir) if model_dir is not None else default_model_dir()
    if verify:
        artifact.verify(directory)
    decided = decide(directory, engine or DEFAULT_ENGINE, threads=threads or os.cpu_count() or 1)
    return open_engine(directory, decided.name, threads), decided.name.value, decided.reason


class Classifier:
    """A loaded model: ``predict`` and ``explain``, with the server's labels, threshold and long-text handling."""

    def __init__(self, engine: BaseEngine, engine_name: str) -> None:
        self.engine = engine
        self.engine_name = engine_name

    @property
    def info(self) -> ModelInfo:
        """What the model dir says about itself: labels, threshold, token limit, metrics, data fingerprint."""
        return self.engine.info

    def predict(self, texts: str | Sequence[str], batch_size: int = 64) -> list[Prediction]:
        """One :class:`~hatespeech.engines.base.Prediction` per text, in order (a single string is one text)."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        for number, text in enumerate(batch):
            _check(text, number)
        return predict_in_batches(self.engine, batch, batch_size)

    def explain(self, text: str) -> Explanation:
        """The text's prediction and each word's (or span's) contribution to P(hate)."""
        _check(text, 0)
        [(prediction, spans)] = explain(self.engine, [text])
        return Explanation(text, prediction, spans)

    def __repr__(self) -> str:
        return f"Classifier({str(self.info.directory)!r}, engine={self.engine_name!r})"


def load(model_dir: str | Path | None = None, *, engine: str | None = None, threads: int | None = None) -> Classifier:
    """Load a model dir for use in Python (no torch imported). Raises :class:`~hatespeech.errors.ModelError` for a
    missing, incomplete or corrupted model dir, :class:`~hatespeech.errors.InputError` for an unknown engine."""
    opened, name, _ = open_model(model_dir, engine, threads)
    return Classifier(opened, name)


def _check(text: object, number: int) -> None:
    if not isinstance(text, str):
        raise InputError(f"text {number} is a {type(text).__name__}, not a string")
    if not text.strip():
        raise InputError(f"text {number} is empty or blank")
    if not is_valid_unicode(text):
        raise InputError(f"text {number} is not valid Unicode (a lone surrogate)")


__all__ = ["Classifier", "Explanation", "InputError", "ModelError", "load", "open_model"]
