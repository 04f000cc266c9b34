"""One error model: every failure becomes ``{"error": message, "error_type": type}`` with its type's status.

Error types are one enum (:class:`hatespeech.errors.ErrorType`) mapped to statuses here, as text-embeddings-inference
does; the same table documents the error responses in OpenAPI, so the docs cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from hatespeech.errors import ErrorType, HateSpeechError

STATUS_BY_ERROR_TYPE: dict[ErrorType, int] = {
    ErrorType.bad_request: 400,
    ErrorType.unauthorized: 401,
    ErrorType.forbidden: 403,
    ErrorType.not_found: 404,
    ErrorType.method_not_allowed: 405,
    ErrorType.request_timeout: 408,
    ErrorType.not_enabled: 409,
    ErrorType.reload_failed: 409,
    ErrorType.ambiguous: 409,
    ErrorType.payload_too_large: 413,
    ErrorType.unsupported_media_type: 415,
    ErrorType.rate_limited: 429,
    ErrorType.validation: 422,
    ErrorType.client_closed: 499,  # nginx's convention: logged and counted, never seen by the client
    ErrorType.backend: 500,
    ErrorType.model: 500,
    ErrorType.data: 500,
    ErrorType.error: 500,
    ErrorType.not_ready: 503,
    ErrorType.overloaded: 503,
    ErrorType.timeout: 503,
    ErrorType.database: 503,
}
"""Every error type's status (tests/api/test_errors.py checks that none is missing)."""
ERROR_TYPE_BY_STATUS = {400: ErrorType.bad_request, 401: ErrorType.unauthorized, 404: ErrorType.not_found,
                        405: ErrorType.method_not_allowed, 413: ErrorType.payload_too_large,
                        415: ErrorType.unsupported_media_type, 422: ErrorType.validation,
                        503: ErrorType.not_ready}  # fmt: skip
RETRY_AFTER_SECONDS = "1"


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    error_type: ErrorType


class ApiError(HateSpeechError):
    """An error raised by the HTTP layer itself, with its error type."""

    def __init__(self, error_type: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class ErrorResponse(JSONResponse):
    """The one error body, ``{"error", "error_type"}``, with its type's status. Sending it puts the type on the
    request's state (``error_type``), where the access log and the metrics read it: no one parses a body."""

    def __init__(self, error_type: ErrorType, message: str, headers: dict[str, str] | None = None) -> None:
        status = STATUS_BY_ERROR_TYPE[error_type]
        headers = dict(headers or {})
        if status == 503:
            headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
        super().__init__(ErrorBody(error=message, error_type=error_type).model_dump(), status, headers)
        self.error_type = error_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["error_type"] = self.error_type
        await super().__call__(scope, receive, send)


def error_response(error_type: ErrorType, message: str, headers: dict[str, str] | None = None) -> ErrorResponse:
    return ErrorResponse(error_type, message, headers)


BODY_ERRORS = (
    ErrorType.bad_request,
    ErrorType.validation,
    ErrorType.payload_too_large,
    ErrorType.unsupported_media_type,
)
"""What any route that reads a JSON body may answer before its handler runs."""


def responses(*error_types: ErrorType) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error types, from the same table."""
    documented: dict[int | str, dict[str, Any]] = {}
    for error_type in error_types:
        status = STATUS_BY_ERROR_TYPE[error_type]
        entry = documented.setdefault(status, {"model": ErrorBody, "description": ""})
        entry["description"] = ", ".join(filter(None, [entry["description"], error_type]))
    return documented


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        path = [str(p) for p in error.get("loc", ()) if p != "body"]
        if len(path) > 1 and path[0] in ("text", "texts", "inputs"):
            path = path[1:]  # drop the request-shape tag pydantic puts first
        location = ".".join(path)
        message = str(error.get("msg")).removeprefix("Value error, ")
        if error.get("type") == "string_pattern_mismatch":  # the only pattern: TEXT_PATTERN
            message = "a text needs a character that is not whitespace, and no NUL byte"
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts) or "invalid request"


def _allowed_methods(request: Request) -> list[str]:
    """The methods OpenAPI documents for this path (Starlette's Allow names only the first route's)."""
    operations = request.app.openapi().get("paths", {}).get(request.url.path, {})
    return sorted(method.upper() for method in operations)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, HTTP errors and validation errors to the one JSON error body."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HateSpeechError)
        return error_response(exc.error_type, str(exc))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        content_type = request.headers.get("content-type", "")
        about_body = any(error.get("loc", ("",))[0] == "body" for error in exc.errors())
        if request.method == "POST" and about_body and "json" not in content_type.lower():
            return error_response(
                ErrorType.unsupported_media_type,
                f"send JSON with 'Content-Type: application/json' (got {content_type or 'none'!r})",
            )
        return error_response(ErrorType.validation, _describe_validation(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error_type = ERROR_TYPE_BY_STATUS.get(exc.status_code, ErrorType.bad_request)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404:
            message = f"no route {request.url.path}; see /docs"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
            headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
        return error_response(error_type, message, headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(ErrorType.backend, "internal error; see the server log")

    app.add_exception_handler(HateSpeechError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
