"""The Python API (``from hatespeech import load``): the same engine, answers and errors as the server and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hatespeech import Classifier, load
from hatespeech.api.lifecycle import load_engine
from hatespeech.errors import InputError, ModelError
from hatespeech.explain import MIN_EFFECT
from hatespeech.settings import Settings


@pytest.fixture(scope="module")
def classifier(tiny_model: Path) -> Classifier:
    return load(tiny_model)


def test_the_readme_line_works_without_torch(tiny_model: Path) -> None:
    code = (
        "import json, sys\n"
        "from hatespeech import load\n"
        f"predictions = load({str(tiny_model)!r}).predict(['hello'])\n"
        "print(json.dumps({'label': predictions[0].label, 'torch': 'torch' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"label": answer["label"], "torch": False} and answer["label"] in ("hate", "noHate")


def test_predict_matches_the_servers_engine_and_keeps_the_order(classifier: Classifier, tiny_model: Path) -> None:
    opened = load_engine(Settings(model_dir=tiny_model))  # what `hatespeech serve` opens by default (auto)
    engine = opened.engine
    assert classifier.engine_name == opened.name
    texts = ["short", "a somewhat longer sentence about nothing much at all", "mid length text"]
    ours = classifier.predict(texts)
    assert [p.score for p in ours] == pytest.approx([p.score for p in engine.predict(texts)], abs=1e-6)
    assert classifier.predict("short") == classifier.predict(["short"])  # a string is one text, not characters
    assert all(p.label == ("hate" if p.score >= classifier.info.threshold else "noHate") for p in ours)


def test_explain_gives_each_words_contribution(classifier: Classifier) -> None:
    text = "They should all be sent back"
    explanation = classifier.explain(text)
    listed = [word for word, _ in explanation.words()]
    assert all(word in text.split() for word in listed)  # whole words, those that moved the log-odds by 0.1+
    assert all(abs(effect) >= MIN_EFFECT for _, effect in explanation.words())
    assert explanation.prediction.score == pytest.approx(classifier.predict(text)[0].score, abs=1e-6)


def test_bad_input_and_bad_models_are_one_clear_error(classifier: Classifier, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="text 1 is empty"):
        classifier.predict(["fine", "  "])
    with pytest.raises(InputError, match="text 0 is a int"):
        classifier.predict([7])  # type: ignore[list-item]
    with pytest.raises(InputError, match="not valid Unicode"):
        classifier.explain("\ud800")
    with pytest.raises(ModelError, match="does not exist"):
        load(tmp_path / "nowhere")
    with pytest.raises(InputError, match="unknown engine 'tensorflow'"):
        load(classifier.info.directory, engine="tensorflow")
