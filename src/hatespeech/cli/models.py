"""``hatespeech models list | use | remove | promote``: the versions of a published model.

``use`` is also the rollback: it points ``models/current`` at an earlier version. A running server picks
the change up on SIGHUP, ``POST /admin/reload`` (``--reload URL`` sends it) or, when enabled, by itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hatespeech.cli.app import app, console, fail
from hatespeech.config import ToolEnvironment, default_model_dir

models_app = typer.Typer(
    help="Model versions: list them, switch (and roll back), remove, promote.", no_args_is_help=True
)
app.add_typer(models_app, name="models")

CurrentOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="The published link (default: $HATESPEECH_MODEL_DIR or models/current)."),
]
ReloadOption = Annotated[
    str | None,
    typer.Option(help="Then ask the server at this URL to reload (POST /admin/reload), e.g. http://127.0.0.1:8000."),
]


@models_app.command("list")
def list_(
    model: CurrentOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per version on stdout.")] = False,
) -> None:
    """Every version in the store: id, created, base model, data fingerprint, test figures, current."""
    from hatespeech.versions import list_versions

    current = model or default_model_dir()
    versions = list_versions(current)
    if not versions:
        raise fail(f"no model versions beside {current}: train one with `hatespeech train --out {current}`")
    if as_json:
        for v in versions:
            typer.echo(json.dumps({**asdict(v), "path": str(v.path)}))
        return
    table = Table(title=f"model versions of {current}")
    for column in ("", "version", "created", "base model", "data", "test acc", "test macro-F1", "state"):
        table.add_column(column)
    for v in versions:
        state = "[red]" + (v.problem or "")[:60] + "[/]" if v.problem else ("candidate" if v.candidate else "")
        table.add_row(
            "*" if v.current else "", v.id, v.created, v.base_model, v.fingerprint,
            _figure(v.metrics.get("test_accuracy")), _figure(v.metrics.get("test_macro_f1")), state,
        )  # fmt: skip
    console.print(table)


@models_app.command("use")
def use(
    version: Annotated[str, typer.Argument(help="A version from `models list`, or a model dir's path.")],
    model: CurrentOption = None,
    reload: ReloadOption = None,
) -> None:
    """Make VERSION current (atomic; every file's hash is checked first). Rolling back is the same command."""
    from hatespeech.versions import use as use_version

    current = model or default_model_dir()
    _switched("", current, use_version(current, version), reload)


@models_app.command("promote")
def promote(
    candidate: Annotated[Path | None, typer.Option(help="The candidate (default: candidate beside --model).")] = None,
    model: CurrentOption = None,
    reload: ReloadOption = None,
) -> None:
    """Make the candidate (the shadow model) current, and remove the candidate link."""
    from hatespeech.versions import promote as promote_version

    current = model or default_model_dir()
    _switched("promoted: ", current, promote_version(current, candidate), reload)


@models_app.command("remove")
def remove(
    version: Annotated[str, typer.Argument(help="A version from `models list`.")],
    model: CurrentOption = None,
) -> None:
    """Delete VERSION from the store (never the current one, nor one the candidate link points to)."""
    from hatespeech.versions import remove as remove_version

    directory = remove_version(model or default_model_dir(), version)
    console.print(f"removed {directory}", highlight=False)


def _figure(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else ""


def _switched(prefix: str, current: Path, directory: Path, reload: str | None) -> None:
    """Say where the link points now; then ask the server to reload, if asked to."""
    from hatespeech.versions import version_id

    console.print(f"{prefix}{current} -> {version_id(directory)}", highlight=False)
    _reload(reload)


def _reload(url: str | None) -> None:
    """POST /admin/reload with the admin key from $HATESPEECH_ADMIN_KEY, and print what the server says."""
    if url is None:
        return
    import httpx

    key = ToolEnvironment().admin_key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.post(f"{url.rstrip('/')}/admin/reload", headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}") from exc
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200:
        raise fail(f"the server did not reload ({response.status_code}): {body.get('error', response.text)}")
    console.print(f"server: {body.get('status')} {body.get('version')} in {body.get('seconds')} s", highlight=False)
