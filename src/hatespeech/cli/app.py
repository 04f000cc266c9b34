"""The ``hatespeech`` Typer app, its shared options, error exit and engine loading (commands live beside it).

Heavy libraries (torch, transformers, onnxruntime) are imported inside the commands that need them, so
``--help`` is instant. Expected failures print one ``error: ...`` line on stderr and exit non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hatespeech import __version__
from hatespeech.config import TrainConfig, default_model_dir
from hatespeech.errors import HateSpeechError

app = typer.Typer(
    name="hatespeech",
    help="Detect hate speech with a fine-tuned BERT-family model: train, evaluate, predict, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
TRAIN_DEFAULTS = TrainConfig()
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


def fail(message: str, code: int = 1) -> typer.Exit:
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


def load_engine(model: Path | None, kind: str) -> Any:
    from hatespeech import artifact

    directory = model or default_model_dir()
    artifact.verify(directory)
    return build_engine(directory, kind)


def build_engine(directory: Path, kind: str) -> Any:
    """The engine for a model dir that has been verified already."""
    if kind == "torch":
        from hatespeech import artifact
        from hatespeech.modeling import TorchEngine

        artifact.verify(directory, check_hashes=False, need=(artifact.TORCH_WEIGHTS,))

        return TorchEngine(directory)
    from hatespeech.engine_choice import ALIASES, ENGINES, open_engine

    if kind == "onnx":
        kind = "onnx-fp32"
    if kind in ENGINES or kind in ALIASES:
        return open_engine(directory, kind)
    raise fail(f"unknown engine {kind!r}: use onnx, torch, {', '.join(ENGINES)}, openvino or ctranslate2", 2)


def predict_with_progress(runner: Any, texts: list[str], batch_size: int = 64) -> list[Any]:
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
