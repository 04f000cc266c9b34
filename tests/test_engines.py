"""Engines chosen for the CPU (issue 29): OpenVINO and CTranslate2 agree with ONNX Runtime; auto measures every
candidate on the model's parity sentences (in a child process), refuses one that changes labels, keeps the baseline
unless another is clearly faster, caches its choice, and the server says what serves."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from hatespeech import artifact
from hatespeech.engines.base import BaseEngine, Encoded
from hatespeech.engines.choice import CACHE_FILE, choose, decide
from hatespeech.engines.measure import MIN_GAIN, Calibration, calibrate
from hatespeech.engines.onnx_runtime import OnnxEngine
from hatespeech.engines.registry import EngineName, candidates, open_engine, resolve
from hatespeech.errors import InputError, ModelError

from api.live_server import serving
from waiting import wait_until

TEXTS = ["a calm sentence about the weather", "those people are vermin", "x", "Long text " * 30]


def test_openvino_scores_like_onnx_runtime_fp32(tiny_model: Path) -> None:
    reference = open_engine(tiny_model, "onnx-fp32", threads=1)
    openvino = open_engine(tiny_model, "openvino", threads=1)
    batch = reference.encode(TEXTS)
    assert np.allclose(openvino.forward(batch), reference.forward(batch), atol=1e-4)
    assert [p.label for p in openvino.predict(TEXTS)] == [p.label for p in reference.predict(TEXTS)]


def test_openvino_int8_is_quantized_at_export_and_checked(tiny_model: Path) -> None:
    report = json.loads((tiny_model / "export.json").read_text())["openvino_int8"]
    assert report["label_agreement"] >= 0.995 and report["check_texts"] > 300  # checked against ONNX fp32
    assert artifact.OV_INT8 in artifact.verify(tiny_model)["files"] and "openvino-int8" in candidates(tiny_model)
    reference = open_engine(tiny_model, "onnx-fp32", threads=1)
    int8 = open_engine(tiny_model, "openvino-int8", threads=1)
    batch = reference.encode(TEXTS)
    assert np.abs(int8.forward(batch) - reference.forward(batch)).max() < 0.5
    copy = artifact.pack(tiny_model, tiny_model.parent / "int8-less", (artifact.ONNX_INT8,))
    assert f"{artifact.OV_DIR}/model.int8.bin" in copy["packed"]["left_out"]  # a folder of its own, like CT2's
    with pytest.raises(ModelError, match=r"model\.int8\.xml not found.*NNCF"):
        open_engine(tiny_model.parent / "int8-less", "openvino-int8")


def test_ctranslate2_scores_like_onnx_runtime_fp32_without_padding(tiny_model: Path) -> None:
    reference = open_engine(tiny_model, "onnx-fp32", threads=1)
    converted = open_engine(tiny_model, "ctranslate2", threads=1)
    assert converted.padding_free and not reference.padding_free
    batch = reference.encode(TEXTS)  # rows of 3 to 80 tokens: the padding CTranslate2 drops
    assert np.allclose(converted.forward(batch), reference.forward(batch), atol=1e-4)
    assert [p.label for p in converted.predict(TEXTS)] == [p.label for p in reference.predict(TEXTS)]
    report = json.loads((tiny_model / "export.json").read_text())["ctranslate2"]
    assert report["label_agreement"] == 1.0 and report["check_texts"] > 300  # checked at export
    int8 = open_engine(tiny_model, "ctranslate2-int8", threads=1)
    assert np.abs(int8.forward(batch) - reference.forward(batch)).max() < 0.5


def test_a_serving_copy_keeps_or_leaves_out_the_ctranslate2_folder(tiny_model: Path, tmp_path: Path) -> None:
    kept = artifact.pack(tiny_model, tmp_path / "kept", (artifact.ONNX_FP32, artifact.CT2_DIR))
    assert "ctranslate2/model.bin" in kept["files"] and "ctranslate2/head.npz" in kept["files"]
    open_engine(tmp_path / "kept", "ctranslate2", threads=1).predict(TEXTS)
    onnx_only = artifact.pack(tiny_model, tmp_path / "onnx", (artifact.ONNX_FP32,))
    assert not any(name.startswith("ctranslate2/") for name in onnx_only["files"])
    assert "ctranslate2/vocabulary.json" in onnx_only["packed"]["left_out"]
    with pytest.raises(ModelError, match=r"ctranslate2 not found or incomplete.*hatespeech export"):
        open_engine(tmp_path / "onnx", "ctranslate2-int8")


def test_candidates_and_unknown_names(tiny_model: Path) -> None:
    found = candidates(tiny_model)
    assert found[:3] == ["onnx-fp32", "onnx-int8", "openvino-f32"]
    assert found[-2:] == ["ctranslate2-f32", "ctranslate2-int8"]
    with pytest.raises(InputError, match="unknown engine 'tensorrt'"):
        open_engine(tiny_model, "tensorrt")


def test_one_set_of_names_means_the_same_everywhere(tiny_model: Path, tmp_path: Path) -> None:
    from pydantic import ValidationError
    from typer.testing import CliRunner

    from hatespeech import load
    from hatespeech.cli import app
    from hatespeech.settings import Settings

    known = "use one of auto, onnx, onnx-fp32, onnx-int8, openvino-f32, openvino-bf16, openvino-int8, ctranslate2-f32"
    with pytest.raises(InputError, match=f"unknown engine 'fast': {known}"):
        load(tiny_model, engine="fast")
    with pytest.raises(ValidationError, match=f"unknown engine 'fast': {known}"):
        Settings(engine="fast")
    for command in (["predict", "hello"], ["evaluate"], ["serve"]):
        answer = CliRunner().invoke(app, [*command, "-m", str(tiny_model), "--engine", "fast"])
        assert answer.exit_code == 2 and known in " ".join(answer.output.split()), answer.output
    runtime = CliRunner().invoke(app, ["serve", "-m", str(tiny_model), "--engine", "ray"])
    assert runtime.exit_code == 2 and "use --runtime ray" in runtime.output

    int8 = resolve(tiny_model, "onnx", quantized="yes")
    assert int8.name == EngineName.ONNX_INT8 and resolve(tiny_model, "onnx", quantized="no").name == "onnx-fp32"
    assert resolve(tiny_model, "openvino").name == EngineName.OPENVINO_F32  # an alias: its f32 form
    waiting = resolve(tiny_model, "auto", quantized="no")
    assert waiting.name == "onnx-fp32" and waiting.measure  # not measured here: what onnx serves, for now
    with pytest.raises(InputError, match="a setting, not an engine"):
        open_engine(tiny_model, "auto")


def test_export_writes_parity_sentences_of_both_labels(tiny_model: Path) -> None:
    rows = [json.loads(line) for line in (tiny_model / artifact.PARITY_FILE).read_text().splitlines()]
    assert len(rows) > 300 and {r["label"] for r in rows} == {"hate", "noHate"}
    assert artifact.PARITY_FILE in artifact.verify(tiny_model)["files"]  # listed, so a verified dir may carry it


class Flipped(OnnxEngine):
    """ONNX Runtime fp32 with the two logits swapped: every label changes."""

    def forward(self, batch: Encoded) -> np.ndarray:
        return super().forward(batch)[:, ::-1].copy()


def test_calibration_refuses_an_engine_that_changes_labels(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hatespeech.engines.measure as engine_measure

    real = engine_measure.open_engine

    def opening(directory: Path, name: str, threads: int | None = None) -> object:
        return Flipped(directory, threads=threads) if name == "onnx-int8" else real(directory, name, threads)

    monkeypatch.setattr(engine_measure, "open_engine", opening)
    chosen = calibrate(tiny_model, 1, 0.01, baseline="onnx-int8")
    by_name = {t.engine: t for t in chosen.trials}
    assert not by_name["onnx-int8"].passed and by_name["onnx-int8"].agreement < 0.5
    assert by_name["onnx-fp32"].passed and chosen.chosen != "onnx-int8"
    assert "refused: onnx-int8" in chosen.reason


def test_calibration_keeps_the_baseline_unless_another_engine_is_clearly_faster(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatespeech.engines.measure as engine_measure

    speeds = {"onnx-fp32": 100.0, "onnx-int8": 102.0, "openvino-f32": 104.0, "ctranslate2-f32": 103.0}
    real = engine_measure._seconds

    def timed(engine: BaseEngine, batches: list[Encoded]) -> float:
        real(engine, batches)
        name = next(n for n, e in opened.items() if e is engine)
        return sum(b.input_ids.shape[0] for b in batches) / speeds[name]  # as if it ran at its speed

    opened: dict[str, BaseEngine] = {}
    real_open = engine_measure.open_engine

    def opening(directory: Path, name: str, threads: int | None = None) -> BaseEngine:
        opened[name] = real_open(directory, name, threads)
        return opened[name]

    monkeypatch.setattr(engine_measure, "candidates", lambda directory: list(speeds))
    monkeypatch.setattr(engine_measure, "open_engine", opening)
    monkeypatch.setattr(engine_measure, "_seconds", timed)
    tie = calibrate(tiny_model, 1, 0.5, baseline="onnx-int8")
    assert tie.chosen == "onnx-int8" and tie.reason.startswith("kept onnx-int8")  # 104 < 102 x MIN_GAIN
    speeds["ctranslate2-f32"] = 102.0 * MIN_GAIN + 1
    faster = calibrate(tiny_model, 1, 0.5, baseline="onnx-int8")
    assert faster.chosen == "ctranslate2-f32" and faster.reason.startswith("fastest of")


def test_calibration_weighs_a_lone_client_as_much_as_a_full_load(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatespeech.engines.measure as engine_measure

    # (under load, one text at a time): openvino-int8 doubles the load speed but runs one text at a third
    speeds = {"onnx-fp32": (100.0, 150.0), "onnx-int8": (200.0, 300.0), "openvino-int8": (400.0, 100.0)}
    real = engine_measure._seconds
    opened: dict[str, BaseEngine] = {}

    def timed(engine: BaseEngine, batches: list[Encoded]) -> float:
        real(engine, batches)
        name = next(n for n, e in opened.items() if e is engine)
        load, single = speeds[name]
        alone = all(b.input_ids.shape[0] == 1 for b in batches)
        return sum(b.input_ids.shape[0] for b in batches) / (single if alone else load)

    real_open = engine_measure.open_engine

    def opening(directory: Path, name: str, threads: int | None = None) -> BaseEngine:
        opened[name] = real_open(directory, "onnx-fp32", threads)
        return opened[name]

    monkeypatch.setattr(engine_measure, "candidates", lambda directory: list(speeds))
    monkeypatch.setattr(engine_measure, "open_engine", opening)
    monkeypatch.setattr(engine_measure, "_seconds", timed)
    chosen = calibrate(tiny_model, 1, 0.5, baseline="onnx-int8")
    by_name = {t.engine: t for t in chosen.trials}
    assert by_name["openvino-int8"].texts_per_s == pytest.approx(400.0)
    assert by_name["openvino-int8"].single_per_s == pytest.approx(100.0)
    assert chosen.chosen == "onnx-int8"  # sqrt(200 x 300) = 245 against sqrt(400 x 100) = 200
    speeds["openvino-int8"] = (400.0, 250.0)  # sqrt(400 x 250) = 316: 1.29x
    assert calibrate(tiny_model, 1, 0.5, baseline="onnx-int8").chosen == "openvino-int8"


def test_auto_measures_in_a_child_process_and_caches_its_choice(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatespeech.engines.choice as engine_choice
    import hatespeech.engines.measure as engine_measure

    monkeypatch.setattr(engine_measure, "open_engine", lambda *args: pytest.fail("an engine opened in this process"))
    chosen = choose(tiny_model, "v1", 1, 0.01, tmp_path)  # the child process imports the real open_engine
    assert {t.engine for t in chosen.trials} == set(candidates(tiny_model))
    assert chosen.chosen == "onnx-fp32" or chosen.reason.startswith("fastest of")

    monkeypatch.setattr(engine_choice, "calibrate_apart", lambda *args: pytest.fail("measured again"))
    assert choose(tiny_model, "v1", 1, 0.01, tmp_path) == chosen  # cached per CPU, version, threads and baseline
    assert len(json.loads((tmp_path / CACHE_FILE).read_text())) == 1


def test_auto_without_parity_sentences_is_one_clear_line(tiny_model: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-model"
    shutil.copytree(tiny_model.resolve(), old)
    (old / artifact.PARITY_FILE).unlink()
    with pytest.raises(ModelError, match=r"no parity\.jsonl.*hatespeech export --model"):
        choose(old, "v0", 1, 0.01, tmp_path / "state")


def test_the_server_says_which_engine_serves_and_why(tiny_model: Path, tmp_path: Path) -> None:
    with serving(tiny_model, tmp_path / "log", engine="openvino") as server:
        model = httpx.get(f"{server.url}/model").json()
        ready = httpx.get(f"{server.url}/ready").json()
        answer = httpx.post(f"{server.url}/predict", json={"text": TEXTS[1]}).json()
    assert model["engine"] == ready["engine"] == "openvino-f32"
    assert model["engine_reason"].startswith("HATESPEECH_ENGINE=openvino")
    expected = OnnxEngine(tiny_model).predict([TEXTS[1]])[0]
    assert answer["score"] == pytest.approx(expected.score, abs=1e-4)
    assert "engine_reason" in (tmp_path / "log").read_text()  # the start-up log says it too


def test_export_measures_the_engines_for_auto(tiny_model: Path) -> None:
    assert CACHE_FILE in artifact.verify(tiny_model)["files"]  # in the model dir, under its manifest
    here = decide(tiny_model, "auto", threads=os.cpu_count() or 1)
    assert here.reason.startswith("auto: ") and not here.measure and here.name in candidates(tiny_model)
    elsewhere = decide(tiny_model, "auto", threads=(os.cpu_count() or 1) + 1)  # a setting never measured
    assert elsewhere.measure and elsewhere.name == resolve(tiny_model, "onnx").name
    alone = tiny_model.parent / "one-graph"
    artifact.pack(tiny_model, alone, (artifact.ONNX_INT8,))
    single = decide(alone, "auto", threads=(os.cpu_count() or 1) + 1)
    assert single.name == "onnx-int8" and not single.measure and "the one engine" in single.reason


def test_auto_measures_a_serving_copy_against_its_onnx_runtime_graph(tiny_model: Path) -> None:
    """The image's copy (the int8 ONNX graph and OpenVINO's, no fp32): its ONNX Runtime graph is the reference."""
    served = tiny_model.parent / "image-copy"
    artifact.pack(tiny_model, served, (artifact.ONNX_INT8, artifact.OV_DIR))
    assert decide(served, "auto", threads=(os.cpu_count() or 1) + 1).measure
    measured = calibrate(served, 1, 0.01, baseline="onnx-int8")
    assert [t.engine for t in measured.trials] == ["onnx-int8", "openvino-int8"]
    assert measured.trials[0].passed and measured.chosen in ("onnx-int8", "openvino-int8")


def test_auto_serves_at_once_then_measures_in_the_background(tiny_model: Path, tmp_path: Path) -> None:
    """A CPU (here: a thread count) not measured before: ready on what onnx serves, the measurement in a child
    process while it serves, kept in the state dir; every request meanwhile answered; a restart reads it."""
    state = tmp_path / "state"
    settings = {"engine": "auto", "threads": "1", "state_dir": str(state)}
    with serving(tiny_model, tmp_path / "log", **settings) as server:
        first = httpx.get(f"{server.url}/model").json()
        assert first["engine"] == resolve(tiny_model, "onnx").name and "not measured" in first["engine_reason"]
        answers = []
        while "engine_measured" not in (tmp_path / "log").read_text():
            answers.append(httpx.post(f"{server.url}/predict", json={"text": TEXTS[len(answers) % 4]}).status_code)
            assert len(answers) < 20_000, "no measurement"
        chosen = json.loads((state / CACHE_FILE).read_text()).popitem()[1]["chosen"]
        wait_until(lambda: httpx.get(f"{server.url}/model").json()["engine"] == chosen, what=f"{chosen} serving")
        answers.append(httpx.post(f"{server.url}/predict", json={"text": TEXTS[0]}).status_code)
    assert set(answers) == {200}
    with serving(tiny_model, tmp_path / "log2", **settings) as server:
        again = httpx.get(f"{server.url}/model").json()
    assert again["engine"] == chosen and again["engine_reason"].startswith("auto: ")
    assert "engine_measuring" not in (tmp_path / "log2").read_text()


def test_a_measurement_that_picks_another_engine_swaps_it_in(
    model_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from fastapi.testclient import TestClient

    import hatespeech.engines.choice as engine_choice
    from hatespeech.api.app import create_app
    from hatespeech.settings import Settings

    async def measured(directory: Path, threads: int, max_drop: float, baseline: str) -> Calibration:
        await asyncio.sleep(0.5)  # requests arrive meanwhile
        return Calibration("onnx-fp32", "fastest (a stand-in measurement)", "cpu", threads, 1, [])

    monkeypatch.setattr(engine_choice, "calibrate_in_background", measured)
    settings = Settings(model_dir=model_copy, engine="auto", threads=1, quantized="yes", state_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, what="ready")
        assert client.get("/model").json()["engine"] == "onnx-int8"
        codes = []
        while client.get("/model").json()["engine"] != "onnx-fp32":
            codes.append(client.post("/predict", json={"text": TEXTS[1]}).status_code)
            assert len(codes) < 5_000, "never swapped"
        assert client.get("/model").json()["engine_reason"] == "auto: fastest (a stand-in measurement)"
    assert set(codes) == {200}
