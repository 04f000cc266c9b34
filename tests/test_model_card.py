"""The model card: a Hugging Face card (YAML header, then prose) written at export from the recorded figures."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hatespeech.model_card import WEAK_ROC_AUC, weaknesses, write_card


def _header(text: str) -> dict[str, object]:
    assert text.startswith("---\n")
    header: dict[str, object] = yaml.safe_load(text.split("---\n")[1])
    return header


def test_every_exported_model_dir_has_a_card_with_its_sources_and_figures(model_copy: Path) -> None:
    text = (model_copy / "README.md").read_text()
    header = _header(text)
    assert header["pipeline_tag"] == "text-classification" and header["license"] == "other"
    assert header["datasets"] == ["hate_speech18"]  # the tiny model learnt from the forum's sentences alone
    metrics = json.loads((model_copy / "metrics.json").read_text())
    assert f"| sampled_test accuracy | {metrics['test']['accuracy']:.3f} |" in text
    assert "CC BY-SA 3.0 ES" in text and "## Intended use" in text and "`social-v1`" in text


def test_weak_sources_and_categories_come_from_the_figures(model_copy: Path) -> None:
    metrics = json.loads((model_copy / "metrics.json").read_text())
    metrics["reports"] = {"hatexplain test": {"ROC-AUC": 0.91, "Twitter ROC-AUC": WEAK_ROC_AUC - 0.1}}
    metrics["behaviour_categories"] = {"counter_speech": 0.4, "threats": 0.95}
    found = weaknesses(metrics)
    assert any(w.startswith("hatexplain test Twitter ROC-AUC: 0.750") for w in found)
    assert not any("hatexplain test ROC-AUC" in w for w in found)
    assert "behaviour category counter_speech: 0.40 correct" in found and not any("threats" in w for w in found)
    (model_copy / "metrics.json").write_text(json.dumps(metrics))
    text = write_card(model_copy).read_text()
    assert "| hatexplain test Twitter ROC-AUC | 0.750 |" in text and "- behaviour category counter_speech" in text
