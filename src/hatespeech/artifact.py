"""The model directory as an artifact: manifest of sha256 hashes, verification, atomic publication.

A published model path (``models/current``) is a symbolic link to a versioned directory beside it
(``models/.current.versions/<stamp>``). Publishing swaps the link with one ``rename``, so a reader (or a
training run killed at any moment) always sees either the previous complete model or the new one.
No torch here: the serving path uses this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatespeech.errors import ModelError

MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
KEEP_VERSIONS = 2
LINKED_SUFFIXES = frozenset({".safetensors", ".onnx", ".npz", ".data"})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path) -> dict[str, Any]:
    """Hash every file in ``directory`` (recursively) into ``manifest.json``."""
    files = {
        str(path.relative_to(directory)): {"sha256": _sha256(path), "bytes": path.stat().st_size}
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST_FILE
    }
    manifest = {"format": 1, "files": files}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def verify(directory: Path, *, check_hashes: bool = True) -> dict[str, Any]:
    """Check that ``directory`` is a complete model dir whose files match its manifest; return the manifest.

    Raises :class:`ModelError` with one clear sentence naming the first problem found.
    """
    if not directory.exists():
        raise ModelError(f"model directory {directory} does not exist: train one with `hatespeech train`")
    if not directory.is_dir():
        raise ModelError(f"{directory} is not a directory")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelError(f"{directory} has no {MANIFEST_FILE}: not a complete model directory")
    try:
        manifest = json.loads(manifest_path.read_text())
        files: dict[str, dict[str, Any]] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{manifest_path} is unreadable: {exc}") from exc
    for required in REQUIRED_FILES:
        if required not in files:
            raise ModelError(f"{directory} is incomplete: the manifest lists no {required}")
    for name, entry in files.items():
        path = directory / name
        if not path.is_file():
            raise ModelError(f"{directory} is incomplete: {name} is missing")
        if path.stat().st_size != entry["bytes"]:
            raise ModelError(f"{directory} is corrupted: {name} has the wrong size (truncated?)")
        if check_hashes and _sha256(path) != entry["sha256"]:
            raise ModelError(f"{directory} is corrupted: {name} does not match its sha256")
    return dict(manifest)


def staging_dir(target: Path) -> Path:
    """A fresh, empty directory on the same filesystem as ``target``, to build a model in."""
    versions = _versions_dir(target)
    versions.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=versions))


def publish(staged: Path, target: Path) -> Path:
    """Make ``staged`` (from :func:`staging_dir`) the model at ``target``, atomically; returns its final path.

    ``target`` becomes (or stays) a symbolic link; an existing real directory there is moved into the
    versions folder first so nothing is lost. Old versions beyond the newest ``KEEP_VERSIONS`` are removed.
    """
    write_manifest(staged)
    versions = _versions_dir(target)
    final = versions / time.strftime("%Y%m%d-%H%M%S")
    suffix = 0
    while final.exists():
        suffix += 1
        final = versions / f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
    staged.rename(final)
    if target.exists() and not target.is_symlink():
        target.rename(versions / f"previous-{int(time.time())}")
    link = versions / f".link-{os.getpid()}"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(os.path.relpath(final, target.parent))
    os.replace(link, target)  # the atomic step
    _prune(versions, keep=final)
    return final


def revise(target: Path, change: Callable[[Path], None]) -> Path:
    """Publish a changed copy of the model at ``target`` (e.g. a new threshold); the old version is kept.

    Large immutable files (weights, graphs) are hard-linked, the rest copied: ``change`` must replace files
    (write elsewhere, then rename), never write into them.
    """
    source = target.resolve()
    verify(source)
    staged = staging_dir(target)
    try:
        for path in sorted(source.rglob("*")):
            destination = staged / path.relative_to(source)
            if path.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
            elif path.suffix in LINKED_SUFFIXES:
                try:
                    os.link(path, destination)
                except OSError:  # no hard links on this filesystem
                    shutil.copy2(path, destination)
            else:
                shutil.copy2(path, destination)
        change(staged)
        return publish(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _versions_dir(target: Path) -> Path:
    return target.parent / f".{target.name}.versions"


def _prune(versions: Path, keep: Path) -> None:
    """Remove abandoned staging dirs of dead runs and versions older than the newest few."""
    done = sorted(
        (p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in done[:-KEEP_VERSIONS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for staging in versions.glob(".staging-*"):
        if time.time() - staging.stat().st_mtime > 24 * 3600:
            shutil.rmtree(staging, ignore_errors=True)


def read_json(directory: Path, name: str) -> dict[str, Any]:
    """A JSON file of the model dir, or {} when it is absent; ModelError when it is not valid JSON."""
    path = directory / name
    if not path.is_file():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelError(f"{path} is not valid JSON") from exc
    return data
