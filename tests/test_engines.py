"""Engines chosen for the CPU (issue 29): OpenVINO agrees with ONNX Runtime; auto measures every candidate on the
model's parity sentences, refuses one that changes labels, caches its choice, and the server says what serves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from hatespeech import artifact
from hatespeech.engine import Encoded
from hatespeech.engine_choice import CACHE_FILE, candidates, choose, open_engine
from hatespeech.errors import ModelError
from hatespeech.onnx_engine import OnnxEngine

from api.live_server import serving

TEXTS = ["a calm sentence about the weather", "those people are vermin", "x", "Long text " * 30]


def test_openvino_scores_like_onnx_runtime_fp32(tiny_model: Path) -> None:
    reference = open_engine(tiny_model, "onnx-fp32", threads=1)
    openvino = open_engine(tiny_model, "openvino", threads=1)
    batch = reference.encode(TEXTS)
    assert np.allclose(openvino.forward(batch), reference.forward(batch), atol=1e-4)
    assert [p.label for p in openvino.predict(TEXTS)] == [p.label for p in reference.predict(TEXTS)]


def test_candidates_and_unknown_names(tiny_model: Path) -> None:
    assert candidates(tiny_model)[:3] == ["onnx-fp32", "onnx-int8", "openvino-f32"]
    with pytest.raises(ModelError, match="unknown engine 'tensorrt'"):
        open_engine(tiny_model, "tensorrt")


def test_export_writes_parity_sentences_of_both_labels(tiny_model: Path) -> None:
    rows = [json.loads(line) for line in (tiny_model / artifact.PARITY_FILE).read_text().splitlines()]
    assert len(rows) > 300 and {r["label"] for r in rows} == {"hate", "noHate"}
    assert artifact.PARITY_FILE in artifact.verify(tiny_model)["files"]  # listed, so a verified dir may carry it


class Flipped(OnnxEngine):
    """ONNX Runtime fp32 with the two logits swapped: every label changes."""

    def forward(self, batch: Encoded) -> np.ndarray:
        return super().forward(batch)[:, ::-1].copy()


def test_auto_refuses_an_engine_that_changes_labels_and_caches_its_choice(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatespeech.engine_choice as engine_choice

    real = engine_choice.open_engine

    def opening(directory: Path, name: str, threads: int | None = None) -> object:
        return Flipped(directory, threads=threads) if name == "onnx-int8" else real(directory, name, threads)

    monkeypatch.setattr(engine_choice, "open_engine", opening)
    chosen = choose(tiny_model, "v1", 1, 0.01, tmp_path)
    by_name = {t.engine: t for t in chosen.trials}
    assert not by_name["onnx-int8"].passed and by_name["onnx-int8"].agreement < 0.5
    assert by_name["onnx-fp32"].passed and chosen.chosen != "onnx-int8"
    assert "refused: onnx-int8" in chosen.reason and "parity sentences" in chosen.reason
    assert chosen.chosen == max((t for t in chosen.trials if t.passed), key=lambda t: t.texts_per_s).engine

    monkeypatch.setattr(engine_choice, "calibrate", lambda *args: pytest.fail("measured again"))
    assert choose(tiny_model, "v1", 1, 0.01, tmp_path) == chosen  # cached per CPU, version and threads
    assert len(json.loads((tmp_path / CACHE_FILE).read_text())) == 1


def test_auto_without_parity_sentences_is_one_clear_line(tiny_model: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-model"
    shutil.copytree(tiny_model.resolve(), old)
    (old / artifact.PARITY_FILE).unlink()
    with pytest.raises(ModelError, match=r"no parity\.jsonl.*hatespeech export --model"):
        choose(old, "v0", 1, 0.01, tmp_path / "state")


@pytest.mark.parametrize(("setting", "served"), [("openvino", "openvino-f32"), ("auto", None)])
def test_the_server_says_which_engine_serves_and_why(
    tiny_model: Path, tmp_path: Path, setting: str, served: str | None
) -> None:
    with serving(tiny_model, tmp_path / "log", engine=setting, state_dir=str(tmp_path / "state")) as server:
        model = httpx.get(f"{server.url}/model").json()
        ready = httpx.get(f"{server.url}/ready").json()
        answer = httpx.post(f"{server.url}/predict", json={"text": TEXTS[1]}).json()
    assert model["engine"] == ready["engine"] == (served or model["engine"])
    assert model["engine_reason"].startswith("auto:" if setting == "auto" else f"HATESPEECH_ENGINE={setting}")
    expected = OnnxEngine(tiny_model).predict([TEXTS[1]])[0]
    assert answer["score"] == pytest.approx(expected.score, abs=0.02)  # int8 may serve under auto
    assert "engine_reason" in (tmp_path / "log").read_text()  # the start-up log says it too
    if setting == "auto":
        assert (tmp_path / "state" / CACHE_FILE).is_file()
