"""Hate-speech detection with a fine-tuned BERT-family encoder, served over HTTP."""

from hatespeech.engine import Prediction

__version__ = "0.6.0"

__all__ = ["Prediction", "__version__"]
