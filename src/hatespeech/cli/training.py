"""Commands that make and judge a model: ``train``, ``evaluate``, ``calibrate``."""

from __future__ import annotations

import json
import random
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hatespeech.cli.app import (
    ENGINE_HELP,
    DataOption,
    EngineOption,
    ModelOption,
    app,
    build_engine,
    config_options,
    console,
    fail,
    open_checked,
    predict_with_progress,
)
from hatespeech.config import TrainConfig, default_model_dir
from hatespeech.data import Dataset
from hatespeech.engines.registry import DEFAULT_ENGINE

PARITY_CORPUS_TEXTS = 300
"""The export's parity check takes at most this many of the corpora's non-ASCII texts (emoji, entities)."""


@app.command()
@config_options(TrainConfig)
def train(
    config: TrainConfig,
    data: DataOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to publish the model.")] = None,
    export: Annotated[bool, typer.Option(help="Also write the ONNX graphs (needed by the server).")] = True,
    like: Annotated[
        Path | None,
        typer.Option(
            help="Train the full recipe with the training arguments of this model dir (a quick one's, say): its base "
            "model, data mix and settings, the quick ones dropped; the other training flags are not used."
        ),
    ] = None,
    progress_file: Annotated[
        Path | None,
        typer.Option(
            help="Keep this file up to date with the run's progress as JSON: stage, fraction of the work done, "
            "seconds so far and an estimate of the seconds left (the background training's server reads it)."
        ),
    ] = None,
    share_cpu: Annotated[
        bool,
        typer.Option(
            help="Train on the cores other processes leave free (one thread while a server beside it is busy, all "
            "while the machine is idle): the background training's setting."
        ),
    ] = False,
) -> None:
    """Fine-tune the base model (head first, then all weights) and publish the model dir."""
    from hatespeech.config import QUICK_PARITY_TEXTS, QUICK_RECIPE
    from hatespeech.data import LoadReport, check_trainable, load_split, resolve_data_dir
    from hatespeech.evaluation import metrics_table
    from hatespeech.model_dir import ModelDir
    from hatespeech.training import train as run_training
    from hatespeech.training.data_mix import load_recipe

    if like is not None:
        full = {name: TrainConfig.model_fields[name].default for name in QUICK_RECIPE}
        config = ModelDir(like).training_args().model_copy(update={**full, "quick": False})

    if progress_file is not None and not progress_file.parent.is_dir():
        raise fail(f"--progress-file: no folder {progress_file.parent}", 2)
    data_path = resolve_data_dir(data)
    test_data = None
    test_split = config.data.test_split
    if test_split and data_path.is_dir() and (data_path / test_split).is_dir():
        test_data = load_split(data_path, test_split)
        console.print(f"test (reported, never used for selection): {test_data.report.summary()}")
    from hatespeech.training.sources import available_corpora, report_sets

    train_data = load_recipe(
        data_path, config.data, test_texts=test_data.texts if test_data else [], warn=lambda m: console.print(m)
    )
    if data_path.is_dir():  # record the corpora that were found, not those asked for
        found = config.data.model_copy(update={"corpora": available_corpora(data_path, config.data)})
        config = config.model_copy(update={"data": found})
    console.print(f"train: {train_data.report.summary()}", highlight=False)
    # The data given must train a classifier by itself: the contrast set and the group swaps do not count.
    check_trainable(Dataset([e for e in train_data.examples if not e.contrast], LoadReport(source=str(data_path))))
    target = out or default_model_dir()
    after_save = None
    if export:
        from hatespeech.export import export_model_dir

        # The parity check reads the balanced sample (never the test split: it decides int8); natural text
        # would triple its time and is all of one class.
        # With the corpora: their texts with emoji or other non-ASCII (the normalisation's work) are checked too.
        check = Dataset(
            [e for e in train_data.examples if not (e.natural or e.contrast) and e.source == "stormfront"]
            + [e for e in train_data.examples if e.source in ("hatexplain", "davidson") and not e.text.isascii()][
                :PARITY_CORPUS_TEXTS
            ],
            train_data.report,
        )
        if config.quick and len(check) > QUICK_PARITY_TEXTS:  # a sample: the full model checks them all
            check = Dataset(random.Random(config.seed).sample(check.examples, QUICK_PARITY_TEXTS), check.report)

        def after_save(staged: Path) -> None:  # the quick model's minutes count: the server measures it instead
            export_model_dir(staged, check, console=console, full=not config.quick)

    # Scored after training for the record: the other platforms' test sets and the behaviour suite (the quick
    # model, whose minutes count towards the first answer, scores the behaviour suite alone).
    reports = report_sets(data_path) if data_path.is_dir() else {}
    if config.quick:
        reports = {name: data for name, data in reports.items() if name == "behaviour"}
    result = run_training(
        config, train_data, target, test_data=test_data, console=console, after_save=after_save,
        progress=progress_file, share_cpu=share_cpu, reports=reports,
    )  # fmt: skip
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
            "splits (all noHate: measures false alarms; only fair for a model that did not train on them). With "
            "--data hatexplain.csv: train, val or test (default test); with Davidson's labeled_data.csv: its held-out "
            "fifth."
        ),
    ] = "sampled_test",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    engine: EngineOption = DEFAULT_ENGINE.value,
    report: Annotated[
        Path | None, typer.Option(help="Also write report.html with plots and the worst errors into this folder.")
    ] = None,
) -> None:
    """Accuracy, macro-F1, ROC-AUC, per-class scores and the confusion matrix on a labelled split."""
    import numpy as np

    from hatespeech.corpora import is_davidson, is_hatexplain, load_davidson, load_hatexplain
    from hatespeech.data import load_dataset, resolve_data_dir
    from hatespeech.evaluation import compute_metrics, metrics_table, natural_false_alarms

    runner = open_checked(model, engine)
    data_path = resolve_data_dir(data)
    if split == "natural":
        from hatespeech.training.data_mix import load_natural

        natural = load_natural(data_path) if data_path.is_dir() else None
        if natural is None:
            raise fail(f"{data_path} has no all_files/ folder: --split natural needs the upstream layout")
        dataset = natural
    elif is_hatexplain(data_path):
        dataset = load_hatexplain(data_path, ("test" if split == "sampled_test" else split,))
    elif is_davidson(data_path):
        dataset = load_davidson(data_path, "dev")
    else:
        dataset = load_dataset(data_path, split)
    info = runner.info
    mix = ", ".join(f"{name} {share:g}" for name, share in info.data_mix["shares"].items()) or "the forum alone"
    console.print(f"model: trained on {mix}; text normalisation {info.normalization}", highlight=False)
    if not len(dataset):
        raise fail(f"no labelled examples in {dataset.report.source}")
    console.print(f"evaluate: {dataset.report.summary()}", highlight=False)
    predictions = predict_with_progress(runner, dataset.texts)
    metrics = compute_metrics(dataset.labels, [p.score for p in predictions], runner.info.threshold)
    natural_fp = natural_false_alarms(dataset.examples, [p.score for p in predictions], runner.info.threshold)
    if natural_fp is not None:
        metrics["natural"] = natural_fp
    if as_json:
        typer.echo(json.dumps(metrics | {"model": {"data_mix": info.data_mix, "normalization": info.normalization}}))
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
    objective: Annotated[
        str, typer.Option(help="f1 (maximum F1), precision or recall (reach --target, best of the other).")
    ] = "f1",
    target: Annotated[float | None, typer.Option(help="Precision or recall to reach, e.g. 0.9.")] = None,
    prior: Annotated[
        float | None, typer.Option(help="Expected share of hate in your traffic, e.g. 0.11 (default: as trained).")
    ] = None,
    engine: Annotated[
        str, typer.Option(help=f"{ENGINE_HELP} Hold-out models are scored again; cross-fit ones use saved scores.")
    ] = DEFAULT_ENGINE.value,
    dry_run: Annotated[bool, typer.Option(help="Print the choice, change nothing.")] = False,
) -> None:
    """Choose the decision threshold on the validation split (and adjust scores to a prior); store it."""
    import dataclasses
    from datetime import datetime

    import numpy as np

    from hatespeech import artifact, calibration
    from hatespeech.data import resolve_data_dir
    from hatespeech.model_dir import VALIDATION_SCORES_FILE, ModelDir
    from hatespeech.training.data_mix import train_validation_split
    from hatespeech.training.sources import holdout_split

    if objective not in ("f1", "precision", "recall"):
        raise fail(f"unknown objective {objective!r}: use f1, precision or recall", 2)
    calibration.validate_prior(prior)
    directory = model or default_model_dir()
    artifact.verify(directory)
    train_config = ModelDir(directory).training_args()
    if train_config.folds >= 2:
        # Cross-fit: the model has trained on every text; the fold models' out-of-fold scores stand in for it.
        labels, raw, kind = calibration.stored_validation_scores(directory)
        console.print(f"validation: {len(labels)} {kind} scores saved at training time", highlight=False)
    else:
        runner = build_engine(directory, engine)  # verified above
        runner.info = dataclasses.replace(runner.info, prior_shift=0.0)  # score as trained; the prior comes below
        dataset = _rebuild_training_data(resolve_data_dir(data), train_config, runner.info.fingerprint)
        # 0.7 on (its saved scores name their sources): the grouped hold-out; before, a stratified one.
        grouped = "sources" in ModelDir(directory).read(VALIDATION_SCORES_FILE)
        split = holdout_split if grouped else train_validation_split
        _, validation = split(dataset.examples, train_config.validation_fraction, train_config.seed)
        labels = [e.label for e in validation]
        console.print(f"validation split: {len(validation)} texts carved from {dataset.report.source}", highlight=False)
        raw = np.array([p.score for p in predict_with_progress(runner, [e.text for e in validation])])
    train_prior = ModelDir(directory).score_prior
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


def _rebuild_training_data(data_path: Path, config: TrainConfig, expected: str) -> Dataset:
    """A model's training data, rebuilt from the recipe saved with it, checked by its fingerprint."""
    from hatespeech.data import fingerprint, load_split
    from hatespeech.training.data_mix import load_recipe

    test_split = config.data.test_split
    has_test = test_split and data_path.is_dir() and (data_path / test_split).is_dir()
    test = load_split(data_path, test_split).texts if test_split and has_test else []
    dataset = load_recipe(data_path, config.data, test_texts=test)
    if expected and fingerprint(dataset.examples) != expected:
        raise fail(
            f"{data_path} with the model's recipe ({config.data.model_dump_json()}) is not the data this model was "
            "trained on (fingerprint differs): the validation split can only be rebuilt from the training data"
        )
    return dataset


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
