"""The engines' one set of names, and the one way to turn a setting into an engine.

The server (``HATESPEECH_ENGINE``), the CLI (``--engine``), the Python API (``load(engine=...)``), Ray and the
benchmarks all call :func:`resolve` and :func:`open_engine`:

- ``auto``: the fastest engine measured on this CPU that passes the parity gate (:mod:`.choice`); until it has
  been measured here, what ``onnx`` serves.
- ``onnx``: ONNX Runtime, int8 when ``quantized`` is yes or, with auto, when export.json puts int8's accuracy
  within ``max_drop`` of fp32's; fp32 otherwise.
- an exact engine: ``onnx-fp32``, ``onnx-int8``, ``openvino-f32``, ``openvino-bf16``, ``openvino-int8``,
  ``ctranslate2-f32``, ``ctranslate2-int8`` (``openvino`` and ``ctranslate2`` alone mean their f32 form).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hatespeech.artifact import CT2_DIR, ONNX_FP32, ONNX_INT8, OV_INT8
from hatespeech.errors import InputError

if TYPE_CHECKING:
    from hatespeech.engines.base import BaseEngine


class EngineName(enum.StrEnum):
    """Every name an engine setting may take."""

    AUTO = "auto"
    ONNX = "onnx"
    ONNX_FP32 = "onnx-fp32"
    ONNX_INT8 = "onnx-int8"
    OPENVINO_F32 = "openvino-f32"
    OPENVINO_BF16 = "openvino-bf16"
    OPENVINO_INT8 = "openvino-int8"
    CTRANSLATE2_F32 = "ctranslate2-f32"
    CTRANSLATE2_INT8 = "ctranslate2-int8"
    OPENVINO = "openvino"
    CTRANSLATE2 = "ctranslate2"


EXACT = (
    EngineName.ONNX_FP32, EngineName.ONNX_INT8, EngineName.OPENVINO_F32, EngineName.OPENVINO_BF16,
    EngineName.OPENVINO_INT8, EngineName.CTRANSLATE2_F32, EngineName.CTRANSLATE2_INT8,
)  # fmt: skip
"""The engines that exist: each name opens one graph at one precision."""
ALIASES = {EngineName.OPENVINO: EngineName.OPENVINO_F32, EngineName.CTRANSLATE2: EngineName.CTRANSLATE2_F32}
QUANTIZED_SETTINGS = ("auto", "yes", "no")
DEFAULT_ENGINE = EngineName.AUTO
"""What serves when nothing is named (``HATESPEECH_ENGINE``, ``--engine``, ``load(engine=None)``)."""
DEFAULT_MAX_DROP = 0.01
"""The most accuracy an engine may lose against ONNX Runtime fp32 (int8's bound since 0.1; the parity gate)."""


@dataclass(frozen=True)
class Resolved:
    """What a setting means for one model dir: the exact engine to open and why; ``measure`` when the setting
    is ``auto`` and this CPU has no measurement yet (``name`` is then what ``onnx`` serves)."""

    name: EngineName
    reason: str
    measure: bool = False


def parse(setting: str, extra: tuple[str, ...] = ()) -> EngineName:
    """``setting`` as an :class:`EngineName`; an unknown name is an :class:`~hatespeech.errors.InputError` that
    lists the known ones (with a caller's ``extra`` names, which the caller handles before asking)."""
    try:
        return EngineName(setting)
    except ValueError:
        known = ", ".join([*(name.value for name in EngineName), *extra])
        raise InputError(f"unknown engine {setting!r}: use one of {known}") from None


def use_int8(directory: Path, quantized: str, max_drop: float) -> bool:
    """Whether ``onnx`` serves the int8 graph: ``quantized`` is yes, no or auto.

    auto: int8 when its accuracy on the training texts (export.json) is within ``max_drop`` of fp32's; when the
    dir holds one graph only (a serving copy), that one.
    """
    from hatespeech.model_dir import EXPORT_FILE, ModelDir

    if quantized not in QUANTIZED_SETTINGS:
        raise InputError(f"unknown quantized setting {quantized!r}: use {', '.join(QUANTIZED_SETTINGS)}")
    if quantized != "auto":
        return quantized == "yes"
    has_fp32, has_int8 = (directory / ONNX_FP32).is_file(), (directory / ONNX_INT8).is_file()
    if has_fp32 != has_int8:
        return has_int8
    report = ModelDir(directory).read(EXPORT_FILE)
    fp32, int8 = report.get("fp32", {}).get("accuracy"), report.get("int8", {}).get("accuracy")
    return fp32 is not None and int8 is not None and fp32 - int8 <= max_drop


def resolve(
    directory: Path,
    setting: str = DEFAULT_ENGINE,
    *,
    quantized: str = "auto",
    max_drop: float = DEFAULT_MAX_DROP,
) -> Resolved:
    """The exact engine ``setting`` means for the model dir, by name alone: ``auto`` comes back as what ``onnx``
    serves, asking for this CPU's measurement (:func:`hatespeech.engines.choice.decide` looks it up)."""
    name = parse(setting)
    default = EngineName.ONNX_INT8 if use_int8(directory, quantized, max_drop) else EngineName.ONNX_FP32
    if name == EngineName.ONNX:
        return Resolved(default, f"onnx: ONNX Runtime, quantized={quantized}")
    if name == EngineName.AUTO:
        return Resolved(default, f"auto: not measured on this CPU yet, so what onnx serves ({default})", True)
    exact = ALIASES.get(name, name)
    return Resolved(exact, f"named: {setting}")


def open_engine(directory: Path, name: EngineName | str, threads: int | None = None) -> BaseEngine:
    """Open the exact engine ``name`` (not ``auto`` or ``onnx``: :func:`resolve` those first) on a verified dir."""
    exact = parse(str(name))
    exact = ALIASES.get(exact, exact)
    if exact in (EngineName.ONNX_FP32, EngineName.ONNX_INT8):
        from hatespeech.engines.onnx_runtime import OnnxEngine

        return OnnxEngine(directory, quantized=exact == EngineName.ONNX_INT8, threads=threads)
    if exact in (EngineName.OPENVINO_F32, EngineName.OPENVINO_BF16, EngineName.OPENVINO_INT8):
        from hatespeech.engines.openvino import OpenVinoEngine

        return OpenVinoEngine(directory, precision=exact.split("-")[1], threads=threads)
    if exact in (EngineName.CTRANSLATE2_F32, EngineName.CTRANSLATE2_INT8):
        from hatespeech.engines.ctranslate2 import CTranslate2Engine

        return CTranslate2Engine(directory, precision=exact.split("-")[1], threads=threads)
    raise InputError(f"{name!r} is a setting, not an engine: resolve it first (hatespeech.engines.resolve)")


def candidates(directory: Path) -> list[EngineName]:
    """The engines this machine could run for this model dir, ONNX Runtime fp32 (the reference) first."""
    from hatespeech.engines import ctranslate2
    from hatespeech.engines.openvino import native_precisions

    found = [EngineName.ONNX_FP32] if (directory / ONNX_FP32).is_file() else []
    found += [EngineName.ONNX_INT8] if (directory / ONNX_INT8).is_file() else []
    for precision in native_precisions():
        graph = directory / (OV_INT8 if precision == "int8" else ONNX_FP32)
        found += [EngineName(f"openvino-{precision}")] if graph.is_file() else []
    if (directory / CT2_DIR / "model.bin").is_file() and ctranslate2.available():
        found += [EngineName.CTRANSLATE2_F32, EngineName.CTRANSLATE2_INT8]
    return found
