"""The recipe: train the head on the frozen encoder, fine-tune all weights per fold, average, interpolate
(optionally learning a teacher's scores beside the labels).

Model selection uses folds carved from the training data (grouped by author); the test split, when given,
is only evaluated and reported. The result is written as a standard Hugging Face model directory
(``transformers.pipeline("text-classification", model=DIR)`` loads it) and published atomically.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hatespeech import artifact
from hatespeech.config import TrainConfig
from hatespeech.data import Dataset, Example
from hatespeech.evaluation import (
    balanced_accuracy,
    behaviour_categories,
    compute_metrics,
    reported_figures,
    validation_report,
)
from hatespeech.modeling import head_parameter_names, load_base, parameter_groups
from hatespeech.normalization import normalize
from hatespeech.progress import HEAD_BATCH, SCORED_TEXT, ProgressFile
from hatespeech.training import averaging
from hatespeech.training.batches import bucketed_batches, choose_max_length, score_examples, tensor_batches
from hatespeech.training.cpu_share import CpuShare
from hatespeech.training.data_mix import BalancedEpochs, Run, plan_runs, score_prior
from hatespeech.training.distillation import teacher_scores
from hatespeech.training.outputs import save_model_dir, save_validation_scores
from hatespeech.training.sources import SourceEpochs
from hatespeech.training.step import Stage

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

State = averaging.State


@dataclass
class TrainResult:
    """Where the model went and how good it is."""

    model_dir: Path
    metrics: dict[str, Any]
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def select_device(name: str) -> torch.device:
    """The torch device for ``name``; ``auto`` picks CUDA when present."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to train in bfloat16 mixed precision: asked for, or ``auto`` on hardware that has it.

    On a CPU without bf16 instructions (avx512_bf16 / AMX) autocast is emulated and slower, so ``auto`` keeps fp32.
    """
    import torch

    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Loop:
    """The model, its tokenizer and the run's settings: trains epochs, validates, records history."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        config: TrainConfig,
        examples: Sequence[Example],
        device: torch.device,
        bf16: bool,
        console: Console,
        tracker: ProgressFile,
    ) -> None:
        self.model, self.tokenizer, self.config, self.device, self.bf16 = model, tokenizer, config, device, bf16
        self.tracker = tracker
        self.cpu_share: CpuShare | None = None  # train(share_cpu=True): fewer threads while others are busy
        self.max_length = config.max_length or choose_max_length(tokenizer, [e.text for e in examples])
        # Every stage trains on a subset of the examples: tokenize them once for the length buckets.
        encoded = tokenizer([e.text for e in examples], truncation=True, max_length=self.max_length)
        self.token_length = {e: len(ids) for e, ids in zip(examples, encoded["input_ids"], strict=True)}
        self.history: list[dict[str, Any]] = []
        self.targets: dict[Example, float] | None = None  # a teacher's P(hate) per text (distillation)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  val {task.fields[val]}"),
            TimeElapsedColumn(),
        )
        self.progress = Progress(*columns, console=console, transient=False)

    @property
    def teacher_weight(self) -> float:
        return self.config.teacher_weight if self.targets is not None else 0.0

    def score(self, examples: Sequence[Example]) -> np.ndarray:
        scores = score_examples(self.model, self.tokenizer, examples, self.max_length)
        self.tracker.advance(len(examples) * SCORED_TEXT / self.config.batch_size, self.tracker.stage)
        return scores

    def planned_work(
        self, head: Sequence[Example], runs: Sequence[Run], validation: Sequence[Example], tested: int
    ) -> float:
        """The run's work in fine-tuning batches (``progress``): every epoch's batches and every scoring pass."""
        config, cross_fit = self.config, self.config.folds >= 2
        scored = (len(validation) if config.head_epochs and not cross_fit else 0) * config.head_epochs
        work = config.head_epochs * math.ceil(len(self.epochs(head, config.seed)) / config.batch_size) * HEAD_BATCH
        first_candidate = min(config.average_from_epoch or 1, config.epochs)
        averaged = config.epochs - config.average_from_epoch + 1 if config.average_from_epoch else 0
        for run in runs if config.epochs else []:
            work += config.epochs * math.ceil(len(self.epochs(run.train, run.seed)) / config.batch_size)
            passes = config.epochs - first_candidate + 1 + (averaged > 1) + cross_fit
            scored += passes * len(run.validation)
        soup = len(runs) > 1 and config.epochs > 0  # hold-out: the soup is validated too
        scored += (0 if cross_fit else len(validation) * (1 + soup)) + tested
        return work + scored * SCORED_TEXT / config.batch_size

    def validate(self, validation: Sequence[Example]) -> float:
        """Balanced accuracy (mean of both classes' recall): natural noHate texts cannot swamp the hate ones."""
        return balanced_accuracy([e.label for e in validation], self.score(validation), self.config.threshold)

    def epoch(
        self,
        description: str,
        stage: Stage,
        rng: random.Random,
        examples: Sequence[Example],
        validation: Sequence[Example],
        unit: float = 1.0,
    ) -> dict[str, Any]:
        """One epoch of ``stage`` on bucketed batches, then validation; appended to ``history``."""
        started = time.perf_counter()
        batches = bucketed_batches([self.token_length[e] for e in examples], self.config.batch_size, rng)
        task = self.progress.add_task(description, total=len(batches), loss=0.0, val="-")
        losses: list[float] = []
        encoded = tensor_batches(
            self.tokenizer, examples, batches, self.max_length, self.device, self.targets, stage.identity_weight > 0
        )
        for batch in encoded:
            losses.append(stage.train_step(batch))
            self.progress.update(task, advance=1, loss=float(np.mean(losses[-20:])))
            self.tracker.advance(unit, description)
            if self.cpu_share is not None:
                self.cpu_share.tick()
        record: dict[str, Any] = {"stage": description, "train_loss": float(np.mean(losses))}
        record["train_seconds"] = round(time.perf_counter() - started, 2)
        if validation:
            record["val_accuracy"] = self.validate(validation)
            self.progress.update(task, val=f"{record['val_accuracy']:.4f}")
        record["seconds"] = round(time.perf_counter() - started, 2)
        self.history.append(record)
        return record

    def epochs(self, examples: Sequence[Example], seed: int) -> BalancedEpochs | SourceEpochs:
        """The run's epochs, seeded per run: ``epoch_texts`` drawn by the sources' shares, or (no shares: model
        dirs before 0.7) class-balanced draws (``balanced_epochs``, ``epoch_ratio``)."""
        config, rng = self.config, random.Random(seed + 7)
        if config.data.shares and config.epoch_texts:
            return SourceEpochs(examples, rng, config.data.shares, config.epoch_texts)
        return BalancedEpochs(examples, rng, config.epoch_ratio, config.balanced_epochs)

    def fit_head(self, examples: Sequence[Example], validation: Sequence[Example]) -> None:
        """Stage 1: the head alone, on the frozen encoder (shared by every stage-2 run: a soup needs one start)."""
        import torch

        config = self.config
        head = head_parameter_names(self.model)
        for name, param in self.model.named_parameters():
            param.requires_grad = name in head
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=config.head_learning_rate)
        rng = random.Random(config.seed)
        epochs = self.epochs(examples, config.seed)
        steps = config.head_epochs * math.ceil(len(epochs) / config.batch_size)
        stage = Stage(
            self.model, optimizer, steps, 0.0, 0.0,
            bf16=self.bf16, class_weights=epochs.class_weights(), teacher_weight=self.teacher_weight,
        )  # fmt: skip
        for epoch in range(1, config.head_epochs + 1):
            description = f"stage 1 (head) epoch {epoch}/{config.head_epochs}"
            self.epoch(description, stage, rng, epochs.next_epoch(), validation, HEAD_BATCH)
        for param in self.model.parameters():
            param.requires_grad = True

    def fine_tune(self, run: Run, prefix: str) -> tuple[str, State, float]:
        """Stage 2 once: all weights for ``config.epochs``; returns the best epoch or the averaged weights."""
        import torch

        config = self.config
        rng = random.Random(run.seed)
        epochs = self.epochs(run.train, run.seed)
        optimizer = torch.optim.AdamW(
            parameter_groups(self.model, config.learning_rate, config.weight_decay, config.layer_decay)
        )
        total_steps = config.epochs * math.ceil(len(epochs) / config.batch_size)
        stage = Stage(
            self.model, optimizer, total_steps, config.warmup_ratio, config.label_smoothing,
            bf16=self.bf16, rdrop=config.rdrop, adversarial=config.adversarial, class_weights=epochs.class_weights(),
            teacher_weight=self.teacher_weight, identity_weight=config.identity_weight,
        )  # fmt: skip
        best: tuple[str, State, float] = ("", {}, -1.0)
        average: State | None = None
        averaged = 0
        # With averaging on, the candidates are the averaged epochs and their average: earlier epochs (still at a
        # high learning rate, never the best on dev) are not validated, which saves ~7% of the training time.
        first_candidate = config.average_from_epoch or 1
        for epoch in range(1, config.epochs + 1):
            description = f"{prefix}epoch {epoch}/{config.epochs}"
            validation = run.validation if epoch >= min(first_candidate, config.epochs) else []
            record = self.epoch(description, stage, rng, epochs.next_epoch(), validation)
            if validation and record["val_accuracy"] > best[2]:
                state = copy.deepcopy(self.model.state_dict())
                best = (f"{prefix}epoch {epoch}".strip(), state, record["val_accuracy"])
            if config.average_from_epoch is not None and epoch >= config.average_from_epoch:
                average, averaged = averaging.update_average(average, self.model.state_dict(), averaged)
        if average is not None and averaged > 1:
            self.model.load_state_dict(average)
            accuracy = self.validate(run.validation)
            name = f"{prefix}average of last {averaged} epochs".strip()
            self.history.append({"stage": name, "val_accuracy": accuracy})
            if accuracy >= best[2]:
                best = (name, average, accuracy)
        return best


def train(
    config: TrainConfig,
    train_data: Dataset,
    out: Path,
    *,
    test_data: Dataset | None = None,
    console: Console | None = None,
    after_save: Any = None,
    progress: Path | None = None,
    share_cpu: bool = False,
    reports: Mapping[str, Dataset] | None = None,
) -> TrainResult:
    """Train per ``config`` on ``train_data`` and publish the model directory at ``out``.

    ``test_data`` is evaluated at the end for the record (never for selection). ``after_save``, if given, is
    called with the staging directory before publication (used to add the ONNX export). ``progress``, if given,
    is a file kept up to date with the work done and an estimate of the time left (``hatespeech.progress``);
    ``share_cpu`` trains on the cores other processes leave free (``training.cpu_share``). ``reports``: more
    sets scored at the end for the record (another platform's test split, the behaviour suite), never chosen on.
    """
    tracker = ProgressFile(progress)
    tracker.at("loading the base model")
    console = console or Console(stderr=True)
    started = time.perf_counter()
    given = train_data  # recorded (fingerprint, counts) as given: calibrate rebuilds it from the recipe
    train_data = normalized(train_data, config)
    test_data = normalized(test_data, config) if test_data is not None else None
    reported = {name: normalized(data, config) for name, data in (reports or {}).items()}
    seed_everything(config.seed)
    device = select_device(config.device)
    head_examples, runs = plan_runs(train_data.examples, config)
    cross_fit = config.folds >= 2
    tokenizer, model = load_base(config.base_model)
    model.to(device)  # type: ignore[arg-type]
    loop = _Loop(model, tokenizer, config, head_examples, device, use_bf16(config.precision, device), console, tracker)
    loop.cpu_share = CpuShare(report=console.print) if share_cpu else None
    if config.teacher:
        loop.targets = teacher_scores(Path(config.teacher), head_examples, device)
    # Validation texts: one hold-out split, or every training text (scored out-of-fold).
    validation = head_examples if cross_fit else runs[0].validation
    tested = (len(test_data) if test_data else 0) + sum(len(data) for data in reported.values())
    tracker.plan(loop.planned_work(head_examples, runs, validation, tested))
    oof_scores: list[np.ndarray] = []
    with loop.progress:
        if config.head_epochs:
            loop.fit_head(head_examples, [] if cross_fit else validation)
        start_state = copy.deepcopy(model.state_dict())
        results: list[tuple[str, State, float]] = []
        for run in runs if config.epochs else []:
            model.load_state_dict(start_state)
            prefix = f"stage 2 {run.name} " if len(runs) > 1 else "stage 2 "
            results.append(loop.fine_tune(run, prefix))
            if cross_fit:  # each fold model as the final one will be: interpolated towards the start
                model.load_state_dict(averaging.interpolate(start_state, results[-1][1], config.wise_alpha))
                oof_scores.append(loop.score(run.validation))
        best_name, best_state = _select(loop, results, start_state, validation, cross_fit)
        if results and config.wise_alpha < 1.0:
            best_state = averaging.interpolate(start_state, best_state, config.wise_alpha)
            best_name += f", WiSE-FT alpha {config.wise_alpha:g}"
        model.load_state_dict(best_state)

    # Hold-out; or cross-fit without stage 2: the head alone, in-sample (stage 1 saw every text).
    scores = _in_data_order(runs, oof_scores, len(validation)) if oof_scores else loop.score(validation)
    metrics: dict[str, Any] = {
        "selected": best_name,
        "validation_kind": f"out-of-fold ({config.folds} folds, grouped by author)" if cross_fit else "hold-out split",
        "precision": "bf16" if loop.bf16 else "fp32",
        "epoch_texts": len(loop.epochs(runs[0].train if runs else head_examples, config.seed)),
    }
    metrics.update(validation_report(validation, scores, config.threshold))
    if test_data is not None and len(test_data):
        metrics["test"] = compute_metrics(test_data.labels, loop.score(test_data.examples), config.threshold)
        metrics["test_source"] = test_data.report.source
    for name, data in reported.items():
        scored = loop.score(data.examples)
        metrics.setdefault("reports", {})[name] = reported_figures(data.examples, scored, config.threshold)
        if name == "behaviour":
            metrics["behaviour_categories"] = behaviour_categories(data.examples, scored, config.threshold)
    seconds = time.perf_counter() - started
    metrics["train_seconds"] = round(seconds, 1)
    metrics["history"] = loop.history

    def build(staged: Path) -> None:
        tracker.at("saving and exporting")
        prior = score_prior(train_data.examples, config.balanced_epochs)
        save_model_dir(staged, model, tokenizer, config, loop.max_length, given, metrics, prior)
        save_validation_scores(staged, metrics["validation_kind"], validation, scores)
        if after_save is not None:
            after_save(staged)

    final = artifact.build_and_publish(out, build)
    tracker.at("published")
    return TrainResult(final, metrics, seconds, loop.history)


def normalized(data: Dataset, config: TrainConfig) -> Dataset:
    """``data`` with its texts as the model sees them (``config.normalization``; the engines do the same)."""
    if config.normalization == "none":
        return data
    examples = [replace(e, text=normalize(e.text, config.normalization)) for e in data.examples]
    return Dataset(examples, data.report)


def _select(
    loop: _Loop,
    results: Sequence[tuple[str, State, float]],
    start: State,
    validation: Sequence[Example],
    cross_fit: bool,
) -> tuple[str, State]:
    """The model to keep: the soup of the runs (cross-fit: always; hold-out: unless it validates below their
    mean), the single run, or the head alone without stage 2."""
    if not results:
        return "head only", start
    best_name, best_state, _ = max(results, key=lambda r: r[2])
    if len(results) < 2:
        return best_name, best_state
    soup = averaging.average_states([state for _, state, _ in results])
    if cross_fit:  # no text is held out from every fold model, so the soup is taken as the recipe says
        return f"soup of {len(results)} fold models", soup
    loop.model.load_state_dict(soup)
    soup_accuracy = loop.validate(validation)
    loop.history.append({"stage": f"soup of {len(results)} runs", "val_accuracy": soup_accuracy})
    # Averaging is expected to help; it is refused only when it validates below the runs' mean.
    if soup_accuracy >= float(np.mean([accuracy for _, _, accuracy in results])):
        return f"soup of {len(results)} runs", soup
    return best_name, best_state


def _in_data_order(runs: Sequence[Run], scores: Sequence[np.ndarray], size: int) -> np.ndarray:
    """The runs' out-of-fold scores put back in training-data order (each text validates one run)."""
    ordered = np.zeros(size)
    for run, run_scores in zip(runs, scores, strict=True):
        ordered[run.validation_index] = run_scores
    return ordered
