"""CLI: typer's runner for the normal paths; a real subprocess for errors (one line on stderr, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hatespeech.cli import app
from hatespeech.config import DataRecipe, TrainConfig
from hatespeech.engines.base import read_model_info

from waiting import wait_until

runner = CliRunner()


def hatespeech(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "hatespeech", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_evaluate_json_has_the_documented_keys(tiny_model: Path, small_data: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--model", str(tiny_model), "--data", str(small_data), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"accuracy", "macro_f1", "roc_auc", "per_class", "confusion_matrix", "n"} <= metrics.keys()
    assert metrics["n"] == 16
    assert set(metrics["per_class"]) == {"hate", "noHate"}
    assert sum(map(sum, metrics["confusion_matrix"])) == 16


def test_evaluate_reads_hatexplain_by_split_and_says_what_the_model_learnt(tiny_model: Path, tmp_path: Path) -> None:
    from test_sources import write_hatexplain

    rows = [(f"{i}_gab", "gab", "test" if i % 2 else "val", ("hatespeech", "normal")[i % 4 // 2], f"post {i} 😀")
            for i in range(40)]  # fmt: skip
    path = write_hatexplain(tmp_path / "hatexplain.csv", rows)
    args = ["evaluate", "--model", str(tiny_model), "--data", str(path), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["n"] == 20 and metrics["model"]["normalization"] == "social-v1"  # the test split by default
    assert "stormfront" in metrics["model"]["data_mix"]["shares"] and "text normalisation social-v1" in result.output
    result = runner.invoke(app, [*args, "--split", "val"])
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == 20


def test_evaluate_engines_agree(tiny_model: Path, small_data: Path) -> None:
    outputs = {}
    for engine in ("onnx-fp32", "torch"):
        args = ["evaluate", "-m", str(tiny_model), "--data", str(small_data), "--json", "--engine", engine]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs[engine] = json.loads(result.stdout.strip().splitlines()[-1])
    assert outputs["onnx-fp32"]["confusion_matrix"] == outputs["torch"]["confusion_matrix"]


def test_evaluate_prints_a_table(tiny_model: Path, small_data: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--model", str(tiny_model), "--data", str(small_data)])
    assert result.exit_code == 0
    assert "macro F1" in result.stdout and "ROC-AUC" in result.stdout


def test_predict_texts_prints_one_json_object_per_text(tiny_model: Path) -> None:
    result = runner.invoke(app, ["predict", "--model", str(tiny_model), "first text", "second text"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["text"] for line in lines] == ["first text", "second text"]
    for line in lines:
        assert line["label"] in ("hate", "noHate")
        assert line["label"] == ("hate" if line["score"] >= 0.5 else "noHate")


def test_predict_explain_gives_the_api_spans_for_texts_and_files(tiny_model: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hatespeech.api.app import create_app
    from hatespeech.settings import Settings

    result = runner.invoke(app, ["predict", "--model", str(tiny_model), "--explain", "some words here, ok"])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert all(s["text"] in ["some", "words", "here,", "ok"] for s in line["explanation"])  # those above the floor
    with TestClient(create_app(Settings(model_dir=tiny_model))) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, what="ready")
        served = client.post("/predict", json={"text": "some words here, ok", "explain": True}).json()
    assert [(s["start"], s["end"]) for s in served["explanation"]] == [
        (s["start"], s["end"]) for s in line["explanation"]
    ]
    for ours, theirs in zip(line["explanation"], served["explanation"], strict=True):
        assert ours["contribution"] == pytest.approx(theirs["contribution"], abs=1e-5)
    texts = tmp_path / "in.txt"
    texts.write_text("one two\nthree\n")
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", "-m", str(tiny_model), "--explain", "-i", str(texts), "-o", str(output)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in output.read_text().splitlines()]
    listed = [[s["text"] for s in r["explanation"]] for r in rows]  # the words above the floor, of each line
    assert len(listed) == 2 and set(listed[0]) <= {"one", "two"} and set(listed[1]) <= {"three"}


@pytest.mark.parametrize(
    ("name", "content", "bad_line"),
    [
        ("in.txt", "one\ntwo\n\nfour\n", 3),
        ("in.csv", 'id,text\n1,one\n2,two\n3,""\n4,four\n', 4),  # file line numbers, header included
        ("in.jsonl", '{"text": "one"}\n{"text": "two"}\n{oops\n{"text": "four"}\n', 3),
    ],
)
def test_predict_file_keeps_one_line_per_input_in_order(
    tiny_model: Path, tmp_path: Path, name: str, content: str, bad_line: int
) -> None:
    source, target = tmp_path / name, tmp_path / "out.jsonl"
    source.write_text(content)
    args = [
        "predict",
        "-m",
        str(tiny_model),
        "--input",
        str(source),
        "--output",
        str(target),
        "--batch-size",
        "2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line.get("text") for line in lines] == ["one", "two", lines[2].get("text"), "four"]
    assert "error" in lines[2] and lines[2]["line"] == bad_line
    assert all("score" in line for i, line in enumerate(lines) if i != 2)
    assert "malformed lines" in result.output  # the summary table: predicted, hate, noHate, malformed
    rows = [line for line in result.output.splitlines() if re.fullmatch(r"[│|\s\d]+", line) and line.strip("│| ")]
    predicted, hate, no_hate, malformed = (int(cell) for cell in re.findall(r"\d+", rows[-1]))
    assert (predicted, hate + no_hate, malformed) == (3, 3, 1)


def test_predict_strict_stops_at_the_first_malformed_line(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one\n\nthree\n")
    result = hatespeech("predict", "-m", str(tiny_model), "--input", str(source), "--strict")
    assert result.returncode == 1
    assert "in.txt:2" in result.stderr and "Traceback" not in result.stderr


def test_predict_matches_batch_of_one(tiny_model: Path) -> None:
    texts = ["short", "a somewhat longer sentence about nothing in particular", "x " * 600]
    fp32 = ["predict", "-m", str(tiny_model), "--engine", "onnx-fp32"]  # int8 scales activations per batch
    together = runner.invoke(app, [*fp32, *texts]).stdout.splitlines()
    alone = [runner.invoke(app, [*fp32, t]).stdout.strip() for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert json.loads(a)["score"] == pytest.approx(json.loads(b)["score"], abs=1e-5)
    assert json.loads(together[2])["parts"] > 1 and json.loads(together[2])["truncated"] is False


def test_missing_model_dir_is_one_clear_line(tmp_path: Path) -> None:
    result = hatespeech("predict", "--model", str(tmp_path / "nope"), "hello")
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_data_path_is_one_clear_line(tiny_model: Path, tmp_path: Path) -> None:
    result = hatespeech("evaluate", "--model", str(tiny_model), "--data", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_unreadable_input_file_is_one_clear_line(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.txt"
    source.write_bytes(b"fine\n\xff\xfe\xfa not utf-8\n")
    result = hatespeech("predict", "-m", str(tiny_model), "--input", str(source))
    assert result.returncode == 1
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_missing_input_file_is_one_clear_line(tiny_model: Path, tmp_path: Path) -> None:
    result = hatespeech("predict", "-m", str(tiny_model), "--input", str(tmp_path / "none.txt"))
    assert result.returncode == 1 and "not found" in result.stderr


def test_train_cli_trains_and_publishes(
    tiny_base: Path, small_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hatespeech.config.QUICK_PARITY_TEXTS", 20)  # the small data has 48 balanced texts
    out = tmp_path / "models" / "current"
    args = ["train", "--data", str(small_data), "--out", str(out), "--base-model", str(tiny_base)]
    args += ["--quick", "--epochs", "3", "--batch-size", "8", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "model.onnx").is_file() and (out / "manifest.json").is_file()
    saved = TrainConfig.load(out)  # the data recipe is saved with the model: calibrate rebuilds the same mix
    # No public corpus lies beside this copy of the dataset: each is named, and the recipe records none
    assert "hatexplain: no " in result.output and "trained without it" in result.output
    assert saved.batch_size == 8 and saved.data == DataRecipe(corpora=[])
    assert (out / "README.md").read_text().startswith("---\nlicense: other\n")  # the model card
    # --quick: one fine-tuning epoch on one hold-out split, whatever else was asked; the model says it is quick
    assert (saved.quick, saved.epochs, saved.folds, saved.soup_runs) == (True, 1, 0, 1)
    assert read_model_info(out).quick
    assert json.loads((out / "metrics.json").read_text())["selected"] == "stage 2 epoch 1"
    assert json.loads((out / "export.json").read_text())["check_texts"] == 20  # the quick model checks a sample


def _commands() -> dict[str, Any]:
    """The click commands typer builds (typer carries its own click, so duck-typed)."""
    commands: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    return commands


def test_every_training_argument_is_a_train_option_with_its_description() -> None:
    options = {p.name: p for p in _commands()["train"].params if p.param_type_name == "option"}
    fields = {**TrainConfig.model_fields, **DataRecipe.model_fields}
    del fields["data"]
    missing = sorted(set(fields) - set(options))
    assert not missing, f"TrainConfig fields without a train option: {missing}"
    for name, field in fields.items():
        assert options[name].help == field.description, name
    flags = {flag for option in options.values() for flag in option.opts + option.secondary_opts}
    assert {"--no-natural", "--extra-data", "--head-learning-rate", "--no-balanced-epochs", "--threshold"} <= flags


def test_no_help_text_is_empty_or_lost_to_markup() -> None:
    """Rich reads [...] in a help text as markup and drops it: a "[default: x]" once left a stray " ."."""
    for name, command in _commands().items():
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert param.help, f"{name} {param.opts[0]} has no help"
                lost = re.search(r"\[[a-z#/@][^\[]*?\]|\s\.(\s|$)", param.help)  # rich's markup tags
                assert not lost, f"{name} {param.opts[0]}: {param.help!r}"


def test_train_with_one_class_data_fails_clearly(tiny_base: Path, tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("text,label\n" + "".join(f"text {i},hate\n" for i in range(20)))
    result = hatespeech("train", "--data", str(data), "--out", str(tmp_path / "m"), "--base-model", str(tiny_base))
    assert result.returncode == 1
    assert "both classes" in result.stderr and "Traceback" not in result.stderr


def test_train_rejects_invalid_options(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--batch-size", "0", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "invalid option --batch-size" in result.output and "greater than or equal to 1" in result.output
    result = runner.invoke(app, ["train", "--precision", "fp8", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "--precision" in result.output and "fp8" in result.output and "bf16" in result.output
    result = runner.invoke(app, ["train", "--extra-labels", "offensive", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "--extra-labels" in result.output
    result = runner.invoke(app, ["train", "--rdrop", "-1", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "rdrop" in result.output
    result = runner.invoke(app, ["train", "--adversarial", "-1", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "adversarial" in result.output


def test_export_republishes_with_a_parity_summary(model_copy: Path, small_data: Path) -> None:
    before = model_copy.resolve()
    result = runner.invoke(app, ["export", "-m", str(model_copy), "--data", str(small_data)])
    assert result.exit_code == 0, result.output
    assert "ONNX export: parity with PyTorch on 48 texts" in result.output  # sampled_train, not the test split
    report = json.loads((model_copy / "export.json").read_text())
    assert report["check_texts"] == 48 and report["check_source"].endswith("sampled_train")
    assert "label agreement" in result.output
    assert model_copy.resolve() != before


def test_ray_options_are_checked_before_anything_starts(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MODEL_DIR", "HOST", "PORT", "WORKERS"):  # `serve` exports its flags: restore them after
        monkeypatch.setenv(f"HATESPEECH_{name}", os.environ.get(f"HATESPEECH_{name}", ""))
        if not os.environ[f"HATESPEECH_{name}"]:
            monkeypatch.delenv(f"HATESPEECH_{name}")
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    no_output = runner.invoke(app, ["predict", "-m", str(tiny_model), "--runtime", "ray", "--input", str(source)])
    assert no_output.exit_code == 2 and "--output" in no_output.output
    unknown = runner.invoke(app, ["serve", "-m", str(tiny_model), "--engine", "kubernetes"])
    assert unknown.exit_code == 2 and "unknown engine" in unknown.output
    bad_bounds = runner.invoke(app, ["serve", "-m", str(tiny_model), "--runtime", "ray", "--autoscale", "4,2"])
    assert bad_bounds.exit_code == 2 and "MIN <= MAX" in bad_bounds.output


def test_autoscale_bounds_parse() -> None:
    from hatespeech.scale.serve import parse_autoscale

    assert parse_autoscale("1,4") == (1, 4)
    assert parse_autoscale("0,1") == (0, 1)
    for bad in ("4", "a,b", "3,2", "0,0"):
        with pytest.raises(ValueError, match="autoscale"):
            parse_autoscale(bad)
