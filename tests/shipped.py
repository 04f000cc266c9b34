"""The model the shipped-model tests read: ``models/current`` (or ``$HATESPEECH_SHIPPED_MODEL``), trained with the
full recipe. With none, or with the quick first model of ``make run``, they skip; under ``make test-model``
(``HATESPEECH_REQUIRE_SHIPPED=1``) they fail instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hatespeech.model_dir import ModelDir

SHIPPED = Path(os.environ.get("HATESPEECH_SHIPPED_MODEL") or Path(__file__).resolve().parents[1] / "models/current")


def shipped_model() -> Path:
    """``SHIPPED``, or skip (fail under ``make test-model``) when it is missing or the quick first model."""
    if not (SHIPPED / "manifest.json").is_file():
        reason = f"no trained model at {SHIPPED} (make test-model trains one)"
    elif ModelDir(SHIPPED.resolve(), lenient=True).quick:
        reason = (f"{SHIPPED} is the quick first model: these tests are for the full recipe (make run trains it in "
                  "the background; make train trains it now)")  # fmt: skip
    else:
        return SHIPPED
    if os.environ.get("HATESPEECH_REQUIRE_SHIPPED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
