"""Domain exceptions and the one enum of error types. Each exception carries its :class:`ErrorType`, which the
API maps to a status (``api/errors.py``) and puts in every error body, log line and metric."""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    """Every error type the package reports: the ``error_type`` of an error body, an access-log line, a metric."""

    bad_request = "bad_request"
    unauthorized = "unauthorized"
    forbidden = "forbidden"
    not_found = "not_found"
    method_not_allowed = "method_not_allowed"
    request_timeout = "request_timeout"
    not_enabled = "not_enabled"
    reload_failed = "reload_failed"
    ambiguous = "ambiguous"
    payload_too_large = "payload_too_large"
    unsupported_media_type = "unsupported_media_type"
    rate_limited = "rate_limited"
    validation = "validation"
    client_closed = "client_closed"
    backend = "backend"
    not_ready = "not_ready"
    overloaded = "overloaded"
    timeout = "timeout"
    database = "database"
    data = "data"
    model = "model"
    error = "error"


class HateSpeechError(Exception):
    """Base class for every error this package raises on purpose."""

    error_type = ErrorType.error


class DataError(HateSpeechError):
    """The dataset is missing, malformed, or unusable for training."""

    error_type = ErrorType.data


class ModelError(HateSpeechError):
    """The model directory is missing, incomplete or corrupted."""

    error_type = ErrorType.model


class InputError(HateSpeechError):
    """A user-supplied input (file, text) cannot be used."""

    error_type = ErrorType.validation


class Overloaded(HateSpeechError):
    """The queue is full (or the server is shutting down): retry later."""

    error_type = ErrorType.overloaded


class RequestTimeout(HateSpeechError):
    """The request was not answered within its deadline."""

    error_type = ErrorType.timeout


class BackendError(HateSpeechError):
    """The forward pass failed."""

    error_type = ErrorType.backend


class StoreError(HateSpeechError):
    """The feedback database cannot be opened, migrated or written."""

    error_type = ErrorType.database
