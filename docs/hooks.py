"""MkDocs hooks: the API reference is rendered from the app's own OpenAPI document, never a copy.

``on_config`` writes ``build/docs/openapi.json`` from ``create_app().openapi()`` (no model is loaded:
the schema does not depend on one); ``docs/reference.md`` renders it with neoteroi's ``[OAD(...)]``, and
``on_files`` publishes the same document with the site as ``openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

OPENAPI = Path(__file__).resolve().parent.parent / "build" / "docs" / "openapi.json"


def on_config(config: Any) -> Any:
    from hatespeech.api.app import create_app

    OPENAPI.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI.write_text(json.dumps(create_app().openapi(), indent=1))
    return config


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "openapi.json", content=OPENAPI.read_bytes()))
    return files
