"""The model store: every version of a published model, which one is current, switching and removing.

``models/current`` is a symbolic link into ``models/.current.versions/`` (see :mod:`hatespeech.artifact`);
``models/candidate``, when present, names the version a server may run as its shadow. Switching is one
atomic ``rename`` of the link and only ever to a model dir that verifies, so it is also the rollback.
A running server picks the switch up with a reload (SIGHUP, ``POST /admin/reload`` or the link watch).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hatespeech import artifact
from hatespeech.errors import ModelError
from hatespeech.model_dir import ModelDir

CANDIDATE = "candidate"
VERSION_ID = artifact.VERSION_ID


@dataclass(frozen=True)
class Version:
    """One model dir of the store, as ``hatespeech models list`` shows it."""

    id: str
    path: Path
    created: str
    base_model: str
    fingerprint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    current: bool = False
    candidate: bool = False
    problem: str | None = None  # why it cannot be served (incomplete, unreadable); None = looks complete


def version_id(directory: Path) -> str:
    """A model dir's version: its name in a store, else the start of its manifest's sha256 (e.g. ``/model``)."""
    resolved = directory.resolve()
    if resolved.parent.name.endswith(".versions"):
        return resolved.name
    manifest = resolved / artifact.MANIFEST_FILE
    if manifest.is_file():
        return "sha256-" + artifact.sha256_of(manifest)[:12]
    return resolved.name


def candidate_link(current: Path) -> Path:
    """Where the candidate (shadow) model is linked, beside the current one."""
    return current.parent / CANDIDATE


def describe(directory: Path, current: Path) -> Version:
    """What a version dir says about itself; a dir that does not verify (sizes only) gets a ``problem``."""
    problem = None
    manifest: dict[str, Any] = {}
    try:
        manifest = artifact.verify(directory, check_hashes=False)
    except ModelError as exc:
        problem = str(exc)
    files = ModelDir(directory, lenient=True)
    created = manifest.get("created") or _mtime(directory)
    resolved = directory.resolve()
    candidate = candidate_link(current)
    return Version(
        id=version_id(directory),
        path=resolved,
        created=str(created),
        base_model=files.base_model,
        fingerprint=files.fingerprint[:12],
        metrics=_key_metrics(files.metrics),
        current=current.is_symlink() and current.resolve() == resolved,
        candidate=candidate.is_symlink() and candidate.resolve() == resolved,
        problem=problem,
    )


def list_versions(current: Path) -> list[Version]:
    """Every version in the store of ``current``, oldest first (plus the candidate when it lives elsewhere)."""
    store = artifact.versions_dir(current)
    dirs = [p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")] if store.is_dir() else []
    candidate = candidate_link(current)
    if candidate.is_symlink() and candidate.resolve().is_dir() and candidate.resolve().parent != store.resolve():
        dirs.append(candidate.resolve())
    if current.is_dir() and not current.is_symlink():
        dirs.append(current)  # a model dir published before links existed
    return sorted((describe(d, current) for d in dirs), key=lambda v: (v.created, v.id))


def find(current: Path, version: str) -> Path:
    """The directory of ``version`` (resolved): an id from ``models list``, or a path to a model dir."""
    store = artifact.versions_dir(current)
    if VERSION_ID.match(version) and (store / version).is_dir():
        return (store / version).resolve()
    path = Path(version)
    if path.is_dir():
        return path.resolve()
    known = ", ".join(v.id for v in list_versions(current)) or "none"
    raise ModelError(f"no version {version!r} in {store} (known: {known}) and no such directory")


def use(current: Path, version: str) -> Path:
    """Make ``version`` current, atomically, after verifying every file's hash; returns its directory.

    A model dir outside the store is first copied into it (weights hard-linked), so the store keeps every
    version a link has pointed to.
    """
    directory = find(current, version)
    artifact.verify(directory)  # full hashes: a corrupt dir can never become current
    store = artifact.versions_dir(current).resolve()
    if directory.parent != store:
        return artifact.revise(current, lambda staged: None, source=directory)
    artifact.point(current, directory)
    return directory


def promote(current: Path, candidate: Path | None = None) -> Path:
    """Make the candidate (default ``models/candidate``) current and remove the candidate link."""
    link = candidate or candidate_link(current)
    if not link.exists():
        raise ModelError(f"no candidate model at {link}: train one with `hatespeech train --out {link}`")
    directory = use(current, str(link.resolve()))
    if link.is_symlink():
        link.unlink()
    return directory


def remove(current: Path, version: str) -> Path:
    """Delete a version from the store; the current one, and one a link points to, are refused."""
    directory = find(current, version)
    store = artifact.versions_dir(current).resolve()
    if directory.parent != store or not VERSION_ID.match(directory.name):
        raise ModelError(f"{version} is not a version in the model store {store}: nothing removed")
    if directory in artifact.linked_versions(current.parent):
        which = "current" if current.resolve() == directory else "linked from " + str(current.parent)
        raise ModelError(f"{version} is {which}: switch to another version first (`hatespeech models use`)")
    shutil.rmtree(directory)
    return directory


def _key_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Headline figures: test accuracy and macro-F1, validation accuracy (whatever the model dir recorded)."""
    found: dict[str, Any] = {}
    for section in ("test", "validation"):
        values = metrics.get(section)
        if isinstance(values, dict):
            for name in ("accuracy", "macro_f1"):
                if isinstance(values.get(name), int | float):
                    found[f"{section}_{name}"] = values[name]
    return found


def _mtime(directory: Path) -> str:
    stamp = dt.datetime.fromtimestamp(directory.stat().st_mtime, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
