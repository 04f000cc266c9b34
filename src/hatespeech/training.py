"""Two-stage fine-tuning: train the head on the frozen encoder, then fine-tune all weights.

Model selection uses a stratified validation split carved from the training data; the test split, when
given, is only evaluated and reported. The result is written as a standard Hugging Face model directory
(``transformers.pipeline("text-classification", model=DIR)`` loads it) and published atomically.
"""

from __future__ import annotations

import copy
import math
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hatespeech import artifact
from hatespeech.calibration import VALIDATION_SCORES_FILE
from hatespeech.config import TrainConfig
from hatespeech.data import LABELS, Dataset, Example, fingerprint, train_validation_split
from hatespeech.errors import DataError
from hatespeech.evaluation import compute_metrics
from hatespeech.lexical import LexicalModel, choose_blend_weight
from hatespeech.modeling import head_parameter_names, load_base, parameter_groups

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


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


def choose_max_length(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], percentile: float = 99.0) -> int:
    """Token limit from the data: the given percentile of token lengths, rounded up to a multiple of 8."""
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    limit = int(getattr(tokenizer, "model_max_length", 512) or 512)
    wanted = int(math.ceil(float(np.percentile(lengths, percentile)) / 8.0) * 8)
    return max(16, min(wanted, limit, 512))


def _batches(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    batches: Sequence[Sequence[int]],
    max_length: int,
    device: torch.device,
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """Tokenized batches (lists of example indices) with dynamic padding: each padded to its longest text."""
    import torch

    for indices in batches:
        chunk = [examples[i] for i in indices]
        encoded = tokenizer(
            [e.text for e in chunk],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        labels = torch.tensor([e.label for e in chunk], dtype=torch.long)
        yield {k: v.to(device) for k, v in encoded.items()}, labels.to(device)


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, pool_batches: int = 8
) -> list[list[int]]:
    """One epoch of shuffled batches whose texts have similar lengths (less padding, same randomness).

    The data is shuffled, cut into pools of ``pool_batches`` batches, each pool sorted by length and cut
    into batches, and the batches shuffled. On this dataset it halves the padded tokens per epoch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool_size = batch_size * pool_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start : start + pool_size], key=lambda i: lengths[i])
        batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    rng.shuffle(batches)
    return batches


def score_examples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    max_length: int,
    batch_size: int = 64,
) -> np.ndarray:
    """P(hate) for each example with the PyTorch model, in input order (batches sorted by length)."""
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].text))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    scores = np.zeros(len(examples), dtype=np.float64)
    hate_id = LABELS.index("hate")
    model.eval()  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        for indices, (batch, _) in zip(
            batches, _batches(tokenizer, examples, batches, max_length, device), strict=True
        ):
            probs = torch.softmax(model(**batch).logits.float(), dim=-1)[:, hate_id]
            scores[indices] = probs.cpu().numpy()
    return scores


class _Stage:
    """One optimisation stage with linear warm-up and decay, reporting to a rich progress bar."""

    def __init__(
        self,
        model: PreTrainedModel,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        warmup_ratio: float,
        label_smoothing: float,
        *,
        bf16: bool = False,
        rdrop: float = 0.0,
        adversarial: float = 0.0,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.total_steps = max(1, total_steps)
        self.warmup_steps = int(warmup_ratio * self.total_steps)
        self.label_smoothing = label_smoothing
        self.bf16 = bf16
        self.rdrop = rdrop
        self.adversarial = adversarial
        self.step = 0
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"]

    def _lr_factor(self) -> float:
        if self.step < self.warmup_steps:
            return (self.step + 1) / (self.warmup_steps + 1)
        remaining = self.total_steps - self.step
        return max(0.0, remaining / max(1, self.total_steps - self.warmup_steps))

    def train_step(self, batch: dict[str, torch.Tensor], labels: torch.Tensor) -> float:
        import torch

        self.model.train()
        factor = self._lr_factor()
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        if self.rdrop > 0:  # the batch twice in one pass: two dropout masks
            batch = {k: torch.cat([v, v]) for k, v in batch.items()}
        loss = self._loss(batch, labels)
        loss.backward()  # type: ignore[no-untyped-call]
        if self.adversarial > 0:
            self._adversarial_backward(batch, labels)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return float(loss.item())

    def _loss(self, batch: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the batch; with R-Drop (batch doubled) the mean of both halves' plus their KL."""
        import torch

        with torch.autocast(labels.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(**batch).logits.float()
        if self.rdrop > 0:
            first, second = logits.chunk(2)
            loss = (self._cross_entropy(first, labels) + self._cross_entropy(second, labels)) / 2
            return loss + self.rdrop * _symmetric_kl(first, second)
        return self._cross_entropy(logits, labels)

    def _adversarial_backward(self, batch: dict[str, torch.Tensor], labels: torch.Tensor) -> None:
        """FGM: add the gradient of the loss with the word embeddings moved ``adversarial`` along their gradient."""
        import torch

        embeddings = self.model.get_input_embeddings().weight
        if not isinstance(embeddings, torch.Tensor) or embeddings.grad is None:
            return
        grad = embeddings.grad
        norm = torch.linalg.vector_norm(grad)
        if not torch.isfinite(norm) or norm == 0:
            return
        original = embeddings.detach().clone()
        with torch.no_grad():
            embeddings.add_(grad * (self.adversarial / norm))
        try:
            self._loss(batch, labels).backward()  # type: ignore[no-untyped-call]
        finally:
            with torch.no_grad():
                embeddings.copy_(original)

    def _cross_entropy(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.nn.functional.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)


def _symmetric_kl(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """R-Drop's consistency term: the mean of KL(p1 || p2) and KL(p2 || p1) over the batch."""
    import torch

    log_p, log_q = torch.log_softmax(first, dim=-1), torch.log_softmax(second, dim=-1)
    kl = torch.nn.functional.kl_div
    return (
        kl(log_p, log_q, log_target=True, reduction="batchmean")
        + kl(log_q, log_p, log_target=True, reduction="batchmean")
    ) / 2


@dataclass
class _Run:
    """One stage-2 run: the texts it trains on, the texts that select its epoch, its data-order seed."""

    name: str
    train: list[Example]
    validation: list[Example]
    seed: int
    validation_index: list[int] = field(default_factory=list)
    """Cross-fit: positions of ``validation`` in the training data (to gather out-of-fold scores)."""


def plan_runs(examples: Sequence[Example], config: TrainConfig) -> tuple[list[Example], list[_Run]]:
    """Stage-1 data and the stage-2 runs.

    Hold-out (``folds`` = 0): every run trains on the same split and is validated on the same held-out texts.
    Cross-fit (``folds`` = K): run k trains on all folds but k and is validated on fold k, so every text is
    trained on by K-1 runs and validates exactly one; the validation scores are out-of-fold.
    """
    if config.folds >= 2:
        from sklearn.model_selection import StratifiedKFold

        labels = [e.label for e in examples]
        smallest = min(labels.count(0), labels.count(1))
        if smallest < config.folds:
            raise DataError(
                f"--folds {config.folds} needs at least {config.folds} texts of each class ({smallest} here)"
            )
        splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
        runs = [
            _Run(
                f"fold {k + 1}/{config.folds}",
                [examples[i] for i in train_idx],
                [examples[i] for i in val_idx],
                config.seed * 1000 + k + 1,
                [int(i) for i in val_idx],
            )
            for k, (train_idx, val_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels))
        ]
        return list(examples), runs
    train_examples, validation = train_validation_split(examples, config.validation_fraction, config.seed)
    runs = [
        _Run(f"run {r + 1}/{config.soup_runs}", train_examples, validation, config.seed * 1000 + r + 1)
        for r in range(config.soup_runs)
    ]
    return train_examples, runs


def train(
    config: TrainConfig,
    train_data: Dataset,
    out: Path,
    *,
    test_data: Dataset | None = None,
    console: Console | None = None,
    after_save: Any = None,
) -> TrainResult:
    """Train per ``config`` on ``train_data`` and publish the model directory at ``out``.

    ``test_data`` is evaluated at the end for the record (never for selection). ``after_save``, if given, is
    called with the staging directory before publication (used to add the ONNX export).
    """
    import torch

    console = console or Console(stderr=True)
    started = time.perf_counter()
    seed_everything(config.seed)
    device = select_device(config.device)
    head_examples, runs = plan_runs(train_data.examples, config)
    cross_fit = config.folds >= 2
    tokenizer, model = load_base(config.base_model)
    max_length = config.max_length or choose_max_length(tokenizer, [e.text for e in head_examples])
    model.to(device)  # type: ignore[arg-type]
    bf16 = use_bf16(config.precision, device)
    history: list[dict[str, Any]] = []

    # Every stage trains on a subset of head_examples: tokenize them once for the length buckets.
    encoded = tokenizer([e.text for e in head_examples], truncation=True, max_length=max_length)
    token_length = {e: len(ids) for e, ids in zip(head_examples, encoded["input_ids"], strict=True)}

    def validate(validation: Sequence[Example]) -> float:
        scores = score_examples(model, tokenizer, validation, max_length)
        return float(compute_metrics([e.label for e in validation], scores, config.threshold)["accuracy"])

    def run_epochs(
        description: str, stage: _Stage, rng: random.Random, examples: Sequence[Example], validation: Sequence[Example]
    ) -> dict[str, Any]:
        """One epoch of ``stage`` on bucketed batches, then validation; appended to ``history``."""
        epoch_started = time.perf_counter()
        batches = bucketed_batches([token_length[e] for e in examples], config.batch_size, rng)
        task = progress.add_task(description, total=len(batches), loss=0.0, val="-")
        losses: list[float] = []
        for batch, labels in _batches(tokenizer, examples, batches, max_length, device):
            losses.append(stage.train_step(batch, labels))
            progress.update(task, advance=1, loss=float(np.mean(losses[-20:])))
        record: dict[str, Any] = {"stage": description, "train_loss": float(np.mean(losses))}
        record["train_seconds"] = round(time.perf_counter() - epoch_started, 2)
        if validation:
            record["val_accuracy"] = validate(validation)
            progress.update(task, val=f"{record['val_accuracy']:.4f}")
        record["seconds"] = round(time.perf_counter() - epoch_started, 2)
        history.append(record)
        return record

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  val acc {task.fields[val]}"),
        TimeElapsedColumn(),
    )
    # Validation texts: one hold-out split, or every training text (scored out-of-fold).
    validation = head_examples if cross_fit else runs[0].validation
    oof_scores: list[np.ndarray] = []
    with Progress(*columns, console=console, transient=False) as progress:
        # Stage 1: the head alone, on the frozen encoder (shared by every stage-2 run: a soup needs one start).
        rng = random.Random(config.seed)
        if config.head_epochs:
            head = head_parameter_names(model)
            for name, param in model.named_parameters():
                param.requires_grad = name in head
            optimizer = torch.optim.AdamW(
                [p for p in model.parameters() if p.requires_grad], lr=config.head_learning_rate
            )
            steps = config.head_epochs * math.ceil(len(head_examples) / config.batch_size)
            stage = _Stage(model, optimizer, steps, 0.0, 0.0, bf16=bf16)
            for epoch in range(1, config.head_epochs + 1):
                description = f"stage 1 (head) epoch {epoch}/{config.head_epochs}"
                run_epochs(description, stage, rng, head_examples, [] if cross_fit else validation)
        # Stage 2: all weights, once per run, each run from the same stage-1 weights.
        for param in model.parameters():
            param.requires_grad = True
        start_state = copy.deepcopy(model.state_dict())
        results: list[tuple[str, dict[str, torch.Tensor], float]] = []
        for run in runs if config.epochs else []:
            model.load_state_dict(start_state)
            prefix = f"stage 2 {run.name} " if len(runs) > 1 else "stage 2 "
            results.append(_fine_tune(model, config, run, prefix, run_epochs, validate, history, bf16))
            if cross_fit:
                model.load_state_dict(results[-1][1])
                oof_scores.append(score_examples(model, tokenizer, run.validation, max_length))
        best_name, best_state = "head only", start_state
        if results:
            best_name, best_state, _ = max(results, key=lambda r: r[2])
        if len(results) > 1:
            soup = _average_states([state for _, state, _ in results])
            if cross_fit:
                # No text is held out from every fold model, so the soup is taken as the recipe says.
                best_name, best_state = f"soup of {len(results)} fold models", soup
            else:
                model.load_state_dict(soup)
                soup_acc = validate(validation)
                history.append({"stage": f"soup of {len(results)} runs", "val_accuracy": soup_acc})
                # Averaging is expected to help; it is refused only when it validates below the runs' mean.
                if soup_acc >= float(np.mean([acc for _, _, acc in results])):
                    best_name, best_state = f"soup of {len(results)} runs", soup
        model.load_state_dict(best_state)

    validation_labels = [e.label for e in validation]
    if oof_scores:
        validation_scores = _in_data_order(runs, oof_scores, len(validation))
    else:  # hold-out; or cross-fit without stage 2: the head alone, in-sample (stage 1 saw every text)
        validation_scores = score_examples(model, tokenizer, validation, max_length)
    metrics: dict[str, Any] = {
        "selected": best_name,
        "validation_kind": f"out-of-fold ({config.folds} folds)" if cross_fit else "hold-out split",
        "precision": "bf16" if bf16 else "fp32",
    }
    lexical, weight = None, 0.0
    if config.lexical:
        lexical = LexicalModel.fit([e.text for e in head_examples], [e.label for e in head_examples])
        if cross_fit:
            lexical_scores = _out_of_fold_lexical_scores(runs, len(validation))
        else:  # the hold-out model is fitted on the same texts as the one saved
            lexical_scores = lexical.predict_proba([e.text for e in validation])
        weight, candidates = choose_blend_weight(validation_labels, validation_scores, lexical_scores)
        metrics["lexical_weight"] = weight
        metrics["lexical_weight_candidates"] = candidates
        metrics["validation_encoder_only"] = compute_metrics(validation_labels, validation_scores, config.threshold)
        validation_scores = (1 - weight) * validation_scores + weight * lexical_scores
    metrics["validation"] = compute_metrics(validation_labels, validation_scores, config.threshold)
    if test_data is not None and len(test_data):
        test_scores = score_examples(model, tokenizer, test_data.examples, max_length)
        if lexical is not None:
            metrics["test_encoder_only"] = compute_metrics(test_data.labels, test_scores, config.threshold)
            test_scores = (1 - weight) * test_scores + weight * lexical.predict_proba(test_data.texts)
        metrics["test"] = compute_metrics(test_data.labels, test_scores, config.threshold)
        metrics["test_source"] = test_data.report.source
    seconds = time.perf_counter() - started
    metrics["train_seconds"] = round(seconds, 1)
    metrics["history"] = history

    staged = artifact.staging_dir(out)
    try:
        save_model_dir(staged, model, tokenizer, config, max_length, train_data, metrics)
        save_validation_scores(staged, metrics["validation_kind"], validation_labels, validation_scores)
        if lexical is not None and weight > 0:
            lexical.save(staged)
            _set_config_value(staged, "lexical_weight", weight)
        if after_save is not None:
            after_save(staged)
        final = artifact.publish(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)  # the published model is untouched
        raise
    return TrainResult(final, metrics, seconds, history)


def _in_data_order(runs: Sequence[_Run], scores: Sequence[np.ndarray], size: int) -> np.ndarray:
    """The runs' out-of-fold scores put back in training-data order (each text validates one run)."""
    ordered = np.zeros(size)
    for run, run_scores in zip(runs, scores, strict=True):
        ordered[run.validation_index] = run_scores
    return ordered


def _out_of_fold_lexical_scores(runs: Sequence[_Run], size: int) -> np.ndarray:
    """The lexical model's out-of-fold scores: one model per fold, fitted without it."""
    scores = []
    for run in runs:
        model = LexicalModel.fit([e.text for e in run.train], [e.label for e in run.train])
        scores.append(model.predict_proba([e.text for e in run.validation]))
    return _in_data_order(runs, scores, size)


def _fine_tune(
    model: PreTrainedModel,
    config: TrainConfig,
    run: _Run,
    prefix: str,
    run_epochs: Any,
    validate: Any,
    history: list[dict[str, Any]],
    bf16: bool,
) -> tuple[str, dict[str, torch.Tensor], float]:
    """Stage 2 once: all weights for ``config.epochs``; returns the best epoch or the averaged weights."""
    import torch

    rng = random.Random(run.seed)
    steps_per_epoch = math.ceil(len(run.train) / config.batch_size)

    optimizer = torch.optim.AdamW(
        parameter_groups(model, config.learning_rate, config.weight_decay, config.layer_decay)
    )
    stage = _Stage(
        model,
        optimizer,
        config.epochs * steps_per_epoch,
        config.warmup_ratio,
        config.label_smoothing,
        bf16=bf16,
        rdrop=config.rdrop,
        adversarial=config.adversarial,
    )
    best: tuple[str, dict[str, torch.Tensor], float] = ("", {}, -1.0)
    average: dict[str, torch.Tensor] | None = None
    averaged = 0
    for epoch in range(1, config.epochs + 1):
        record = run_epochs(f"{prefix}epoch {epoch}/{config.epochs}", stage, rng, run.train, run.validation)
        if record["val_accuracy"] > best[2]:
            best = (f"{prefix}epoch {epoch}".strip(), copy.deepcopy(model.state_dict()), record["val_accuracy"])
        if config.average_from_epoch is not None and epoch >= config.average_from_epoch:
            average, averaged = _update_average(average, model.state_dict(), averaged)
    if average is not None and averaged > 1:
        model.load_state_dict(average)
        accuracy = validate(run.validation)
        name = f"{prefix}average of last {averaged} epochs".strip()
        history.append({"stage": name, "val_accuracy": accuracy})
        if accuracy >= best[2]:
            best = (name, average, accuracy)
    return best


def _average_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform model soup: the mean of floating-point weights (other buffers from the first state)."""
    average: dict[str, torch.Tensor] | None = None
    count = 0
    for state in states:
        average, count = _update_average(average, state, count)
    assert average is not None
    return average


def _update_average(
    average: dict[str, torch.Tensor] | None, state: dict[str, torch.Tensor], count: int
) -> tuple[dict[str, torch.Tensor], int]:
    """Running mean of floating-point weights (stochastic weight averaging over epochs)."""
    if average is None:
        return {k: v.detach().clone() for k, v in state.items()}, 1
    count += 1
    for key, value in state.items():
        if value.is_floating_point():
            average[key] += (value.detach() - average[key]) / count
    return average, count


def _set_config_value(directory: Path, key: str, value: Any) -> None:
    import json

    path = directory / "config.json"
    config = json.loads(path.read_text())
    config[key] = value
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def save_validation_scores(directory: Path, kind: str, labels: Sequence[int], scores: np.ndarray) -> None:
    """The validation texts' labels and P(hate) as the engines compute it (blend, before any prior shift).

    ``hatespeech calibrate`` chooses thresholds on these when the validation is out-of-fold: the final model
    has trained on every text, so only the fold models' scores are honest about unseen data.
    """
    import json

    record = {"kind": kind, "labels": [int(y) for y in labels], "scores": [round(float(p), 6) for p in scores]}
    (directory / VALIDATION_SCORES_FILE).write_text(json.dumps(record) + "\n")


def save_model_dir(
    directory: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: TrainConfig,
    max_length: int,
    train_data: Dataset,
    metrics: dict[str, Any],
) -> None:
    """Write weights (safetensors), tokenizer, config with labels/threshold, arguments, data and metrics."""
    import json

    model.config.decision_threshold = config.threshold
    model.config.max_seq_length = max_length
    model.config.base_model = config.base_model
    tokenizer.model_max_length = max_length
    model.cpu().save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    config.save(directory)
    data_info = {
        "fingerprint": fingerprint(train_data.examples),
        "source": train_data.report.source,
        "examples": len(train_data),
        "per_label": {label: train_data.labels.count(i) for i, label in enumerate(LABELS)},
        "load_report": train_data.report.summary(),
    }
    (directory / "data.json").write_text(json.dumps(data_info, indent=2) + "\n")
    (directory / artifact.METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
