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
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatespeech.errors import ModelError

MANIFEST_FILE = "manifest.json"
PARITY_FILE = "parity.jsonl"  # sentences an engine must score like ONNX Runtime fp32 (hatespeech.engines.measure)
REQUIRED_FILES = ("config.json", "tokenizer.json")
TORCH_WEIGHTS = "model.safetensors"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
CT2_DIR = "ctranslate2"  # the CTranslate2 encoder and head (hatespeech.engines.ctranslate2), when exported
OV_DIR = "openvino"  # OpenVINO's static int8 graph (hatespeech.engines.openvino), when exported
OV_INT8 = f"{OV_DIR}/model.int8.xml"
WEIGHT_FILES = (TORCH_WEIGHTS, ONNX_FP32, ONNX_INT8, f"{CT2_DIR}/model.bin", f"{OV_DIR}/model.int8.bin")
KEEP_VERSIONS = 5  # publishing prunes older ones, never a version a link in the models folder points to
LINKED_SUFFIXES = frozenset({".safetensors", ".onnx", ".npz", ".data", ".bin"})


VERSION_ID = re.compile(r"^(?:\d{8}-\d{6}(?:-\d+)?|previous-\d+)$")
"""How :func:`publish` names a version in the store (a timestamp, or ``previous-N`` for an older real dir)."""


_HASHES: dict[tuple[str, int, int, int, int], str] = {}  # sha256_of's memo: (path, inode, size, mtime, ctime)


def sha256_of(path: Path) -> str:
    """The file's sha256, hashed once per process while the file stays the same (same inode, size, mtime and
    ctime; ctime cannot be set back by a user), so that ``serve`` checking a model and then loading it hashes
    its weights once."""
    status = path.stat()
    key = (str(path.resolve()), status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def write_manifest(directory: Path, **extra: Any) -> dict[str, Any]:
    """Hash every file in ``directory`` (recursively) into ``manifest.json`` (plus ``extra`` top-level keys)."""
    files = {
        str(path.relative_to(directory)): {"sha256": sha256_of(path), "bytes": path.stat().st_size}
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST_FILE
    }
    manifest = {"format": 1, "files": files, **extra}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def verify(directory: Path, *, check_hashes: bool = True, need: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check that ``directory`` is a complete model dir whose files match its manifest; return the manifest.

    A model dir holds weights: the PyTorch ones, an ONNX graph, or both; ``need`` names files this caller
    cannot do without (e.g. the PyTorch weights, which a serving copy leaves out).
    Raises :class:`ModelError` with one clear sentence naming the first problem found.
    """
    if not directory.exists():
        raise ModelError(f"model directory {directory} does not exist: train one with `hatespeech train`")
    if not directory.is_dir():
        raise ModelError(f"{directory} is not a directory")
    try:
        return _verify(directory, check_hashes, need)
    except PermissionError as exc:
        raise ModelError(
            f"cannot read {exc.filename or directory}: permission denied for uid {os.getuid()} "
            "(make the model dir readable, e.g. chmod -R a+rX)"
        ) from exc


def _verify(directory: Path, check_hashes: bool, need: tuple[str, ...]) -> dict[str, Any]:
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
    if not set(WEIGHT_FILES) & set(files):
        raise ModelError(f"{directory} is incomplete: the manifest lists no weights ({', '.join(WEIGHT_FILES)})")
    for required in need:
        if required not in files:
            why = "not found"
            if required in left_out(manifest):
                why = "a serving copy (`hatespeech pack`) leaves it out: use the full model dir"
            raise ModelError(f"{directory} has no {required}: {why}")
    root = directory.resolve()
    for name in files:
        if Path(name).is_absolute() or ".." in Path(name).parts or not (root / name).resolve().is_relative_to(root):
            raise ModelError(f"{manifest_path} lists {name!r}, a path outside {directory}: refused")
    unlisted = sorted(
        str(path.relative_to(directory)) for path in directory.rglob("*")
        if path.is_file() and path.name != MANIFEST_FILE and str(path.relative_to(directory)) not in files
    )  # fmt: skip
    if unlisted:
        raise ModelError(f"{directory} holds {unlisted[0]}, which its manifest does not list: a file added after "
                         "publication is never loaded (republish with `hatespeech export`, or remove it)")  # fmt: skip
    for name, entry in files.items():
        path = directory / name
        if not path.is_file():
            raise ModelError(f"{directory} is incomplete: {name} is missing")
        if path.stat().st_size != entry["bytes"]:
            raise ModelError(f"{directory} is corrupted: {name} has the wrong size (truncated?)")
        if check_hashes and sha256_of(path) != entry["sha256"]:
            raise ModelError(f"{directory} is corrupted: {name} does not match its sha256")
    return dict(manifest)


def staging_dir(target: Path) -> Path:
    """A fresh, empty directory on the same filesystem as ``target``, to build a model in."""
    versions = versions_dir(target)
    versions.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=versions))


def publish(staged: Path, target: Path) -> Path:
    """Make ``staged`` (from :func:`staging_dir`) the model at ``target``, atomically; returns its final path.

    ``target`` becomes (or stays) a symbolic link; an existing real directory there is moved into the
    versions folder first so nothing is lost. Old versions beyond the newest ``KEEP_VERSIONS`` are removed.
    """
    write_manifest(staged, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    _make_readable(staged)
    versions = versions_dir(target)
    final = versions / time.strftime("%Y%m%d-%H%M%S")
    suffix = 0
    while final.exists():
        suffix += 1
        final = versions / f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
    staged.rename(final)
    if target.exists() and not target.is_symlink():
        target.rename(versions / f"previous-{int(time.time())}")
    point(target, final)
    _prune(versions, keep=final)
    return final


def point(link: Path, directory: Path) -> None:
    """Make ``link`` a symbolic link to ``directory`` in one ``rename`` (readers see the old or the new)."""
    versions = versions_dir(link)
    versions.mkdir(parents=True, exist_ok=True)
    temporary = versions / f".link-{os.getpid()}"
    if temporary.is_symlink():
        temporary.unlink()
    temporary.symlink_to(os.path.relpath(directory.resolve(), link.parent.resolve()))
    os.replace(temporary, link)  # the atomic step


def _make_readable(directory: Path) -> None:
    """Give ``directory`` the umask's usual modes (mkdtemp makes it 0700; some writers make files 0600), so a
    server running as another user (a container's, a pod's) can read a mounted model dir."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def revise(target: Path, change: Callable[[Path], None], source: Path | None = None) -> Path:
    """Publish a changed copy of the model at ``target`` (e.g. a new threshold); the old version is kept.

    ``source`` (default: the model at ``target``) is the model dir copied; with a no-op ``change`` this brings
    a model dir from elsewhere into ``target``'s store. Large immutable files (weights, graphs) are
    hard-linked, the rest copied: ``change`` must replace files (write elsewhere, then rename), never write
    into them.
    """
    source = (source or target).resolve()
    verify(source)

    def build(staged: Path) -> None:
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

    return build_and_publish(target, build)


def build_and_publish(target: Path, build: Callable[[Path], None]) -> Path:
    """Build a new version in a fresh staging dir beside ``target``, then publish it; on any failure (an
    interrupt too) the staging dir is removed and the published model is untouched. Returns the new version."""
    staged = staging_dir(target)
    try:
        build(staged)
        return publish(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def versions_dir(target: Path) -> Path:
    """The model store behind the link ``target``: ``models/current`` -> ``models/.current.versions``."""
    return target.parent / f".{target.name}.versions"


def linked_versions(models: Path) -> set[Path]:
    """Every directory a symbolic link directly in ``models`` points to (current, candidate, ...)."""
    if not models.is_dir():
        return set()
    return {p.resolve() for p in models.iterdir() if p.is_symlink() and p.resolve().is_dir()}


def _prune(versions: Path, keep: Path) -> None:
    """Remove abandoned staging dirs of dead runs and versions older than the newest few (never a linked one)."""
    done = sorted(
        (p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    linked = linked_versions(versions.parent)
    for old in done[:-KEEP_VERSIONS]:
        if old != keep and old.resolve() not in linked:
            shutil.rmtree(old, ignore_errors=True)
    for staging in versions.glob(".staging-*"):
        if time.time() - staging.stat().st_mtime > 24 * 3600:
            shutil.rmtree(staging, ignore_errors=True)


def pack(source: Path, out: Path, graphs: tuple[str, ...]) -> dict[str, Any]:
    """Copy the files the server needs from model dir ``source`` into a new dir ``out``.

    The PyTorch weights and the graphs not named in ``graphs`` (ONNX files, or ``CT2_DIR`` and ``OV_DIR`` for the
    CTranslate2 and OpenVINO folders) are left out (the serving image needs
    neither). ``out`` gets its own manifest, which records what was left out and the source manifest's
    sha256, so the copy can be traced to the model it came from. Returns that manifest.
    """
    manifest = verify(source)
    names = list(manifest["files"])
    if not any(_weights_of(name) in graphs for name in names):
        raise ModelError(f"{source} has none of {', '.join(graphs)}: run `hatespeech export --model {source}` first")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelError(f"{out} already exists and is not empty")
    left_out = [name for name in names if _weights_of(name) not in (None, *graphs)]
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name not in left_out:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, out / name)
    origin = {"left_out": left_out, "source_manifest_sha256": sha256_of(source / MANIFEST_FILE)}
    return write_manifest(out, packed=origin)


def _weights_of(name: str) -> str | None:
    """The weights ``name`` belongs to (a weight file, or an engine's folder), or None for shared files."""
    for folder in (CT2_DIR, OV_DIR):
        if name.startswith(f"{folder}/"):
            return folder
    return name if name in WEIGHT_FILES else None


def left_out(manifest: dict[str, Any]) -> list[str]:
    """The files a serving copy's manifest says `pack` left out (none for a full model dir)."""
    names: list[str] = manifest.get("packed", {}).get("left_out", [])
    return names
