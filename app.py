"""``uvicorn app:app`` from the repo root: the service, configured by HATESPEECH_* environment variables."""

import sys
from pathlib import Path

try:
    import hatespeech  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from hatespeech.api import create_app

app = create_app()
