"""The Python API: ``load(model_dir)`` gives a :class:`Classifier` with ``predict(texts)`` and ``explain(text)``.

It runs on the same torch-free engines as the server and the CLI, opened the same way (:func:`open_model`): the
model dir is verified against its manifest first, and ``engine=None`` serves what ``hatespeech serve`` serves by
default (ONNX Runtime, int8 when its accuracy is within the export's bound of fp32's)::

    from hatespeech import load

    classifier = load("models/current")
    classifier.predict(["I really can't stand them.", "What a lovely day."])
    classifier.explain("They should all be sent back.")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hatespeech import artifact
from hatespeech.config import default_model_dir
from hatespeech.engine import BaseEngine, ModelInfo, Prediction, is_valid_unicode, predict_in_batches
from hatespeech.engine_choice import ALIASES, ENGINES, open_engine
from hatespeech.errors import InputError, ModelError
from hatespeech.explain import Span, explain
from hatespeech.onnx_engine import use_int8
from hatespeech.settings import Settings

DEFAULT_MAX_DROP: float = Settings.model_fields["max_int8_accuracy_drop"].default


@dataclass(frozen=True)
class Explanation:
    """A text's prediction and each span's contribution to P(hate) (occlusion, as ``/predict``'s explain)."""

    text: str
    prediction: Prediction
    spans: list[Span]

    def words(self) -> list[tuple[str, float]]:
        """Each span's text and contribution, in text order."""
        return [(self.text[s.start : s.end], s.contribution) for s in self.spans]


def engine_name(
    directory: Path, engine: str | None, quantized: str = "auto", max_drop: float = DEFAULT_MAX_DROP
) -> tuple[str, str]:
    """The exact engine to open for ``engine`` and why. ``None`` (or ``onnx`` with ``quantized``, the server's
    setting) is ONNX Runtime, int8 when ``quantized`` is yes or, with auto, when export.json puts its accuracy within
    ``max_drop`` of fp32's; the other names are those of :data:`hatespeech.engine_choice.ENGINES` and ``ALIASES``."""
    if engine is None:
        name = "onnx-int8" if use_int8(directory, quantized, max_drop) else "onnx-fp32"
        return name, f"the default: ONNX Runtime, quantized={quantized}"
    name = ALIASES.get(engine, engine)
    if name not in ENGINES:
        known = ", ".join([*ENGINES, *ALIASES])
        raise InputError(f"unknown engine {engine!r}: use {known}, or None for the server's default")
    return name, f"named: {engine}"


def open_model(
    model_dir: str | Path | None = None, engine: str | None = None, threads: int | None = None, *, verify: bool = True
) -> tuple[BaseEngine, str, str]:
    """Verify a model dir (default: ``$HATESPEECH_MODEL_DIR`` or ``models/current``) and open it in ``engine``;
    returns the engine, its exact name and why. The one way the CLI, the server and :func:`load` open a model."""
    directory = Path(model_dir) if model_dir is not None else default_model_dir()
    if verify:
        artifact.verify(directory)
    name, reason = engine_name(directory, engine)
    return open_engine(directory, name, threads), name, reason


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
        """One :class:`~hatespeech.engine.Prediction` per text, in order (a single string is one text)."""
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
