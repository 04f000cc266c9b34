"""``python -m hatespeech`` runs the CLI."""

from hatespeech.cli import run

run()
