"""Training: the tiny model end to end, the model-dir contents, `pipeline` compatibility, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hatespeech import artifact
from hatespeech.config import TrainConfig
from hatespeech.data import load_split
from hatespeech.training import train
from hatespeech.training.averaging import average_states
from hatespeech.training.batches import TrainBatch, bucketed_batches, choose_max_length
from hatespeech.training.data_mix import plan_runs


def test_trained_model_dir_has_every_artifact(tiny_model: Path) -> None:
    assert tiny_model.is_symlink()
    names = {p.name for p in tiny_model.iterdir()}
    for expected in (
        "model.safetensors", "config.json", "tokenizer.json", "training_args.json", "data.json",
        "metrics.json", "manifest.json", "model.onnx", "model.int8.onnx", "export.json",
    ):  # fmt: skip
        assert expected in names
    artifact.verify(tiny_model)


def test_config_carries_labels_threshold_and_max_length(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["id2label"] == {"0": "noHate", "1": "hate"}
    assert config["label2id"] == {"noHate": 0, "hate": 1}
    assert config["decision_threshold"] == 0.5
    assert 16 <= config["max_seq_length"] <= 512


def test_metrics_record_validation_and_test_separately(tiny_model: Path) -> None:
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert metrics["validation"]["n"] == 8  # 15% of 48, stratified
    assert metrics["test"]["n"] == 16
    assert metrics["history"][0]["stage"].startswith("stage 1 (head)")


def test_data_fingerprint_and_training_args_are_saved(tiny_model: Path, tiny_config: TrainConfig) -> None:
    data = json.loads((tiny_model / "data.json").read_text())
    assert len(data["fingerprint"]) == 64
    assert data["per_label"] == {"noHate": 24, "hate": 23}  # one hate sentence is in the sample twice: kept once
    assert TrainConfig.load(tiny_model) == tiny_config


def test_transformers_pipeline_loads_the_model_dir(tiny_model: Path) -> None:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(tiny_model), device="cpu")
    results = classify(["you people are disgusting", "nice weather today"])
    assert {r["label"] for r in results} <= {"hate", "noHate"}
    assert all(0.0 <= r["score"] <= 1.0 for r in results)


def test_training_is_reproducible_with_the_same_seed(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    data = load_split(small_data, "sampled_train")
    config = tiny_config.model_copy(update={"epochs": 1})
    first = train(config, data, tmp_path / "a")
    second = train(config, data, tmp_path / "b")
    assert first.metrics["validation"] == second.metrics["validation"]
    assert (first.model_dir / "model.safetensors").read_bytes() == (second.model_dir / "model.safetensors").read_bytes()


def test_head_only_training_leaves_the_encoder_untouched(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    from safetensors.torch import load_file

    config = tiny_config.model_copy(update={"epochs": 0, "head_epochs": 1})
    result = train(config, load_split(small_data, "sampled_train"), tmp_path / "m")
    trained = load_file(result.model_dir / "model.safetensors")
    base = load_file(Path(tiny_config.base_model) / "model.safetensors")
    name = "encoder.layer.0.attention.self.query.weight"
    assert (trained[f"bert.{name}"] == base[name]).all()


def test_bucketed_batches_cover_every_example_once_with_less_padding() -> None:
    import random

    lengths = [random.Random(i).randint(5, 120) for i in range(1000)]
    batches = bucketed_batches(lengths, 32, random.Random(0))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert all(1 <= len(batch) <= 32 for batch in batches)
    assert batches == bucketed_batches(lengths, 32, random.Random(0))  # seeded
    assert batches != bucketed_batches(lengths, 32, random.Random(1))
    order = list(range(1000))
    random.Random(0).shuffle(order)
    shuffled = [order[i : i + 32] for i in range(0, 1000, 32)]

    def padded(groups: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in group) * len(group) for group in groups)

    assert padded(batches) < 0.7 * padded(shuffled)


def test_model_soup_is_the_mean_of_the_runs_weights() -> None:
    import torch

    states = [
        {"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([7])},
        {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([7])},
    ]
    soup = average_states(states)
    assert torch.equal(soup["w"], torch.tensor([2.0, 4.0]))
    assert torch.equal(soup["ids"], torch.tensor([7]))
    assert torch.equal(states[0]["w"], torch.tensor([1.0, 2.0]))  # inputs untouched


def test_soup_runs_start_from_the_same_head_and_are_averaged(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    config = tiny_config.model_copy(update={"epochs": 1, "soup_runs": 2})
    result = train(config, load_split(small_data, "sampled_train"), tmp_path / "m")
    stages = [h["stage"] for h in result.metrics["history"]]
    assert stages[:3] == ["stage 1 (head) epoch 1/1", "stage 2 run 1/2 epoch 1/1", "stage 2 run 2/2 epoch 1/1"]
    assert stages[-1] == "soup of 2 runs"
    runs = [h["val_accuracy"] for h in result.metrics["history"][1:3]]
    soup = result.metrics["history"][-1]["val_accuracy"]
    if soup >= sum(runs) / 2:
        assert result.metrics["selected"] == "soup of 2 runs"
    else:
        assert result.metrics["selected"].startswith("stage 2 run")


def test_cross_fit_folds_validate_every_text_once_and_train_on_the_rest(small_data: Path) -> None:
    examples = load_split(small_data, "sampled_train").examples
    head, runs = plan_runs(examples, TrainConfig(folds=4, seed=3))
    assert head == examples  # stage 1 sees everything: the soup needs one shared start
    assert [run.name for run in runs] == [f"fold {k}/4" for k in range(1, 5)]
    validated = [e.id for run in runs for e in run.validation]
    assert sorted(validated) == sorted(e.id for e in examples)  # each text validates exactly one run
    for run in runs:
        assert {e.id for e in run.train}.isdisjoint(e.id for e in run.validation)
        assert len(run.train) + len(run.validation) == len(examples)
        assert abs(sum(e.label for e in run.validation) - len(run.validation) / 2) <= 2  # stratified, near enough
        assert {e.group for e in run.train}.isdisjoint(e.group for e in run.validation)  # an author on one side
        assert [examples[i] for i in run.validation_index] == run.validation
    assert len({run.seed for run in runs}) == 4
    again = plan_runs(examples, TrainConfig(folds=4, seed=3))[1]
    assert [[e.id for e in r.validation] for r in again] == [[e.id for e in r.validation] for r in runs]
    hold_out = plan_runs(examples, TrainConfig(folds=0, soup_runs=2, seed=3))[1]
    assert len(hold_out) == 2 and hold_out[0].validation == hold_out[1].validation


def test_cross_fit_training_averages_the_fold_models_and_keeps_out_of_fold_scores(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    config = tiny_config.model_copy(update={"epochs": 1, "folds": 3, "precision": "fp32"})
    result = train(config, load_split(small_data, "sampled_train"), tmp_path / "m")
    assert result.metrics["precision"] == "fp32"
    stages = [h["stage"] for h in result.metrics["history"]]
    assert stages == [
        "stage 1 (head) epoch 1/1",
        "stage 2 fold 1/3 epoch 1/1",
        "stage 2 fold 2/3 epoch 1/1",
        "stage 2 fold 3/3 epoch 1/1",
    ]
    assert "val_accuracy" not in result.metrics["history"][0]  # nothing is held out from stage 1
    assert result.metrics["selected"] == "soup of 3 fold models"
    assert result.metrics["validation_kind"] == "out-of-fold (3 folds, grouped by author)"
    assert result.metrics["validation"]["n"] == 48  # every training text, scored by the run that did not see it
    saved = json.loads((result.model_dir / "validation_scores.json").read_text())
    assert saved["kind"] == "out-of-fold (3 folds, grouped by author)"
    assert len(saved["scores"]) == 48
    assert saved["labels"] == load_split(small_data, "sampled_train").labels  # in data order
    assert all(0.0 <= p <= 1.0 for p in saved["scores"])
    artifact.verify(result.model_dir)


def test_max_length_follows_the_data(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    assert choose_max_length(tokenizer, ["short text"] * 99 + ["word " * 300]) == 16
    assert choose_max_length(tokenizer, ["word " * 60] * 10) == 64


def test_republishing_keeps_the_previous_version_until_the_swap(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    config = tiny_config.model_copy(update={"epochs": 0})
    data = load_split(small_data, "sampled_train")
    first = train(config, data, tmp_path / "current").model_dir
    second = train(config, data, tmp_path / "current").model_dir
    assert (tmp_path / "current").resolve() == second.resolve()
    assert first.exists()  # kept as the rollback version


@pytest.mark.slow
def test_real_base_model_trains_a_few_steps(tmp_path: Path, small_data: Path) -> None:
    from hatespeech.export import MIN_AGREEMENT, export_model_dir

    config = TrainConfig(head_epochs=1, epochs=1, batch_size=16, device="cpu", max_length=32, folds=0)
    test = load_split(small_data, "sampled_test")
    reports: list[dict[str, object]] = []
    result = train(
        config,
        load_split(small_data, "sampled_train"),
        tmp_path / "real",
        after_save=lambda staged: reports.append(export_model_dir(staged, test)),
    )
    assert 5 <= result.metrics["validation"]["n"] <= 9  # about 15% of 48, whole authors at a time
    artifact.verify(result.model_dir)
    fp32 = reports[0]["fp32"]
    assert isinstance(fp32, dict) and fp32["label_agreement"] >= MIN_AGREEMENT
    assert fp32["max_score_diff"] < 1e-4


def test_more_folds_than_texts_of_a_class_is_a_clear_error(small_data: Path) -> None:
    from hatespeech.errors import DataError

    examples = load_split(small_data, "sampled_train").examples  # 24 per class
    few = [e for e in examples if e.label == 1][:10] + [e for e in examples if e.label == 0][:10]
    with pytest.raises(DataError, match="--folds 12 needs at least 12 texts of each class"):
        plan_runs(few, TrainConfig(folds=12, seed=1))


def test_out_of_fold_scores_go_back_to_data_order() -> None:
    from hatespeech.training.data_mix import Run
    from hatespeech.training.recipe import _in_data_order

    runs = [Run("a", [], [], 1, [2, 0]), Run("b", [], [], 2, [1, 3])]
    scores = _in_data_order(runs, [np.array([0.2, 0.4]), np.array([0.8, 0.6])], 4)
    assert scores.tolist() == [0.4, 0.8, 0.2, 0.6]


def test_rdrop_consistency_term_is_zero_for_equal_predictions_and_symmetric() -> None:
    import torch

    from hatespeech.training.step import _symmetric_kl

    first, second = torch.tensor([[2.0, -1.0], [0.5, 0.5]]), torch.tensor([[0.0, 1.0], [1.0, -2.0]])
    assert float(_symmetric_kl(first, first)) == pytest.approx(0.0, abs=1e-7)
    assert float(_symmetric_kl(first, second)) > 0.1
    assert float(_symmetric_kl(first, second)) == pytest.approx(float(_symmetric_kl(second, first)))


def test_precision_choice() -> None:
    import torch

    from hatespeech.training.recipe import use_bf16

    cpu = torch.device("cpu")
    assert use_bf16("bf16", cpu) and not use_bf16("fp32", cpu)
    assert use_bf16("auto", cpu) == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_cross_fit_with_rdrop_in_bf16_trains_and_scores_each_text(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    config = tiny_config.model_copy(update={"epochs": 1, "folds": 2, "rdrop": 1.0, "precision": "bf16"})
    result = train(config, load_split(small_data, "sampled_train"), tmp_path / "m")
    assert result.metrics["precision"] == "bf16"
    assert result.metrics["selected"] == "soup of 2 fold models"
    assert result.metrics["validation"]["n"] == 48
    stage_two = [h for h in result.metrics["history"] if h["stage"].startswith("stage 2 fold")]
    assert len(stage_two) == 2 and all(np.isfinite(h["train_loss"]) for h in stage_two)
    artifact.verify(result.model_dir)


def test_adversarial_step_adds_the_perturbed_loss_gradient_and_restores_the_embeddings(tiny_base: Path) -> None:
    import torch

    from hatespeech.modeling import load_base
    from hatespeech.training.step import Stage

    tokenizer, model = load_base(str(tiny_base))
    inputs = dict(tokenizer(["they are vermin", "a nice day out"], padding=True, return_tensors="pt"))
    batch = TrainBatch(inputs, torch.tensor([1, 0]))
    embeddings = model.get_input_embeddings().weight
    before = embeddings.detach().clone()
    grads = []
    for epsilon in (0.0, 1.0):
        torch.manual_seed(0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        stage = Stage(model, optimizer, 1, 0.0, 0.0, adversarial=epsilon)
        stage.optimizer.zero_grad = lambda set_to_none=True: None  # type: ignore[method-assign]  # keep the grads
        model.zero_grad()
        stage.train_step(batch)
        grads.append(next(p for n, p in model.named_parameters() if "classifier.weight" in n).grad.clone())
    assert torch.equal(embeddings.detach(), before)  # the perturbation is taken back
    assert not torch.allclose(grads[0], grads[1])  # the adversarial pass added its gradient


def test_identity_penalty_keeps_a_group_name_from_deciding_the_score(tiny_base: Path) -> None:
    import torch

    from hatespeech.data import Example
    from hatespeech.modeling import load_base
    from hatespeech.training.batches import tensor_batches
    from hatespeech.training.step import Stage

    torch.manual_seed(0)
    tokenizer, model = load_base(str(tiny_base))
    for module in model.modules():  # no dropout: both passes see the same network
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    # Two sentences that differ only in the group's name, labelled apart: only the name can separate them.
    examples = [Example("a", "Muslims live here.", 1), Example("b", "A nice day out.", 0),
                Example("c", "Hindus live here.", 0)]  # fmt: skip
    (batch,) = tensor_batches(tokenizer, examples, [[0, 1, 2]], 32, torch.device("cpu"), mask_identity=True)
    assert batch.masked_rows is not None and batch.masked_rows.tolist() == [0, 2]  # only the texts naming a group
    assert batch.masked is not None and tokenizer.mask_token_id in batch.masked["input_ids"][0].tolist()

    def name_effect() -> float:
        model.eval()
        with torch.no_grad():
            plain, masked = model(**batch.inputs).logits[[0, 2]], model(**batch.masked).logits
        return float(((plain[:, 1] - plain[:, 0]) - (masked[:, 1] - masked[:, 0])).abs().mean())

    start = {k: v.clone() for k, v in model.state_dict().items()}
    effects = []
    for weight in (0.0, 1.0):
        model.load_state_dict(start)
        stage = Stage(model, torch.optim.AdamW(model.parameters(), lr=3e-3), 40, 0.0, 0.0, identity_weight=weight)
        for _ in range(40):
            stage.train_step(batch)
        effects.append(name_effect())
    assert effects[0] > 0.5  # without the penalty the name decides
    assert effects[1] < effects[0] / 5, effects


def test_epochs_before_the_averaging_window_are_not_validated(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    config = tiny_config.model_copy(update={"epochs": 3, "average_from_epoch": 2, "soup_runs": 1})
    result = train(config, load_split(small_data, "sampled_train"), tmp_path / "m")
    validated = {h["stage"]: "val_accuracy" in h for h in result.metrics["history"]}
    assert validated["stage 2 epoch 1/3"] is False  # before the window: not a candidate
    assert validated["stage 2 epoch 2/3"] and validated["stage 2 epoch 3/3"]
    assert "epoch 1" not in result.metrics["selected"]


@pytest.mark.parametrize(
    "update",
    [
        {"epochs": 3, "soup_runs": 2, "average_from_epoch": 2},  # hold-out: soup, averaging, validated epochs
        {"epochs": 2, "folds": 2, "average_from_epoch": None},  # cross-fit: out-of-fold scoring
        {"epochs": 0, "head_epochs": 2},  # the head alone
    ],
    ids=["hold-out", "cross-fit", "head-only"],
)
def test_progress_file_plans_exactly_the_work_the_run_does(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path, update: dict[str, object]
) -> None:
    from hatespeech.progress import read_progress

    progress = tmp_path / "progress.json"
    train(
        tiny_config.model_copy(update=update),
        load_split(small_data, "sampled_train"),
        tmp_path / "m",
        test_data=load_split(small_data, "sampled_test"),
        progress=progress,
    )
    snapshot = read_progress(progress)
    assert snapshot is not None and snapshot["stage"] == "published"
    done, total = snapshot["work"]  # type: ignore[misc]
    assert total > 0 and done == pytest.approx(total, abs=1e-2)
    assert snapshot["fraction"] == 1.0 and snapshot["eta_s"] == 0
