"""Commands that make and judge a model: ``train``, ``evaluate``, ``calibrate``."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hatespeech.cli.app import (
    TRAIN_DEFAULTS,
    DataOption,
    ModelOption,
    app,
    build_engine,
    console,
    fail,
    load_engine,
    predict_with_progress,
)
from hatespeech.config import TrainConfig, default_model_dir
from hatespeech.data import LABELS, Dataset


@app.command()
def train(
    data: DataOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to publish the model.")] = None,
    base_model: Annotated[
        str, typer.Option(help="Hugging Face id or local path; the default ships with the package.")
    ] = TRAIN_DEFAULTS.base_model,
    epochs: Annotated[
        int, typer.Option(help="Stage 2 (full fine-tuning) epochs; 0 = head only.")
    ] = TRAIN_DEFAULTS.epochs,
    head_epochs: Annotated[int, typer.Option(help="Stage 1 (frozen encoder) epochs.")] = TRAIN_DEFAULTS.head_epochs,
    learning_rate: Annotated[float, typer.Option(help="Stage 2 peak learning rate.")] = TRAIN_DEFAULTS.learning_rate,
    soup_runs: Annotated[
        int,
        typer.Option(
            help="With --folds 0: stage 2 runs from the same head, weight-averaged (model soup); 1 = one run."
        ),
    ] = TRAIN_DEFAULTS.soup_runs,
    folds: Annotated[
        int,
        typer.Option(
            help="Cross-fit: one stage-2 run per fold, validated on its fold, fold models averaged; every text "
            "is trained on. 0 = a hold-out validation split and --soup-runs runs."
        ),
    ] = TRAIN_DEFAULTS.folds,
    rdrop: Annotated[
        float, typer.Option(help="Stage 2 R-Drop weight (two dropout passes per batch, KL between them); 0 = off.")
    ] = TRAIN_DEFAULTS.rdrop,
    adversarial: Annotated[
        float,
        typer.Option(help="Stage 2 adversarial training (FGM): L2 size of the word-embedding perturbation; 0 = off."),
    ] = TRAIN_DEFAULTS.adversarial,
    identity_weight: Annotated[
        float,
        typer.Option(
            help="Stage 2 identity-term regulariser: weight of the squared score change when a text's group names "
            "are masked (Kennedy et al. 2020); 0 = off (docs/training.md)."
        ),
    ] = TRAIN_DEFAULTS.identity_weight,
    precision: Annotated[
        str, typer.Option(help="auto (bfloat16 mixed precision where the CPU/GPU has it), bf16 or fp32.")
    ] = TRAIN_DEFAULTS.precision,
    batch_size: Annotated[int, typer.Option()] = TRAIN_DEFAULTS.batch_size,
    seed: Annotated[int, typer.Option()] = TRAIN_DEFAULTS.seed,
    max_length: Annotated[int | None, typer.Option(help="Token limit [default: from the data].")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    split: Annotated[str, typer.Option(help="Training split of a dataset folder.")] = "sampled_train",
    test_split: Annotated[
        str | None, typer.Option(help="Split evaluated (for the record only) after training.")
    ] = "sampled_test",
    export: Annotated[bool, typer.Option(help="Also write the ONNX graphs (needed by the server).")] = True,
    natural: Annotated[
        bool,
        typer.Option(
            help="Also train on the ordinary noHate sentences of the dataset's all_files/ outside both sampled "
            "splits (when the folder has it); epochs stay class-balanced."
        ),
    ] = True,
    contrast: Annotated[
        bool,
        typer.Option(
            help="Also train on the project's contrast set: hateful and non-hateful frames (explicit dislike, "
            "threats, ...; negation, counter-speech, neutral mentions, ...) over every group (docs/training.md)."
        ),
    ] = True,
    counterfactual: Annotated[
        bool,
        typer.Option(
            help="Also train on group-swapped copies of the sentences that name a group, as many hateful as "
            "ordinary, so that no group's name is a cue by itself (docs/training.md)."
        ),
    ] = True,
    extra_data: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra-data",
            help="More labelled rows: a CSV/JSONL file (text,label[,user_id]), a folder of them, or a dataset "
            "folder. Repeatable; texts of the test split are dropped and counted.",
        ),
    ] = None,
    extra_labels: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-labels",
            help="Keep only the extra data's rows with this label (hate or noHate; repeatable; default both): "
            "e.g. another platform's hate without its ordinary posts (docs/training.md).",
        ),
    ] = None,
    feedback: Annotated[
        list[str] | None,
        typer.Option(
            help="Reviewers' labels: a `hatespeech feedback export` file, or the feedback database's URL "
            "(sqlite:///var/hatespeech.db, postgresql+psycopg://...). Repeatable. Their labels win over the same "
            "text elsewhere; a reviewed text in the test split is an error.",
        ),
    ] = None,
    wise_alpha: Annotated[
        float,
        typer.Option(help="WiSE-FT: share of the fine-tuned weights kept vs the stage-1 start (1 = off)."),
    ] = TRAIN_DEFAULTS.wise_alpha,
    teacher: Annotated[
        Path | None,
        typer.Option(
            help="Knowledge distillation: a trained model dir (e.g. fine-tuned all-mpnet-base-v2) whose P(hate) on "
            "every training text the student also learns from."
        ),
    ] = None,
    teacher_weight: Annotated[
        float, typer.Option(help="Share of the loss on the teacher's scores (the rest on the labels).")
    ] = TRAIN_DEFAULTS.teacher_weight,
    epoch_ratio: Annotated[
        float,
        typer.Option(
            help="noHate texts per hate text in each balanced epoch (loss weighted back to the balanced scale)."
        ),
    ] = TRAIN_DEFAULTS.epoch_ratio,
) -> None:
    """Fine-tune the base model (head first, then all weights) and publish the model dir."""
    from pydantic import ValidationError

    from hatespeech.data import LoadReport, check_trainable, load_split, resolve_data_dir
    from hatespeech.evaluation import metrics_table
    from hatespeech.training import train as run_training
    from hatespeech.training.data_mix import load_training_data

    try:
        config = TrainConfig(
            base_model=base_model, epochs=epochs, head_epochs=head_epochs, learning_rate=learning_rate,
            soup_runs=soup_runs, folds=folds, rdrop=rdrop, adversarial=adversarial, precision=precision,
            identity_weight=identity_weight,
            batch_size=batch_size, seed=seed, max_length=max_length, device=device, wise_alpha=wise_alpha,
            epoch_ratio=epoch_ratio, teacher=str(teacher) if teacher else None, teacher_weight=teacher_weight,
        )  # fmt: skip
    except ValidationError as exc:
        raise fail(f"invalid option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", 2) from exc
    data_path = resolve_data_dir(data)
    test_data = None
    if test_split and data_path.is_dir() and (data_path / test_split).is_dir():
        test_data = load_split(data_path, test_split)
        console.print(f"test (reported, never used for selection): {test_data.report.summary()}")
    train_data = load_training_data(
        data_path,
        split,
        natural=natural,
        contrast=contrast,
        counterfactual=counterfactual,
        extra=extra_data or [],
        extra_labels=extra_labels or LABELS,
        feedback=feedback or [],
        test_texts=test_data.texts if test_data else [],
    )
    console.print(f"train: {train_data.report.summary()}", highlight=False)
    # The data given must train a classifier by itself: the contrast set and the group swaps do not count.
    check_trainable(Dataset([e for e in train_data.examples if not e.contrast], LoadReport(source=str(data_path))))
    target = out or default_model_dir()
    after_save = None
    if export:
        from hatespeech.export import export_model_dir

        # The parity check reads the balanced sample (never the test split: it decides int8); natural text
        # would triple its time and is all of one class.
        check = Dataset([e for e in train_data.examples if not (e.natural or e.contrast)], train_data.report)

        def after_save(staged: Path) -> None:
            export_model_dir(staged, check, console=console)

    result = run_training(config, train_data, target, test_data=test_data, console=console, after_save=after_save)
    console.print(metrics_table(result.metrics["validation"], title=f"Validation, {result.metrics['validation_kind']}"))
    if "natural" in result.metrics:
        natural_fp = result.metrics["natural"]
        console.print(
            f"natural noHate texts flagged (out-of-fold): {natural_fp['flagged']} of {natural_fp['n']} "
            f"= {natural_fp['false_positive_rate']:.1%}",
            highlight=False,
        )
    if "test" in result.metrics:
        console.print(metrics_table(result.metrics["test"], title=f"Test ({test_split})"))
    console.print(
        f"model: {target} -> {result.model_dir} (selected {result.metrics['selected']}, {result.seconds:.0f} s)",
        highlight=False,
    )


@app.command()
def evaluate(
    model: ModelOption = None,
    data: DataOption = None,
    split: Annotated[
        str,
        typer.Option(
            help="Split of a dataset folder; 'natural' = the ordinary sentences of all_files outside both sampled "
            "splits (all noHate: measures false alarms; only fair for a model that did not train on them)."
        ),
    ] = "sampled_test",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="onnx (fp32), onnx-int8, openvino (f32), openvino-bf16, ctranslate2 (f32), ctranslate2-int8 or torch."
        ),
    ] = "onnx",
    report: Annotated[
        Path | None, typer.Option(help="Also write report.html with plots and the worst errors into this folder.")
    ] = None,
) -> None:
    """Accuracy, macro-F1, ROC-AUC, per-class scores and the confusion matrix on a labelled split."""
    import numpy as np

    from hatespeech.data import load_dataset, resolve_data_dir
    from hatespeech.evaluation import compute_metrics, metrics_table, natural_false_alarms

    runner = load_engine(model, engine)
    data_path = resolve_data_dir(data)
    if split == "natural":
        from hatespeech.training.data_mix import load_natural

        natural = load_natural(data_path) if data_path.is_dir() else None
        if natural is None:
            raise fail(f"{data_path} has no all_files/ folder: --split natural needs the upstream layout")
        dataset = natural
    else:
        dataset = load_dataset(data_path, split)
    if not len(dataset):
        raise fail(f"no labelled examples in {dataset.report.source}")
    console.print(f"evaluate: {dataset.report.summary()}", highlight=False)
    predictions = predict_with_progress(runner, dataset.texts)
    metrics = compute_metrics(dataset.labels, [p.score for p in predictions], runner.info.threshold)
    natural_fp = natural_false_alarms(dataset.examples, [p.score for p in predictions], runner.info.threshold)
    if natural_fp is not None:
        metrics["natural"] = natural_fp
    if as_json:
        typer.echo(json.dumps(metrics))
    else:
        Console().print(metrics_table(metrics, title=f"Evaluation on {dataset.report.source}"))
        if natural_fp is not None:
            console.print(
                f"false alarms on natural noHate text: {natural_fp['flagged']} of {natural_fp['n']} "
                f"= {natural_fp['false_positive_rate']:.1%}",
                highlight=False,
            )
    if report is not None:
        from hatespeech.report import Scored, write_report

        scored = Scored(
            dataset.texts, np.asarray(dataset.labels), np.array([p.score for p in predictions]), runner.info.threshold
        )
        with console.status("writing the report"):
            page = write_report(report, scored, f"Evaluation on {dataset.report.source}", str(runner.info.directory))
        console.print(f"report: {page}", highlight=False)


@app.command()
def calibrate(
    model: ModelOption = None,
    data: DataOption = None,
    split: Annotated[str, typer.Option(help="Training split of a dataset folder (the model's training data).")] = (
        "sampled_train"
    ),
    objective: Annotated[
        str, typer.Option(help="f1 (maximum F1), precision or recall (reach --target, best of the other).")
    ] = "f1",
    target: Annotated[float | None, typer.Option(help="Precision or recall to reach, e.g. 0.9.")] = None,
    prior: Annotated[
        float | None, typer.Option(help="Expected share of hate in your traffic, e.g. 0.11 [default: as trained].")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="onnx (fp32), onnx-int8, or torch (hold-out models; cross-fit ones use saved scores).")
    ] = "onnx",
    dry_run: Annotated[bool, typer.Option(help="Print the choice, change nothing.")] = False,
) -> None:
    """Choose the decision threshold on the validation split (and adjust scores to a prior); store it."""
    import dataclasses
    from datetime import datetime

    import numpy as np

    from hatespeech import artifact, calibration
    from hatespeech.data import resolve_data_dir
    from hatespeech.training.data_mix import train_validation_split

    if objective not in ("f1", "precision", "recall"):
        raise fail(f"unknown objective {objective!r}: use f1, precision or recall", 2)
    calibration.validate_prior(prior)
    directory = model or default_model_dir()
    artifact.verify(directory)
    train_config = TrainConfig.load(directory)
    if train_config.folds >= 2:
        # Cross-fit: the model has trained on every text; the fold models' out-of-fold scores stand in for it.
        labels, raw, kind = calibration.stored_validation_scores(directory)
        console.print(f"validation: {len(labels)} {kind} scores saved at training time", highlight=False)
    else:
        runner = build_engine(directory, engine)  # verified above
        runner.info = dataclasses.replace(runner.info, prior_shift=0.0)  # score as trained; the prior comes below
        dataset = _rebuild_training_data(resolve_data_dir(data), split, runner.info.fingerprint)
        _, validation = train_validation_split(dataset.examples, train_config.validation_fraction, train_config.seed)
        labels = [e.label for e in validation]
        console.print(f"validation split: {len(validation)} texts carved from {dataset.report.source}", highlight=False)
        raw = np.array([p.score for p in predict_with_progress(runner, [e.text for e in validation])])
    train_prior = calibration.training_prior(directory)
    shown_prior = prior if prior is not None else train_prior  # judged on the scale the scores are on
    scores = calibration.apply_shift(raw, calibration.prior_shift(prior, train_prior))
    points = calibration.operating_points(labels, scores, calibration.prior_weights(labels, shown_prior))
    chosen = calibration.choose_threshold(points, objective, target)  # type: ignore[arg-type]
    default = min(points, key=lambda p: abs(p.threshold - 0.5))
    shown = prior if prior is not None else train_prior
    goal = "maximum F1" if objective == "f1" else f"{objective} >= {target}"
    _print_operating_points(
        {"at 0.5": default, "chosen": chosen},
        f"Validation ({goal}), hate = {shown:.0%} of texts" + (" (re-weighted to the prior)" if prior else ""),
    )
    if dry_run:
        return
    record = {
        "objective": objective,
        "target": target,
        "prior": prior,
        "training_prior": train_prior,
        "engine": engine,
        "validation_texts": len(labels),
        "chosen": chosen.as_dict(),
        "at_0.5": default.as_dict(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    final = calibration.save_calibration(directory, chosen.threshold, prior, record)
    console.print(
        f"calibrated: {directory} -> {final} (threshold {chosen.threshold:g}, prior {prior or 'as trained'})",
        highlight=False,
    )


def _rebuild_training_data(data_path: Path, split: str, expected: str) -> Dataset:
    """The training data of a model, rebuilt the ways ``train`` builds it, checked by its fingerprint."""
    from hatespeech.data import fingerprint, load_dataset, load_split
    from hatespeech.training.data_mix import load_training_data

    test = load_split(data_path, "sampled_test").texts if (data_path / "sampled_test").is_dir() else []
    candidates: list[Callable[[], Dataset]] = [functools.partial(load_dataset, data_path, split)]
    if data_path.is_dir():
        candidates += [
            functools.partial(load_training_data, data_path, split, natural=natural, contrast=contrast,
                              counterfactual=contrast, test_texts=test)
            for natural in (True, False)
            for contrast in (True, False)
        ]  # fmt: skip
    for build in candidates:
        dataset = build()
        if not expected or fingerprint(dataset.examples) == expected:
            return dataset
    raise fail(
        f"{data_path} is not the data this model was trained on (fingerprint differs; models trained with "
        "--extra-data cannot be rebuilt): the validation split can only be rebuilt from the training data"
    )


def _print_operating_points(points: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, caption="hate is the positive class; per 1k = texts flagged as hate per 1,000")
    for column in ("", "threshold", "precision", "recall", "F1", "accuracy", "FP rate", "per 1k"):
        table.add_column(column, justify="right" if column else "left")
    for name, p in points.items():
        table.add_row(
            name, f"{p.threshold:g}", f"{p.precision:.3f}", f"{p.recall:.3f}", f"{p.f1:.3f}", f"{p.accuracy:.3f}",
            f"{p.false_positive_rate:.1%}", f"{p.flagged_per_1000:.0f}",
        )  # fmt: skip
    Console(width=max(Console().width, 96)).print(table)
