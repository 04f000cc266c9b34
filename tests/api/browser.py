"""Headless Chromium (Debian's ``chromium``) driven by Playwright, started with the flags this offline
machine needs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = Path(os.environ.get("HATESPEECH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> Path:
    """The Chromium binary, or a clear failure telling how to install it (``make test`` does)."""
    if CHROMIUM.is_file():
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return Path(found)
    raise FileNotFoundError(
        f"Chromium not found at {CHROMIUM}: run `make browser` (Debian's 'chromium' package; make test does it) "
        "or set HATESPEECH_CHROMIUM"
    )
