"""The ``hatespeech`` Typer app, its shared options, error exit and engine loading (commands live beside it).

Heavy libraries (torch, transformers, onnxruntime) are imported inside the commands that need them, so
``--help`` is instant. Expected failures print one ``error: ...`` line on stderr and exit non-zero.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
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
    typer.Option("--model", "-m", help="Model dir (default: $HATESPEECH_MODEL_DIR or models/current)."),
]
ENGINE_HELP = (
    "auto (the fastest measured on this CPU), onnx (ONNX Runtime: int8 when within the export's bound of fp32, else "
    "fp32), onnx-fp32, onnx-int8, openvino (f32), openvino-bf16, ctranslate2 (f32), ctranslate2-int8, or torch (the "
    "PyTorch weights)."
)
EngineOption = Annotated[str, typer.Option("--engine", help=ENGINE_HELP)]
DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Dataset folder (upstream layout) or a CSV/JSONL file with text,label "
        "(default: $HATESPEECH_DATA_DIR, ./data/hate-speech-dataset, ../shared/data/hate-speech-dataset).",
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def config_options(model: type[BaseModel]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command one option per field of ``model`` (and of its nested models, flattened), with the field's
    description as help and its default; the command gets the validated instance as its ``config`` parameter.
    The config class is then the one source of the options: a new field is a new flag."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            parameter.replace(annotation=hints[name])
            for name, parameter in inspect.signature(command).parameters.items()
            if name != "config"
        ]
        generated = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, default, annotation in _options_of(model)
        ]

        @functools.wraps(command)
        def run(**values: Any) -> None:
            fields = {parameter.name: values.pop(parameter.name) for parameter in generated}
            try:
                config = _build(model, fields)
            except ValidationError as exc:
                error = exc.errors()[0]
                name = next((str(part) for part in reversed(error["loc"]) if isinstance(part, str)), "")
                name = name.replace("_", "-")
                raise fail(f"invalid option --{name}: {error['msg']}", 2) from exc
            command(config=config, **values)

        parameters = [*own, *generated]
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run

    return decorate


def _options_of(model: type[BaseModel]) -> list[tuple[str, Any, Any]]:
    """(name, default, typer annotation) for every field, nested models' fields in place of the model."""
    options: list[tuple[str, Any, Any]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            options += _options_of(annotation)
            continue
        default = field.get_default(call_default_factory=True)
        if typing.get_origin(annotation) is list:  # typer takes a repeatable option of plain strings
            annotation = list[str]
        elif typing.get_origin(annotation) is dict:  # NAME=VALUE,... (the model's validator parses it)
            annotation, default = str, ",".join(f"{k}={v:g}" for k, v in default.items())
        help_text = (field.description or "").strip()
        options.append((name, default, Annotated[annotation, typer.Option(help=help_text)]))
    return options


def _build(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    nested = {
        name: _build(annotation, values)
        for name, field in model.model_fields.items()
        if isinstance(annotation := field.annotation, type) and issubclass(annotation, BaseModel)
    }
    own = {name: values[name] for name in model.model_fields if name not in nested}
    return model.model_validate({**own, **nested})


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


TORCH = "torch"
"""The CLI's one engine beyond the registry's: the PyTorch weights (a training install), for parity checks."""


def open_checked(model: Path | None, kind: str) -> Any:
    """Verify a model dir (default: ``models/current``) and open it in the engine ``kind``."""
    from hatespeech import artifact

    directory = model or default_model_dir()
    artifact.verify(directory)
    return build_engine(directory, kind)


def build_engine(directory: Path, kind: str) -> Any:
    """The engine for a model dir that has been verified already."""
    if kind == TORCH:
        from hatespeech import artifact
        from hatespeech.modeling import TorchEngine

        artifact.verify(directory, check_hashes=False, need=(artifact.TORCH_WEIGHTS,))

        return TorchEngine(directory)
    from hatespeech.classifier import open_model
    from hatespeech.engines.registry import parse
    from hatespeech.errors import InputError

    try:
        parse(kind, extra=(TORCH,))  # torch is handled above
    except InputError as exc:
        raise fail(str(exc), 2) from exc
    engine, _, _ = open_model(directory, kind, verify=False)
    return engine


def predict_with_progress(runner: Any, texts: list[str], batch_size: int = 64) -> list[Any]:
    from rich.progress import Progress

    from hatespeech.engines.base import predict_in_batches

    results = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("predicting", total=len(texts))
        step = batch_size * 8
        for start in range(0, len(texts), step):
            results.extend(predict_in_batches(runner, texts[start : start + step], batch_size))
            progress.advance(task, min(step, len(texts) - start))
    return results
