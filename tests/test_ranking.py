"""Ranking figures: threshold-free, so a change that only moves the operating point leaves them unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from hatespeech.data import Example
from hatespeech.evaluation import ranking, validation_report


def test_ranking_of_hate_against_ordinary_text() -> None:
    figures = ranking([0.9, 0.8, 0.7, 0.2, 0.6], [0.1, 0.3, 0.65, 0.05, 0.2, 0.4, 0.5, 0.0, 0.1, 0.15])
    assert figures["hate"] == 5 and figures["ordinary"] == 10
    # recall 0.8 = 4 of 5 hate texts: threshold 0.6 flags 0.65 too (1 of 10 ordinary texts)
    assert figures["false_alarms_at_recall"] == pytest.approx(0.1) and figures["threshold_at_recall"] == 0.6
    assert figures["roc_auc"] == pytest.approx((50 - 1 - 4.5) / 50)  # 0.65 beats 0.6; 0.2 loses to 4, ties 1
    assert 0 < figures["average_precision"] < 1
    perfect = ranking([0.9, 0.8], [0.1, 0.2])
    assert perfect["roc_auc"] == 1.0 and perfect["false_alarms_at_recall"] == 0.0


def test_moving_the_threshold_does_not_move_the_ranking() -> None:
    rng = np.random.default_rng(0)
    hate, ordinary = rng.beta(4, 2, 200), rng.beta(2, 4, 800)
    shifted = ranking(hate**3, ordinary**3)  # every score lower: fewer flags at 0.5, same order
    original = ranking(hate, ordinary)
    for key in ("roc_auc", "average_precision", "false_alarms_at_recall"):
        assert shifted[key] == pytest.approx(original[key])
    assert shifted["threshold_at_recall"] < original["threshold_at_recall"]


def test_validation_report_ranks_the_sample_hate_against_natural_text_only() -> None:
    examples = [Example("h", "a", 1), Example("n", "b", 0), Example("w", "c", 0, natural=True)]
    examples += [Example("c", "d", 1, contrast=True), Example("w2", "e", 0, natural=True)]
    report = validation_report(examples, [0.9, 0.95, 0.2, 0.1, 0.3], 0.5)
    assert report["ranking"]["hate"] == 1 and report["ranking"]["ordinary"] == 2
    assert report["ranking"]["roc_auc"] == 1.0  # the sample's noHate (0.95) and the contrast hate (0.1) play no part
