"""The HTTP service: FastAPI app factory, routes, schemas, errors and metrics."""

from hatespeech.api.app import create_app

__all__ = ["create_app"]
