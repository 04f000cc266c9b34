"""Command line: ``hatespeech train | evaluate | calibrate | predict | export | pack | serve``, and
``feedback``, ``compare`` and ``models``.

:mod:`.app` holds the Typer app and what the commands share; :mod:`.training` the commands that make and
judge a model; :mod:`.serving` those that use one. Importing them registers their commands, in help order.
"""

from hatespeech.cli.app import app, run  # noqa: I001
from hatespeech.cli import training, serving, review, models

__all__ = ["app", "models", "review", "run", "serving", "training"]
