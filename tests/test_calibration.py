"""Threshold and prior: the maths, the choice of threshold, and `hatespeech calibrate` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score
from typer.testing import CliRunner

from hatespeech import artifact
from hatespeech.calibration import (
    apply_shift,
    choose_threshold,
    operating_points,
    prior_shift,
    prior_weights,
    threshold_sweep,
)
from hatespeech.cli import app
from hatespeech.config import TrainConfig
from hatespeech.data import load_split
from hatespeech.engines.onnx_runtime import OnnxEngine
from hatespeech.errors import InputError
from hatespeech.training import train

runner = CliRunner()
RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, 400)
SCORES = np.clip(0.3 * LABELS + RNG.normal(0.35, 0.2, 400), 0.001, 0.999)


def test_prior_shift_moves_a_balanced_score_to_the_prior() -> None:
    assert prior_shift(None, 0.5) == 0.0
    assert apply_shift(np.array([0.5]), prior_shift(0.11, 0.5))[0] == pytest.approx(0.11)
    shift = prior_shift(0.2, 0.5)
    back = apply_shift(apply_shift(SCORES, shift), -shift)
    np.testing.assert_allclose(back, SCORES, atol=1e-9)
    assert np.all(np.diff(apply_shift(np.sort(SCORES), shift)) >= 0)  # order (and so ROC-AUC) is kept


def test_prior_weights_make_hate_the_given_share() -> None:
    weights = prior_weights(LABELS, 0.11)
    assert weights[LABELS == 1].sum() / weights.sum() == pytest.approx(0.11)
    assert np.all(prior_weights(LABELS, None) == 1)


@pytest.mark.parametrize("prior", [None, 0.11])
def test_threshold_sweep_matches_scikit_learn(prior: float | None) -> None:
    weights = prior_weights(LABELS, prior)
    sweep = threshold_sweep(LABELS, SCORES, weights, np.array([0.3, 0.5, 0.7]))
    for i, threshold in enumerate((0.3, 0.5, 0.7)):
        predicted = (threshold <= SCORES).astype(int)
        assert sweep["precision"][i] == pytest.approx(precision_score(LABELS, predicted, sample_weight=weights))
        assert sweep["recall"][i] == pytest.approx(recall_score(LABELS, predicted, sample_weight=weights))
        assert sweep["f1"][i] == pytest.approx(f1_score(LABELS, predicted, sample_weight=weights))


def test_choose_threshold_for_each_objective() -> None:
    points = operating_points(LABELS, SCORES, prior_weights(LABELS, None))
    best = choose_threshold(points, "f1", None)
    brute = max(f1_score(LABELS, (p.threshold <= SCORES).astype(int)) for p in points)
    assert best.f1 == pytest.approx(brute)
    precise = choose_threshold(points, "precision", 0.8)
    assert precise.precision >= 0.8
    assert all(p.recall <= precise.recall for p in points if p.precision >= 0.8)
    recalled = choose_threshold(points, "recall", 0.9)
    assert recalled.recall >= 0.9
    assert all(p.precision <= recalled.precision for p in points if p.recall >= 0.9)
    with pytest.raises(InputError, match="no threshold reaches precision"):
        choose_threshold(operating_points(LABELS, 1 - SCORES, np.ones(400)), "precision", 0.99)
    with pytest.raises(InputError, match="--target"):
        choose_threshold(points, "recall", None)


def test_calibrate_stores_threshold_and_prior_and_engines_use_them(model_copy: Path, small_data: Path) -> None:
    before = model_copy.resolve()
    texts = ["you people are disgusting", "nice weather today", "send them all back"]
    raw = [p.score for p in OnnxEngine(model_copy).predict(texts)]
    result = runner.invoke(app, ["calibrate", "-m", str(model_copy), "--data", str(small_data), "--prior", "0.11"])
    assert result.exit_code == 0, result.output
    assert "chosen" in result.output and "re-weighted to the prior" in result.output
    after = model_copy.resolve()
    assert after != before and before.exists()  # a new version; the old one is kept for rollback
    artifact.verify(after)
    artifact.verify(before)  # hard-linked files were not changed under the old version
    config = json.loads((after / "config.json").read_text())
    record = json.loads((after / "calibration.json").read_text())
    assert config["hate_prior"] == 0.11 and config["training_hate_prior"] == 0.5
    assert config["decision_threshold"] == record["chosen"]["threshold"]
    engine = OnnxEngine(model_copy)
    assert engine.info.threshold == config["decision_threshold"]
    adjusted = apply_shift(np.array(raw), prior_shift(0.11, 0.5))
    predictions = engine.predict(texts)
    np.testing.assert_allclose([p.score for p in predictions], adjusted, atol=1e-6)
    assert [p.label for p in predictions] == ["hate" if s >= engine.info.threshold else "noHate" for s in adjusted]


def test_calibrate_dry_run_changes_nothing(model_copy: Path, small_data: Path) -> None:
    before = model_copy.resolve()
    args = ["calibrate", "-m", str(model_copy), "--data", str(small_data), "--objective", "recall", "--target", "0.9"]
    result = runner.invoke(app, [*args, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "recall >= 0.9" in result.output
    assert model_copy.resolve() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prior", "1.5"], "--prior must be a share"),
        (["--objective", "speed"], "unknown objective"),
        (["--objective", "precision"], "--target"),
    ],
)
def test_calibrate_rejects_bad_options(model_copy: Path, small_data: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["calibrate", "-m", str(model_copy), "--data", str(small_data), *extra])
    assert result.exit_code != 0
    assert message in result.output + str(result.exception)  # domain errors reach `run()`, which prints them


def test_calibrate_refuses_data_the_model_was_not_trained_on(model_copy: Path, shared_data: Path) -> None:
    result = runner.invoke(app, ["calibrate", "-m", str(model_copy), "--data", str(shared_data)])
    assert result.exit_code == 1
    assert "not the data this model was trained on" in result.output + str(result.exception)


def test_calibrate_a_cross_fit_model_uses_its_out_of_fold_scores(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    config = tiny_config.model_copy(update={"epochs": 1, "folds": 2})
    model = tmp_path / "current"
    train(config, load_split(small_data, "sampled_train"), model)
    saved = json.loads((model / "validation_scores.json").read_text())
    result = runner.invoke(app, ["calibrate", "-m", str(model), "--objective", "recall", "--target", "0.75"])
    assert result.exit_code == 0, result.output
    assert "48 out-of-fold (2 folds, grouped by author) scores" in " ".join(
        result.output.split()
    )  # no --data: nothing to rebuild or rescore
    points = operating_points(saved["labels"], np.array(saved["scores"]), np.ones(48))
    expected = choose_threshold(points, "recall", 0.75).threshold
    assert json.loads((model / "config.json").read_text())["decision_threshold"] == expected
    artifact.verify(model)


def test_calibrate_without_a_model_is_one_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calibrate", "-m", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "does not exist" in result.output + str(result.exception)
