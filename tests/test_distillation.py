"""Knowledge distillation: the teacher's scores, the soft loss, and `train --teacher` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hatespeech.cli import app
from hatespeech.config import TrainConfig
from hatespeech.data import load_split
from hatespeech.engines.base import predict_in_batches
from hatespeech.errors import ModelError
from hatespeech.modeling import TorchEngine
from hatespeech.training import step, train
from hatespeech.training.batches import TrainBatch
from hatespeech.training.distillation import teacher_scores

runner = CliRunner()


def _stage(teacher_weight: float, class_weights: list[float] | None = None) -> step.Stage:
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return step.Stage(model, optimizer, 10, 0.0, 0.0, class_weights=class_weights, teacher_weight=teacher_weight)  # type: ignore[arg-type]


def test_soft_loss_is_the_cross_entropy_with_the_teachers_distribution_mixed_with_the_labels() -> None:
    logits = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    labels = torch.tensor([1, 0])
    soft = torch.tensor([0.8, 0.3])
    log_q = torch.log_softmax(logits, dim=-1)
    soft_ce = -((1 - soft) * log_q[:, 0] + soft * log_q[:, 1]).mean()
    hard_ce = torch.nn.functional.cross_entropy(logits, labels)
    assert math.isclose(_stage(1.0)._supervised(logits, labels, soft).item(), soft_ce.item(), rel_tol=1e-6)
    mixed = _stage(0.25)._supervised(logits, labels, soft).item()
    assert math.isclose(mixed, 0.75 * hard_ce.item() + 0.25 * soft_ce.item(), rel_tol=1e-6)
    assert math.isclose(_stage(0.5)._supervised(logits, labels, None).item(), hard_ce.item(), rel_tol=1e-6)
    # Hard targets as soft ones give the hard loss; class weights weigh each text by its gold label.
    assert math.isclose(_stage(1.0)._supervised(logits, labels, labels.float()).item(), hard_ce.item(), rel_tol=1e-6)
    weighted = _stage(1.0, [0.5, 1.0])._supervised(logits, labels, soft).item()
    per_text = -((1 - soft) * log_q[:, 0] + soft * log_q[:, 1])
    assert math.isclose(weighted, ((per_text * torch.tensor([1.0, 0.5])).sum() / 1.5).item(), rel_tol=1e-6)


def test_teacher_scores_are_the_teacher_models_own_scores(tiny_model: Path, small_data: Path) -> None:
    examples = load_split(small_data, "sampled_train").examples[:20]
    scores = teacher_scores(tiny_model, examples, torch.device("cpu"))
    served = predict_in_batches(TorchEngine(tiny_model), [e.text for e in examples])
    # the same model, batched differently (padding moves the fifth decimal): equal to 1e-4, not by rounding
    assert [scores[e] for e in examples] == pytest.approx([p.scores["hate"] for p in served], abs=1e-4)


def test_train_with_a_teacher_feeds_its_scores_to_every_step(
    tiny_model: Path, tiny_config: TrainConfig, small_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[torch.Tensor | None] = []
    original = step.Stage.train_step

    def spy(self: step.Stage, batch: TrainBatch) -> float:
        seen.append(batch.soft)
        assert self.teacher_weight == 0.7
        return original(self, batch)

    monkeypatch.setattr(step.Stage, "train_step", spy)
    data = load_split(small_data, "sampled_train")
    config = tiny_config.model_copy(update={"epochs": 1, "teacher": str(tiny_model), "teacher_weight": 0.7})
    result = train(config, data, tmp_path / "m")
    assert seen and all(s is not None and ((s >= 0) & (s <= 1)).all() for s in seen)
    assert json.loads((result.model_dir / "training_args.json").read_text())["teacher"] == str(tiny_model)


def test_a_teacher_that_is_not_a_model_dir_is_refused_clearly(
    tiny_base: Path, small_data: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="not a model directory"):
        teacher_scores(tmp_path, [], torch.device("cpu"))
    args = ["train", "--data", str(small_data), "--out", str(tmp_path / "out"), "--base-model", str(tiny_base)]
    args += ["--no-export", "--epochs", "1", "--device", "cpu", "--teacher", str(tmp_path / "missing")]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and not (tmp_path / "out").exists()
    assert isinstance(result.exception, ModelError) and "not a model directory" in str(result.exception)
