"""The training mix: natural text from all_files, extra rows, de-duplication, balanced epochs, its training."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hatespeech.cli import app
from hatespeech.config import TrainConfig
from hatespeech.data import Dataset, Example, LoadReport, load_split
from hatespeech.errors import DataError
from hatespeech.model_dir import ModelDir
from hatespeech.training import train
from hatespeech.training.data_mix import BalancedEpochs, deduplicate, load_extra, load_natural, load_training_data

from layout import write_upstream_layout

runner = CliRunner()


def test_shared_mix_adds_the_natural_nohate_sentences_and_counts_what_it_skips(shared_data: Path) -> None:
    test = load_split(shared_data, "sampled_test")
    mix = load_training_data(shared_data, test_texts=test.texts)
    natural = [e for e in mix.examples if e.natural]
    assert len(natural) > 3500 and all(e.label == 0 for e in natural)
    assert mix.report.skipped_labels == {"relation": 84, "idk/skip": 17}
    assert sum(mix.labels) > 950  # every hate text of sampled_train but the few repeated in sampled_test
    test_posts = {e.id.split("_")[0] for e in test.examples}
    assert not any(e.id.split("_")[0] in test_posts for e in natural)  # (sampled_train itself shares posts)
    assert all(e.group.startswith("user:") or (e.group.startswith("frame:") and e.contrast) for e in mix.examples)
    assert "skipped labels" in mix.report.summary() and "in test split" in mix.report.summary()
    only_sample = load_training_data(shared_data, natural=False, contrast=False, counterfactual=False)
    assert not any(e.natural for e in only_sample.examples) and len(only_sample) < 1914 + 1


def test_natural_text_leaves_out_both_sampled_splits_and_every_post_of_a_test_sentence(tmp_path: Path) -> None:
    root = write_upstream_layout(
        tmp_path,
        {
            "sampled_train": [("1_1", "train hate", "hate"), ("2_1", "train ok", "noHate")],
            "sampled_test": [("3_1", "test hate", "hate")],
            "all_files": [
                ("1_1", "train hate", "hate"),  # a copy of a sampled_train file (full upstream layout)
                ("3_1", "test hate", "hate"),  # a copy of the test file
                ("3_2", "the next sentence of the test post", "noHate"),
                ("4_1", "ordinary talk", "noHate", "u7"),
                ("4_2", "more ordinary talk", "noHate", "u7"),
                ("5_1", "needs the thread", "relation"),
            ],
        },
    )
    natural = load_natural(root)
    assert natural is not None
    assert [(e.id, e.group, e.natural) for e in natural.examples] == [
        ("4_1", "user:u7", True),
        ("4_2", "user:u7", True),
    ]
    assert natural.report.skipped_labels == {"relation": 1}
    assert load_natural(write_upstream_layout(tmp_path / "no-all-files", {"sampled_train": []})) is None


def test_duplicates_and_test_texts_are_dropped_and_counted() -> None:
    examples = [Example("a", "Same  text", 0), Example("b", "same text", 1), Example("c", "In the TEST", 1)]
    dataset = deduplicate(Dataset(examples, LoadReport(source="x", loaded=3)), test_texts=["in the test"])
    assert [e.id for e in dataset.examples] == ["a"]
    assert (dataset.report.duplicates, dataset.report.in_test_split, dataset.report.loaded) == (1, 1, 1)


def test_extra_data_is_a_file_a_folder_of_files_or_a_dataset_folder(tmp_path: Path, small_data: Path) -> None:
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "a.csv").write_text("text,label,user_id\nthey are vermin,hate,u1\nnice day,noHate,u1\n")
    (tmp_path / "rows" / "b.jsonl").write_text('{"text": "hello there", "label": 0}\n')
    folder = load_extra(tmp_path / "rows")
    assert [e.text for e in folder.examples] == ["they are vermin", "nice day", "hello there"]
    assert [e.group for e in folder.examples][:2] == ["u1", "u1"]
    assert len(load_extra(tmp_path / "rows" / "a.csv")) == 2
    assert len(load_extra(small_data)) == 48  # a dataset folder without all_files: its sampled_train
    with pytest.raises(DataError, match="does not exist"):
        load_extra(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.csv or \.jsonl"):
        load_extra(tmp_path / "empty")


def test_balanced_epochs_use_every_rare_text_and_cycle_through_the_common_ones() -> None:
    hate = [Example(f"h{i}", f"hate {i}", 1) for i in range(3)]
    ok = [Example(f"n{i}", f"ok {i}", 0) for i in range(10)]
    epochs = BalancedEpochs(hate + ok, random.Random(0))
    assert len(epochs) == 6
    drawn: list[str] = []
    for _ in range(4):
        epoch = epochs.next_epoch()
        assert sorted(e.id for e in epoch if e.label == 1) == ["h0", "h1", "h2"]
        assert sum(e.label == 0 for e in epoch) == 3
        drawn += [e.id for e in epoch if e.label == 0]
    assert sorted(drawn[:10]) == sorted(e.id for e in ok)  # every noHate once before any repeats
    balanced = hate + ok[:3]
    assert BalancedEpochs(balanced, random.Random(0)).next_epoch() == balanced  # unchanged


def _mix_layout(tmp_path: Path, shared_data: Path) -> Path:
    """24 hate + 24 noHate sampled sentences and 40 natural noHate ones, users kept."""
    mix = load_training_data(shared_data, contrast=False, counterfactual=False)  # de-duplicated
    sample = [e for e in mix.examples if not e.natural]
    rows = [(e.id, e.text, "hate") for e in sample if e.label == 1][:24]
    rows += [(e.id, e.text, "noHate") for e in sample if e.label == 0][:24]
    natural = [(e.id, e.text, "noHate", e.group.removeprefix("user:")) for e in mix.examples if e.natural][:40]
    return write_upstream_layout(tmp_path / "mix", {"sampled_train": rows, "all_files": rows + natural})


def test_training_on_a_mix_reports_natural_false_alarms_and_stays_on_the_balanced_scale(
    tmp_path: Path, tiny_config: TrainConfig, shared_data: Path
) -> None:
    root = _mix_layout(tmp_path, shared_data)
    data = load_training_data(root, contrast=False, counterfactual=False)
    assert (len(data), sum(e.natural for e in data.examples)) == (88, 40)
    config = tiny_config.model_copy(update={"epochs": 1, "folds": 2})
    result = train(config, data, tmp_path / "m")
    metrics = result.metrics
    assert metrics["validation"]["n"] == 48  # the balanced sample, comparable with published figures
    assert metrics["validation_all"]["n"] == 88
    assert metrics["natural"]["n"] == 40
    saved = json.loads((result.model_dir / "validation_scores.json").read_text())
    scores = [s for s, e in zip(saved["scores"], data.examples, strict=True) if e.natural]
    flagged = sum(s >= 0.5 for s in scores)
    assert metrics["natural"]["flagged"] == flagged
    assert metrics["natural"]["false_positive_rate"] == pytest.approx(flagged / 40)
    stage_two = [h for h in metrics["history"] if h["stage"].startswith("stage 2 fold 1/2")]
    assert stage_two[0]["train_seconds"] >= 0
    record = json.loads((result.model_dir / "data.json").read_text())
    assert record["natural"] == 40 and record["score_prior"] == 0.5
    assert ModelDir(result.model_dir).score_prior == 0.5  # not the mix's 24/88


def test_wise_ft_interpolates_the_final_weights_towards_the_stage_one_start(
    tmp_path: Path, tiny_config: TrainConfig, small_data: Path
) -> None:
    from safetensors.torch import load_file

    data = load_split(small_data, "sampled_train")
    config = tiny_config.model_copy(update={"epochs": 1, "folds": 2})
    tuned = load_file(train(config, data, tmp_path / "a").model_dir / "model.safetensors")
    start = load_file(
        train(config.model_copy(update={"epochs": 0}), data, tmp_path / "b").model_dir / "model.safetensors"
    )
    result = train(config.model_copy(update={"wise_alpha": 0.25}), data, tmp_path / "c")
    mixed = load_file(result.model_dir / "model.safetensors")
    assert result.metrics["selected"].endswith("WiSE-FT alpha 0.25")
    name = "bert.encoder.layer.0.attention.self.query.weight"
    expected = 0.75 * start[name] + 0.25 * tuned[name]
    assert (mixed[name] - expected).abs().max() < 1e-5
    assert (tuned[name] - start[name]).abs().max() > 1e-4  # fine-tuning moved it: the test can tell


def test_train_cli_takes_extra_data_and_the_natural_switch(tiny_base: Path, small_data: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text("text,label\n" + "".join(f"an ordinary line number {i},noHate\n" for i in range(6)))
    out = tmp_path / "models" / "current"
    args = ["train", "--data", str(small_data), "--out", str(out), "--base-model", str(tiny_base), "--no-export"]
    args += ["--epochs", "1", "--batch-size", "8", "--device", "cpu", "--folds", "2", "--extra-data", str(extra)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "data.json").read_text())
    base = load_training_data(small_data, test_texts=load_split(small_data, "sampled_test").texts)
    assert record["examples"] == len(base) + 6
    assert record["per_label"]["noHate"] == len(base) - sum(base.labels) + 6
    assert str(extra) in record["source"] and "contrast set" in record["source"]
    result = runner.invoke(app, [*args, "--no-contrast", "--no-counterfactual"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "data.json").read_text())
    plain = load_training_data(small_data, contrast=False, counterfactual=False)
    assert record["examples"] == len(plain) + 6 and "contrast set" not in record["source"]
    result = runner.invoke(app, [*args[:-2], "--extra-data", str(tmp_path / "nope.csv")])
    assert isinstance(result.exception, DataError) and "does not exist" in str(result.exception)  # run() prints it
    result = runner.invoke(app, [*args[:7], "--wise-alpha", "1.5"])
    assert result.exit_code == 2 and "invalid option --wise-alpha" in result.output
    result = runner.invoke(app, [*args[:7], "--epoch-ratio", "0.5"])
    assert result.exit_code == 2 and "invalid option --epoch-ratio" in result.output


def test_evaluate_natural_split_reports_false_alarms(tiny_model: Path, tmp_path: Path, shared_data: Path) -> None:
    root = _mix_layout(tmp_path, shared_data)
    result = runner.invoke(
        app, ["evaluate", "-m", str(tiny_model), "--data", str(root), "--split", "natural", "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["n"] == 40 and metrics["natural"]["n"] == 40
    assert metrics["natural"]["false_positive_rate"] == pytest.approx(1 - metrics["accuracy"])
    result = runner.invoke(
        app, ["evaluate", "-m", str(tiny_model), "--data", str(tmp_path / "x.csv"), "--split", "natural"]
    )
    assert result.exit_code != 0


def test_epoch_ratio_draws_more_of_the_common_class_and_weights_it_down() -> None:
    hate = [Example(f"h{i}", f"hate {i}", 1) for i in range(3)]
    ok = [Example(f"n{i}", f"ok {i}", 0) for i in range(10)]
    epochs = BalancedEpochs(hate + ok, random.Random(0), ratio=2.0)
    assert len(epochs) == 9 and sum(e.label == 0 for e in epochs.next_epoch()) == 6
    assert epochs.class_weights() == [0.5, 1.0]  # noHate, hate: each class weighs the same per epoch
    capped = BalancedEpochs(hate + ok, random.Random(0), ratio=5.0)
    assert len(capped) == 13 and capped.class_weights() == pytest.approx([0.3, 1.0])  # never more than there are
    assert BalancedEpochs(hate + ok, random.Random(0)).class_weights() is None
    off = BalancedEpochs(hate + ok, random.Random(0), enabled=False)
    assert off.next_epoch() == hate + ok and off.class_weights() is None


def test_class_weights_enter_the_loss(tiny_base: Path) -> None:
    import torch

    from hatespeech.modeling import load_base
    from hatespeech.training.batches import TrainBatch
    from hatespeech.training.step import Stage

    tokenizer, model = load_base(str(tiny_base))
    batch = dict(tokenizer(["they are vermin", "a nice day out"], padding=True, return_tensors="pt"))
    labels = torch.tensor([1, 0])
    train_batch = TrainBatch(batch, labels)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    model.eval()  # no dropout: the two losses differ only by the weights
    with torch.no_grad():
        plain = Stage(model, optimizer, 1, 0.0, 0.0)._loss(batch, train_batch)
        weighted = Stage(model, optimizer, 1, 0.0, 0.0, class_weights=[0.25, 1.0])._loss(batch, train_batch)
        each = torch.nn.functional.cross_entropy(model(**batch).logits, labels, reduction="none")
    assert float(plain) == pytest.approx(float(each.mean()), abs=1e-5)
    assert float(weighted) == pytest.approx(float((each[0] + 0.25 * each[1]) / 1.25), abs=1e-5)
