"""Domain exceptions. Each carries a stable ``error_type`` that the CLI and API map to messages and statuses."""

from __future__ import annotations


class HateSpeechError(Exception):
    """Base class for every error this package raises on purpose."""

    error_type = "error"


class DataError(HateSpeechError):
    """The dataset is missing, malformed, or unusable for training."""

    error_type = "data"


class ModelError(HateSpeechError):
    """The model directory is missing, incomplete or corrupted."""

    error_type = "model"


class InputError(HateSpeechError):
    """A user-supplied input (file, text) cannot be used."""

    error_type = "validation"


class Overloaded(HateSpeechError):
    """The queue is full (or the server is shutting down): retry later."""

    error_type = "overloaded"


class RequestTimeout(HateSpeechError):
    """The request was not answered within its deadline."""

    error_type = "timeout"


class BackendError(HateSpeechError):
    """The forward pass failed."""

    error_type = "backend"


class StoreError(HateSpeechError):
    """The feedback database cannot be opened, migrated or written."""

    error_type = "database"
