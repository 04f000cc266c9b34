"""Commands that use a model: ``predict`` (local, or Ray Data), ``export``, ``serve`` (local, or Ray Serve)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from hatespeech.cli.app import (
    ENGINE_HELP,
    TORCH,
    WINDOW_BATCHES,
    DataOption,
    EngineOption,
    ModelOption,
    app,
    console,
    fail,
    open_checked,
)
from hatespeech.config import default_model_dir
from hatespeech.engines.base import is_valid_unicode
from hatespeech.engines.registry import DEFAULT_ENGINE
from hatespeech.errors import HateSpeechError
from hatespeech.settings import Settings

RUNTIMES = ("local", "ray")

if TYPE_CHECKING:
    from fastapi import FastAPI


@app.command()
def predict(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    model: ModelOption = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", "-i", help=".txt (a text per line), .csv or .jsonl (a 'text' field)."),
    ] = None,
    output_path: Annotated[Path | None, typer.Option("--output", "-o", help="JSONL output (default: stdout).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Texts per forward pass.")] = 64,
    strict: Annotated[bool, typer.Option(help="Stop at the first malformed input line.")] = False,
    engine: EngineOption = DEFAULT_ENGINE.value,
    runtime: Annotated[
        str, typer.Option(help="local (this process) or ray (Ray Data actors over --input, each running --engine).")
    ] = "local",
    workers: Annotated[int, typer.Option(min=1, help="Ray: scoring actors (one thread each).")] = 2,
    address: Annotated[
        str | None, typer.Option(help="Ray: cluster address (auto or HOST:PORT) (default: start a local Ray).")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(help="Add each word's contribution to P(hate) (occlusion, as /predict's explain=true)."),
    ] = False,
) -> None:
    """Classify texts; each output line is {"text", "label", "score"} with score = P(hate)."""
    if not texts and input_path is None:
        raise fail("give texts as arguments or --input FILE", 2)
    if texts and input_path is not None:
        raise fail("give texts as arguments or --input FILE, not both", 2)
    if texts and not all(map(is_valid_unicode, texts)):
        raise fail("a text argument is not valid UTF-8", 2)
    check_runtime(runtime, engine)
    if runtime == "ray":
        if explain:
            raise fail("--explain runs in this process: drop --runtime ray", 2)
        _predict_on_ray(model, engine, input_path, output_path, workers, address, batch_size)
        return
    if input_path is not None and not input_path.is_file():
        raise fail(f"input file {input_path} not found")
    runner = open_checked(model, engine)
    if texts:
        for record in _records(runner, texts, explain):
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    assert input_path is not None
    out: TextIO = output_path.open("w", encoding="utf-8") if output_path else sys.stdout
    try:
        counts = _predict_file(runner, input_path, out, batch_size, strict, explain)
    finally:
        if output_path:
            out.close()
    from rich.table import Table

    summary = Table(title=f"predict {input_path.name}" + (f" -> {output_path}" if output_path else ""))
    for column in ("predicted", "hate", "noHate", "malformed lines"):
        summary.add_column(column, justify="right")
    summary.add_row(*(str(counts[k]) for k in ("predicted", "hate", "noHate", "malformed")))
    console.print(summary)


def check_runtime(runtime: str, engine: str) -> None:
    """``--runtime`` is local or ray; ``ray`` given as an engine (its name before 0.7) says where it went."""
    if runtime not in RUNTIMES:
        raise fail(f"unknown runtime {runtime!r}: use {' or '.join(RUNTIMES)}", 2)
    if engine in RUNTIMES:
        raise fail(f"{engine!r} is a runtime, not an engine: use --runtime {engine}", 2)


def _predict_on_ray(
    model: Path | None, engine: str, input_path: Path | None, output_path: Path | None, workers: int,
    address: str | None, batch_size: int,
) -> None:  # fmt: skip
    if input_path is None or output_path is None:
        raise fail("--runtime ray scores files: give --input PATH (file, folder or glob) and --output FILE", 2)
    if engine == TORCH:
        raise fail("--runtime ray runs the served engines, not torch", 2)
    try:
        from hatespeech.scale.batch import score_files
    except ImportError as exc:
        raise fail(f"--runtime ray needs Ray: pip install '.[ray]' ({exc})") from exc
    from rich.table import Table

    with console.status(f"scoring {input_path} on Ray with {workers} workers"):
        result = score_files(
            str(input_path), output_path, model or default_model_dir(), workers=workers, batch_size=batch_size,
            address=address, engine=engine,
        )  # fmt: skip
    summary = Table(title=f"predict {input_path} -> {output_path} (Ray Data, {workers} workers, {result.engine})")
    for column in ("files", "predicted", "hate", "noHate", "malformed"):
        summary.add_column(column, justify="right")
    summary.add_row(*map(str, (result.files, result.predicted, result.hate, result.predicted - result.hate,
                               result.malformed)))  # fmt: skip
    console.print(summary)


def _records(runner: Any, texts: list[str], explain: bool, batch_size: int = 64) -> list[dict[str, Any]]:
    """One output record per text: the prediction, and with ``explain`` its spans' contributions."""
    from hatespeech.engines.base import predict_in_batches
    from hatespeech.explain import explain as explain_texts

    if not explain:
        return [
            {"text": t, **p.as_dict()}
            for t, p in zip(texts, predict_in_batches(runner, texts, batch_size), strict=True)
        ]
    return [
        {"text": text, **prediction.as_dict(),
         "explanation": [{"start": s.start, "end": s.end, "text": text[s.start : s.end],
                          "contribution": s.contribution} for s in spans]}
        for text, (prediction, spans) in zip(texts, explain_texts(runner, texts), strict=True)
    ]  # fmt: skip


def _predict_file(
    runner: Any, path: Path, out: TextIO, batch_size: int, strict: bool, explain: bool = False
) -> dict[str, int]:
    """Stream ``path`` through the engine; write one JSON line per input line, in order."""
    from rich.progress import Progress

    from hatespeech.records import read_records

    counts = {"predicted": 0, "malformed": 0, "hate": 0, "noHate": 0}
    pending: list[tuple[int, str | None, str | None]] = []

    def flush() -> None:
        valid = [text for _, text, error in pending if error is None and text is not None]
        # Batches of similar lengths within the window: far less padding than batches in file order.
        records = iter(_records(runner, valid, explain, batch_size))
        for number, text, error in pending:
            if error is not None:
                out.write(json.dumps({"line": number, "text": text, "error": error}, ensure_ascii=False) + "\n")
            else:
                record = next(records)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts["predicted"] += 1
                counts[record["label"]] += 1
        pending.clear()

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"predicting {path.name} (lines)", total=None)
        for number, text, error in read_records(path):
            if error is not None:
                counts["malformed"] += 1
                console.print(f"warning: {path}:{number}: {error}", highlight=False)
                if strict:
                    flush()
                    raise fail(f"{path}:{number}: {error} (--strict)")
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
    artifact.verify(directory, need=(artifact.TORCH_WEIGHTS,))
    check = None
    try:
        check = load_dataset(resolve_data_dir(data, download=False), split)
    except HateSpeechError as exc:
        console.print(f"parity check on fixed texts only ({exc})", highlight=False)

    def build(staged: Path) -> None:
        shutil.copytree(directory, staged, dirs_exist_ok=True)
        export_model_dir(staged, check, console=console)

    final = artifact.build_and_publish(directory, build)
    console.print(f"exported: {directory} -> {final}", highlight=False)


@app.command()
def pack(
    out: Annotated[Path, typer.Argument(help="New directory for the serving copy.")],
    model: ModelOption = None,
    graphs: Annotated[
        str,
        typer.Option(help="served: the ONNX graph onnx serves and OpenVINO's int8 graph (what the image runs); all."),
    ] = "served",
) -> None:
    """Copy what the ONNX server needs from a model dir (no PyTorch weights), e.g. for a container image."""
    from hatespeech import artifact
    from hatespeech.engines.registry import use_int8

    if graphs not in ("served", "all"):
        raise fail(f"unknown --graphs {graphs!r}: use served or all", 2)
    directory = model or default_model_dir()
    if graphs == "all":
        keep: tuple[str, ...] = (artifact.ONNX_FP32, artifact.ONNX_INT8, artifact.CT2_DIR, artifact.OV_DIR)
    else:
        max_drop = Settings.model_fields["max_int8_accuracy_drop"].default
        graph = artifact.ONNX_INT8 if use_int8(directory, "auto", max_drop) else artifact.ONNX_FP32
        if not (directory / graph).is_file():
            raise fail(f"{directory} has no {graph}: run `hatespeech export --model {directory}` first")
        keep = (graph, artifact.OV_DIR)  # what onnx serves, and OpenVINO's int8 graph when there is one (24 MB)
    manifest = artifact.pack(directory, out, keep)
    size = sum(entry["bytes"] for entry in manifest["files"].values())
    left_out = ", ".join(manifest["packed"]["left_out"]) or "nothing"
    console.print(f"packed {directory} -> {out}: {size / 1e6:.1f} MB, left out {left_out}", highlight=False)


def _serve_on_ray(settings: Any, replicas: int, autoscale: str | None, address: str | None) -> None:
    try:
        from hatespeech.scale import serve as ray_serve
    except ImportError as exc:
        raise fail(f"--runtime ray needs Ray: pip install '.[ray]' ({exc})") from exc
    try:
        bounds = ray_serve.parse_autoscale(autoscale) if autoscale else None
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    ray_serve.run(settings, replicas, bounds, address)


@app.command()
def serve(
    model: ModelOption = None,
    host: Annotated[str | None, typer.Option(help="Interface (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (default: 1).")] = None,
    engine: Annotated[
        str | None, typer.Option(help=f"{ENGINE_HELP} Default: HATESPEECH_ENGINE, else {DEFAULT_ENGINE.value}.")
    ] = None,
    runtime: Annotated[str, typer.Option(help="local (uvicorn processes) or ray (Ray Serve replicas).")] = "local",
    replicas: Annotated[int, typer.Option(min=1, help="Ray: fixed number of replicas.")] = 1,
    autoscale: Annotated[str | None, typer.Option(help="Ray: MIN,MAX replicas, autoscaled on load.")] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray: cluster address (auto or HOST:PORT) (default: start a local Ray).")
    ] = None,
    train_full: Annotated[
        bool,
        typer.Option(
            help="While the quick first model serves: train the full recipe in the background, at the lowest CPU "
            "priority, and swap it in when it is done (what make run does)."
        ),
    ] = False,
) -> None:
    """Serve the model over HTTP (FastAPI + ONNX Runtime + dynamic batching). Other settings: HATESPEECH_*."""
    import os
    import signal

    from pydantic import ValidationError

    from hatespeech import artifact
    from hatespeech.logs import configure as configure_logs

    check_runtime(runtime, engine or "")
    flags = {"model_dir": model, "host": host, "port": port, "workers": workers, "engine": engine}
    given: dict[str, object] = {name: value for name, value in flags.items() if value is not None}
    try:
        settings = Settings(**given)  # type: ignore[arg-type]  # flags over HATESPEECH_* over defaults
    except ValidationError as exc:
        raise fail(f"invalid setting: {exc.errors()[0]['msg']}", 2) from exc
    artifact.verify(settings.model_dir)
    if runtime == "ray":
        if train_full:
            raise fail("--train-full runs beside a local server: train, then redeploy on Ray (docs/models.md)", 2)
        if settings.management_port:
            raise fail("HATESPEECH_MANAGEMENT_PORT is for the local runtime: Ray Serve checks its replicas itself", 2)
        _serve_on_ray(settings, replicas, autoscale, address)
        return
    configure_logs(settings.log_level)
    training = None
    if train_full:
        from hatespeech.cli.background import start_if_quick

        training = start_if_quick(settings.model_dir, settings.state_dir)
        if training is not None and settings.model_watch_s <= 0:  # the link watch swaps the new version in
            given["model_watch_s"] = 5.0
            settings = settings.model_copy(update={"model_watch_s": 5.0})
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal to the previous handler:
    # make that handler a clean exit, so a graceful shutdown ends with status 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if settings.workers > 1:
        # Each worker process builds its app from the environment (uvicorn imports the factory there): the
        # flags are the one thing to hand over, as the variables they stand for.
        os.environ.update({f"HATESPEECH_{name.upper()}": str(value) for name, value in given.items()})
    try:
        _run_uvicorn(settings)
    finally:
        if training is not None:
            training.stop()


def _run_uvicorn(settings: Settings) -> None:
    """One uvicorn process serving the app (and the management port, if set), or ``settings.workers`` processes
    each building its own."""
    from hatespeech.api.app import create_app

    app = create_app(settings) if settings.workers == 1 else None
    management = None
    if settings.management_port:
        from hatespeech.api.management import ManagementServer
        from hatespeech.api.service import service_of

        if app is None:
            raise fail("HATESPEECH_MANAGEMENT_PORT serves one worker's probes: run one worker per process (or "
                       "container) and more replicas", 2)  # fmt: skip
        management = ManagementServer(service_of(app), settings.host, settings.management_port)
        try:
            management.start()
        except RuntimeError as exc:
            raise fail(str(exc), 2) from exc
    try:
        _uvicorn(settings, app)
    finally:
        if management is not None:
            management.stop()


def _uvicorn(settings: Settings, app: FastAPI | None) -> None:
    import math

    import uvicorn

    from hatespeech.api.protocol import GuardedHttpProtocol

    uvicorn.run(
        app or "hatespeech.api.app:create_app_from_env",
        factory=settings.workers > 1,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through our JSON formatter (hatespeech.logs)
        access_log=False,  # our own JSON access log replaces uvicorn's
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
        http=GuardedHttpProtocol,  # header deadline and connection limit (api/protocol.py)
        timeout_keep_alive=math.ceil(settings.keep_alive_s),
    )
