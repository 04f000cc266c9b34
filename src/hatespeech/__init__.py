"""Hate-speech detection with a fine-tuned BERT-family encoder, served over HTTP."""

from typing import TYPE_CHECKING, Any

from hatespeech.engines.base import Prediction

if TYPE_CHECKING:
    from hatespeech.classifier import Classifier, load

__version__ = "0.6.0"

__all__ = ["Classifier", "Prediction", "__version__", "load"]


def __getattr__(name: str) -> Any:
    """``load`` and ``Classifier`` (hatespeech.classifier) are imported on first use: the CLI starts faster."""
    if name in ("load", "Classifier"):
        from hatespeech import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'hatespeech' has no attribute {name!r}")
