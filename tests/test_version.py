"""One version everywhere: pyproject.toml, the package, the CLI, the OpenAPI document and the changelog
(``/model`` reports it as ``service_version``: tests/api/test_routes.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from typer.testing import CliRunner

import hatespeech
from hatespeech.api.app import create_app
from hatespeech.cli import app as cli_app

REPO = Path(__file__).resolve().parent.parent


def test_pyproject_and_package_agree() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == hatespeech.__version__


def test_cli_reports_the_version() -> None:
    result = CliRunner().invoke(cli_app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == hatespeech.__version__


def test_openapi_document_carries_the_version() -> None:
    assert create_app().openapi()["info"]["version"] == hatespeech.__version__


def test_changelog_top_entry_is_this_version() -> None:
    releases = re.findall(r"^## \[?(\d+\.\d+\.\d+)\]?", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert releases and releases[0] == hatespeech.__version__
    assert releases == sorted(releases, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
