"""Model dirs written by earlier versions still load and serve."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hatespeech import artifact
from hatespeech.config import TrainConfig
from hatespeech.engines.onnx_runtime import OnnxEngine


def _replace_json(path: Path, update: dict[str, object]) -> None:
    data = json.loads(path.read_text())
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({**data, **update}))
    temporary.replace(path)  # never in place: revise() hard-links unchanged files


def test_a_model_dir_with_the_retired_lexical_blend_serves_the_encoder_alone(
    model_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    texts = ["they are vermin", "a nice day out", "what the hell"]
    expected = [p.score for p in OnnxEngine(model_copy).predict(texts)]

    def make_legacy(staged: Path) -> None:  # what 0.1 wrote when the blend had a weight
        _replace_json(staged / "config.json", {"lexical_weight": 0.3})
        _replace_json(staged / "training_args.json", {"lexical": True})

    artifact.revise(model_copy, make_legacy)
    assert "lexical" not in TrainConfig.load(model_copy).model_dump()  # loads: the retired knob is dropped
    with caplog.at_level(logging.WARNING, logger="hatespeech.engines.base"):
        engine = OnnxEngine(model_copy)
    assert "no longer applies" in caplog.text and "0.3" in caplog.text
    assert [p.score for p in engine.predict(texts)] == pytest.approx(expected, abs=1e-6)
