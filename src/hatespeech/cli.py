"""Command line: ``hatespeech train | evaluate | calibrate | predict | export | serve``.

Heavy libraries (torch, transformers, onnxruntime) are imported inside the commands that need them, so
``--help`` is instant. Expected failures print one ``error: ...`` line on stderr and exit non-zero.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console

from hatespeech import __version__
from hatespeech.config import TrainConfig, default_model_dir
from hatespeech.data import Dataset
from hatespeech.engine import is_valid_unicode
from hatespeech.errors import HateSpeechError

app = typer.Typer(
    name="hatespeech",
    help="Detect hate speech with a fine-tuned BERT-family model: train, evaluate, predict, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
_DEFAULTS = TrainConfig()
WINDOW_BATCHES = 8  # predict --input reads this many batches ahead, then groups them by length

ModelOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="Model dir [default: $HATESPEECH_MODEL_DIR or models/current]."),
]
DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Dataset folder (upstream layout) or a CSV/JSONL file with text,label "
        "[default: $HATESPEECH_DATA_DIR, ./data/hate-speech-dataset, ../shared/data/hate-speech-dataset].",
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Hate-speech detection with a fine-tuned BERT-family model."""


def run() -> None:
    """Console-script entry point: domain errors become one clean line and exit code 1."""
    try:
        app()
    except HateSpeechError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


@app.command()
def train(
    data: DataOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to publish the model.")] = None,
    base_model: Annotated[
        str, typer.Option(help="Hugging Face id or local path; the default ships with the package.")
    ] = _DEFAULTS.base_model,
    epochs: Annotated[int, typer.Option(help="Stage 2 (full fine-tuning) epochs; 0 = head only.")] = _DEFAULTS.epochs,
    head_epochs: Annotated[int, typer.Option(help="Stage 1 (frozen encoder) epochs.")] = _DEFAULTS.head_epochs,
    learning_rate: Annotated[float, typer.Option(help="Stage 2 peak learning rate.")] = _DEFAULTS.learning_rate,
    soup_runs: Annotated[
        int,
        typer.Option(
            help="With --folds 0: stage 2 runs from the same head, weight-averaged (model soup); 1 = one run."
        ),
    ] = _DEFAULTS.soup_runs,
    folds: Annotated[
        int,
        typer.Option(
            help="Cross-fit: one stage-2 run per fold, validated on its fold, fold models averaged; every text "
            "is trained on. 0 = a hold-out validation split and --soup-runs runs."
        ),
    ] = _DEFAULTS.folds,
    rdrop: Annotated[
        float, typer.Option(help="Stage 2 R-Drop weight (two dropout passes per batch, KL between them); 0 = off.")
    ] = _DEFAULTS.rdrop,
    adversarial: Annotated[
        float,
        typer.Option(help="Stage 2 adversarial training (FGM): L2 size of the word-embedding perturbation; 0 = off."),
    ] = _DEFAULTS.adversarial,
    precision: Annotated[
        str, typer.Option(help="auto (bfloat16 mixed precision where the CPU/GPU has it), bf16 or fp32.")
    ] = _DEFAULTS.precision,
    batch_size: Annotated[int, typer.Option()] = _DEFAULTS.batch_size,
    seed: Annotated[int, typer.Option()] = _DEFAULTS.seed,
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
    extra_data: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra-data",
            help="More labelled rows: a CSV/JSONL file (text,label[,user_id]), a folder of them, or a dataset "
            "folder. Repeatable; texts of the test split are dropped and counted.",
        ),
    ] = None,
    wise_alpha: Annotated[
        float,
        typer.Option(help="WiSE-FT: share of the fine-tuned weights kept vs the stage-1 start (1 = off)."),
    ] = _DEFAULTS.wise_alpha,
    epoch_ratio: Annotated[
        float,
        typer.Option(
            help="noHate texts per hate text in each balanced epoch (loss weighted back to the balanced scale)."
        ),
    ] = _DEFAULTS.epoch_ratio,
) -> None:
    """Fine-tune the base model (head first, then all weights) and publish the model dir."""
    from pydantic import ValidationError

    from hatespeech.data import check_trainable, load_split, resolve_data_dir
    from hatespeech.evaluation import metrics_table
    from hatespeech.training import train as run_training
    from hatespeech.training.data_mix import load_training_data

    try:
        config = TrainConfig(
            base_model=base_model, epochs=epochs, head_epochs=head_epochs, learning_rate=learning_rate,
            soup_runs=soup_runs, folds=folds, rdrop=rdrop, adversarial=adversarial, precision=precision,
            batch_size=batch_size, seed=seed, max_length=max_length, device=device, wise_alpha=wise_alpha,
            epoch_ratio=epoch_ratio,
        )  # fmt: skip
    except ValidationError as exc:
        raise _fail(f"invalid option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", 2) from exc
    data_path = resolve_data_dir(data)
    test_data = None
    if test_split and data_path.is_dir() and (data_path / test_split).is_dir():
        test_data = load_split(data_path, test_split)
        console.print(f"test (reported, never used for selection): {test_data.report.summary()}")
    train_data = load_training_data(
        data_path, split, natural=natural, extra=extra_data or [], test_texts=test_data.texts if test_data else []
    )
    console.print(f"train: {train_data.report.summary()}", highlight=False)
    check_trainable(train_data)
    target = out or default_model_dir()
    after_save = None
    if export:
        from hatespeech.export import export_model_dir

        # The parity check reads the balanced sample (never the test split: it decides int8); natural text
        # would triple its time and is all of one class.
        check = Dataset([e for e in train_data.examples if not e.natural], train_data.report)

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
    engine: Annotated[str, typer.Option(help="onnx (fp32), onnx-int8, or torch.")] = "onnx",
    report: Annotated[
        Path | None, typer.Option(help="Also write report.html with plots and the worst errors into this folder.")
    ] = None,
) -> None:
    """Accuracy, macro-F1, ROC-AUC, per-class scores and the confusion matrix on a labelled split."""
    import numpy as np

    from hatespeech.data import load_dataset, resolve_data_dir
    from hatespeech.evaluation import compute_metrics, metrics_table, natural_false_alarms

    runner = _load_engine(model, engine)
    data_path = resolve_data_dir(data)
    if split == "natural":
        from hatespeech.training.data_mix import load_natural

        natural = load_natural(data_path) if data_path.is_dir() else None
        if natural is None:
            raise _fail(f"{data_path} has no all_files/ folder: --split natural needs the upstream layout")
        dataset = natural
    else:
        dataset = load_dataset(data_path, split)
    if not len(dataset):
        raise _fail(f"no labelled examples in {dataset.report.source}")
    console.print(f"evaluate: {dataset.report.summary()}", highlight=False)
    predictions = _predict_with_progress(runner, dataset.texts)
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
    from hatespeech.data import resolve_data_dir, train_validation_split

    if objective not in ("f1", "precision", "recall"):
        raise _fail(f"unknown objective {objective!r}: use f1, precision or recall", 2)
    calibration.validate_prior(prior)
    directory = model or default_model_dir()
    artifact.verify(directory)
    train_config = TrainConfig.load(directory)
    if train_config.folds >= 2:
        # Cross-fit: the model has trained on every text; the fold models' out-of-fold scores stand in for it.
        labels, raw, kind = calibration.stored_validation_scores(directory)
        console.print(f"validation: {len(labels)} {kind} scores saved at training time", highlight=False)
    else:
        runner = _build_engine(directory, engine)  # verified above
        runner.info = dataclasses.replace(runner.info, prior_shift=0.0)  # score as trained; the prior comes below
        dataset = _rebuild_training_data(resolve_data_dir(data), split, runner.info.fingerprint)
        _, validation = train_validation_split(dataset.examples, train_config.validation_fraction, train_config.seed)
        labels = [e.label for e in validation]
        console.print(f"validation split: {len(validation)} texts carved from {dataset.report.source}", highlight=False)
        raw = np.array([p.score for p in _predict_with_progress(runner, [e.text for e in validation])])
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
            functools.partial(load_training_data, data_path, split, natural=natural, test_texts=test)
            for natural in (True, False)
        ]
    for build in candidates:
        dataset = build()
        if not expected or fingerprint(dataset.examples) == expected:
            return dataset
    raise _fail(
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


@app.command()
def predict(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    model: ModelOption = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", "-i", help=".txt (a text per line), .csv or .jsonl (a 'text' field)."),
    ] = None,
    output_path: Annotated[Path | None, typer.Option("--output", "-o", help="JSONL output [default: stdout].")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 64,
    strict: Annotated[bool, typer.Option(help="Stop at the first malformed input line.")] = False,
    engine: Annotated[
        str, typer.Option(help="onnx (fp32), onnx-int8, torch, or ray (Ray Data over --input, ONNX fp32).")
    ] = "onnx",
    workers: Annotated[int, typer.Option(min=1, help="Ray: scoring actors (one thread each).")] = 2,
    address: Annotated[
        str | None, typer.Option(help="Ray: cluster address (auto or HOST:PORT) [default: start a local Ray].")
    ] = None,
) -> None:
    """Classify texts; each output line is {"text", "label", "score"} with score = P(hate)."""
    if not texts and input_path is None:
        raise _fail("give texts as arguments or --input FILE", 2)
    if texts and input_path is not None:
        raise _fail("give texts as arguments or --input FILE, not both", 2)
    if texts and not all(map(is_valid_unicode, texts)):
        raise _fail("a text argument is not valid UTF-8", 2)
    if engine == "ray":
        _predict_on_ray(model, input_path, output_path, workers, address, batch_size)
        return
    if input_path is not None and not input_path.is_file():
        raise _fail(f"input file {input_path} not found")
    runner = _load_engine(model, engine)
    if texts:
        for text, prediction in zip(texts, runner.predict(texts), strict=True):
            typer.echo(json.dumps({"text": text, **prediction.as_dict()}, ensure_ascii=False))
        return
    assert input_path is not None
    out: TextIO = output_path.open("w", encoding="utf-8") if output_path else sys.stdout
    try:
        counts = _predict_file(runner, input_path, out, batch_size, strict)
    finally:
        if output_path:
            out.close()
    from rich.table import Table

    summary = Table(title=f"predict {input_path.name}" + (f" -> {output_path}" if output_path else ""))
    for column in ("predicted", "hate", "noHate", "malformed lines"):
        summary.add_column(column, justify="right")
    summary.add_row(*(str(counts[k]) for k in ("predicted", "hate", "noHate", "malformed")))
    console.print(summary)


def _predict_on_ray(
    model: Path | None, input_path: Path | None, output_path: Path | None, workers: int, address: str | None,
    batch_size: int,
) -> None:  # fmt: skip
    if input_path is None or output_path is None:
        raise _fail("--engine ray scores files: give --input PATH (file, folder or glob) and --output FILE", 2)
    try:
        from hatespeech.scale.batch import score_files
    except ImportError as exc:
        raise _fail(f"--engine ray needs Ray: pip install '.[ray]' ({exc})") from exc
    from rich.table import Table

    with console.status(f"scoring {input_path} on Ray with {workers} workers"):
        result = score_files(
            str(input_path), output_path, model or default_model_dir(), workers=workers, batch_size=batch_size,
            address=address,
        )  # fmt: skip
    summary = Table(title=f"predict {input_path} -> {output_path} (Ray Data, {workers} workers)")
    for column in ("files", "predicted", "hate", "noHate", "malformed"):
        summary.add_column(column, justify="right")
    summary.add_row(*map(str, (result.files, result.predicted, result.hate, result.predicted - result.hate,
                               result.malformed)))  # fmt: skip
    console.print(summary)


def _load_engine(model: Path | None, kind: str) -> Any:
    from hatespeech import artifact

    directory = model or default_model_dir()
    artifact.verify(directory)
    return _build_engine(directory, kind)


def _build_engine(directory: Path, kind: str) -> Any:
    """The engine for a model dir that has been verified already."""
    if kind == "torch":
        from hatespeech.engine import TorchEngine

        return TorchEngine(directory)
    if kind in ("onnx", "onnx-int8"):
        from hatespeech.onnx_engine import OnnxEngine

        return OnnxEngine(directory, quantized=kind == "onnx-int8")
    raise _fail(f"unknown engine {kind!r}: use onnx, onnx-int8 or torch", 2)


def _predict_with_progress(runner: Any, texts: list[str], batch_size: int = 64) -> list[Any]:
    from rich.progress import Progress

    from hatespeech.engine import predict_in_batches

    results = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("predicting", total=len(texts))
        step = batch_size * 8
        for start in range(0, len(texts), step):
            results.extend(predict_in_batches(runner, texts[start : start + step], batch_size))
            progress.advance(task, min(step, len(texts) - start))
    return results


def _predict_file(runner: Any, path: Path, out: TextIO, batch_size: int, strict: bool) -> dict[str, int]:
    """Stream ``path`` through the engine; write one JSON line per input line, in order."""
    from rich.progress import Progress

    from hatespeech.data import read_records
    from hatespeech.engine import predict_in_batches

    counts = {"predicted": 0, "malformed": 0, "hate": 0, "noHate": 0}
    pending: list[tuple[int, str | None, str | None]] = []

    def flush() -> None:
        valid = [text for _, text, error in pending if error is None and text is not None]
        # Batches of similar lengths within the window: far less padding than batches in file order.
        predictions = iter(predict_in_batches(runner, valid, batch_size))
        for number, text, error in pending:
            if error is not None:
                out.write(json.dumps({"line": number, "text": text, "error": error}, ensure_ascii=False) + "\n")
            else:
                prediction = next(predictions)
                out.write(json.dumps({"text": text, **prediction.as_dict()}, ensure_ascii=False) + "\n")
                counts["predicted"] += 1
                counts[prediction.label] += 1
        pending.clear()

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"predicting {path.name} (lines)", total=None)
        for number, text, error in read_records(path):
            if error is not None:
                counts["malformed"] += 1
                console.print(f"warning: {path}:{number}: {error}", highlight=False)
                if strict:
                    flush()
                    raise _fail(f"{path}:{number}: {error} (--strict)")
            pending.append((number, text, error))
            if len(pending) >= batch_size * WINDOW_BATCHES:
                flush()
                progress.update(task, completed=number)
        flush()
    return counts


@app.command()
def export(
    model: ModelOption = None,
    data: DataOption = None,
    split: Annotated[
        str, typer.Option(help="Labelled split for the parity check; it decides int8, so not the test split.")
    ] = "sampled_train",
) -> None:
    """Write the ONNX graphs (fp32 + int8) of a model dir and check them against PyTorch."""
    import shutil

    from hatespeech import artifact
    from hatespeech.data import load_dataset, resolve_data_dir
    from hatespeech.export import export_model_dir

    directory = model or default_model_dir()
    artifact.verify(directory)
    check = None
    try:
        check = load_dataset(resolve_data_dir(data, download=False), split)
    except HateSpeechError as exc:
        console.print(f"parity check on fixed texts only ({exc})", highlight=False)
    staged = artifact.staging_dir(directory)
    shutil.copytree(directory, staged, dirs_exist_ok=True)
    try:
        export_model_dir(staged, check, console=console)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    final = artifact.publish(staged, directory)
    console.print(f"exported: {directory} -> {final}", highlight=False)


def _serve_on_ray(settings: Any, replicas: int, autoscale: str | None, address: str | None) -> None:
    try:
        from hatespeech.scale import serve as ray_serve
    except ImportError as exc:
        raise _fail(f"--engine ray needs Ray: pip install '.[ray]' ({exc})") from exc
    try:
        bounds = ray_serve.parse_autoscale(autoscale) if autoscale else None
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    ray_serve.run(settings, replicas, bounds, address)


@app.command()
def serve(
    model: ModelOption = None,
    host: Annotated[str | None, typer.Option(help="Interface [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000].")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes [default: 1].")] = None,
    engine: Annotated[str, typer.Option(help="local (one uvicorn process) or ray (Ray Serve replicas).")] = "local",
    replicas: Annotated[int, typer.Option(min=1, help="Ray: fixed number of replicas.")] = 1,
    autoscale: Annotated[str | None, typer.Option(help="Ray: MIN,MAX replicas, autoscaled on load.")] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray: cluster address (auto or HOST:PORT) [default: start a local Ray].")
    ] = None,
) -> None:
    """Serve the model over HTTP (FastAPI + ONNX Runtime + dynamic batching). Other settings: HATESPEECH_*."""
    import logging
    import os
    import signal

    import uvicorn
    from pydantic import ValidationError

    from hatespeech import artifact
    from hatespeech.config import Settings

    flags = {"model_dir": model, "host": host, "port": port, "workers": workers}
    for name, value in flags.items():
        if value is not None:
            os.environ[f"HATESPEECH_{name.upper()}"] = str(value)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise _fail(f"invalid setting: {exc.errors()[0]['msg']}", 2) from exc
    artifact.verify(settings.model_dir)
    if engine not in ("local", "ray"):
        raise _fail(f"unknown engine {engine!r}: use local or ray", 2)
    if engine == "ray":
        _serve_on_ray(settings, replicas, autoscale, address)
        return
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal to the previous handler:
    # make that handler a clean exit, so a graceful shutdown ends with status 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        "hatespeech.api.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,  # our own JSON access log replaces uvicorn's
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
    )
