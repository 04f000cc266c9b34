"""The optimisation step: AdamW with linear warm-up and decay, the stage-2 regularisers (FGM, R-Drop, identity
terms) and the distillation loss (a teacher's soft targets beside the labels)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hatespeech.data import LABELS

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from hatespeech.training.batches import TrainBatch


class Stage:
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
        class_weights: Sequence[float] | None = None,
        teacher_weight: float = 0.0,
        identity_weight: float = 0.0,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.total_steps = max(1, total_steps)
        self.warmup_steps = int(warmup_ratio * self.total_steps)
        self.label_smoothing = label_smoothing
        self.bf16 = bf16
        self.rdrop = rdrop
        self.adversarial = adversarial
        self.class_weights = None if class_weights is None else list(class_weights)
        self.teacher_weight = teacher_weight
        self.identity_weight = identity_weight
        self.step = 0
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"]

    def _lr_factor(self) -> float:
        if self.step < self.warmup_steps:
            return (self.step + 1) / (self.warmup_steps + 1)
        remaining = self.total_steps - self.step
        return max(0.0, remaining / max(1, self.total_steps - self.warmup_steps))

    def train_step(self, batch: TrainBatch) -> float:
        """One step on ``batch``; its soft targets (a teacher's P(hate) per text) enter with ``teacher_weight``,
        its masked copies (texts that name a group) with ``identity_weight``."""
        import torch

        self.model.train()
        factor = self._lr_factor()
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        inputs = batch.inputs
        if self.rdrop > 0:  # the batch twice in one pass: two dropout masks
            inputs = {k: torch.cat([v, v]) for k, v in inputs.items()}
        loss = self._loss(inputs, batch)
        loss.backward()  # type: ignore[no-untyped-call]
        if self.adversarial > 0:
            self._adversarial_backward(inputs, batch)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return float(loss.item())

    def _logits(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        import torch

        with torch.autocast(next(iter(inputs.values())).device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits: torch.Tensor = self.model(**inputs).logits.float()
        return logits

    def _loss(self, inputs: dict[str, torch.Tensor], batch: TrainBatch) -> torch.Tensor:
        """The batch's loss; with R-Drop (inputs doubled) the mean of both halves' plus their KL; plus the
        identity-term penalty."""
        logits = self._logits(inputs)
        labels, soft = batch.labels, batch.soft
        if self.rdrop > 0:
            first, second = logits.chunk(2)
            loss = (self._supervised(first, labels, soft) + self._supervised(second, labels, soft)) / 2
            loss = loss + self.rdrop * _symmetric_kl(first, second)
            logits = first
        else:
            loss = self._supervised(logits, labels, soft)
        if self.identity_weight > 0 and batch.masked is not None and batch.masked_rows is not None:
            loss = loss + self.identity_weight * self._identity_penalty(logits[batch.masked_rows], batch.masked)
        return loss

    def _identity_penalty(self, logits: torch.Tensor, masked: dict[str, torch.Tensor]) -> torch.Tensor:
        """Occlusion regulariser (Kennedy et al. 2020): the mean squared change of the hate logit margin when the
        group names are masked, so that a name alone does not move the score (both passes get gradients)."""
        hate, no_hate = LABELS.index("hate"), LABELS.index("noHate")
        margin = logits[:, hate] - logits[:, no_hate]
        masked_logits = self._logits(masked)
        masked_margin = masked_logits[:, hate] - masked_logits[:, no_hate]
        return ((margin - masked_margin) ** 2).mean()

    def _supervised(self, logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor | None) -> torch.Tensor:
        """Cross-entropy with the labels, mixed with the teacher's soft targets when there are any."""
        loss = self._cross_entropy(logits, labels)
        if soft is None or self.teacher_weight == 0:
            return loss
        return (1 - self.teacher_weight) * loss + self.teacher_weight * self._soft_cross_entropy(logits, labels, soft)

    def _soft_cross_entropy(self, logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with the teacher's distribution (P(hate) = ``soft``), class-weighted by the gold label
        like the hard loss, so that the scores stay on the balanced scale."""
        import torch

        log_q = torch.log_softmax(logits, dim=-1)
        probability = {"hate": soft, "noHate": 1 - soft}
        target = torch.stack([probability[label] for label in LABELS], dim=-1)
        per_text = -(target * log_q).sum(dim=-1)
        if self.class_weights is None:
            return per_text.mean()
        weights = torch.tensor(self.class_weights, device=logits.device)[labels]
        return (weights * per_text).sum() / weights.sum()

    def _adversarial_backward(self, inputs: dict[str, torch.Tensor], batch: TrainBatch) -> None:
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
            self._loss(inputs, batch).backward()  # type: ignore[no-untyped-call]
        finally:
            with torch.no_grad():
                embeddings.copy_(original)

    def _cross_entropy(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch

        weight = None if self.class_weights is None else torch.tensor(self.class_weights, device=logits.device)
        return torch.nn.functional.cross_entropy(logits, labels, weight=weight, label_smoothing=self.label_smoothing)


def _symmetric_kl(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """R-Drop's consistency term: the mean of KL(p1 || p2) and KL(p2 || p1) over the batch."""
    import torch

    log_p, log_q = torch.log_softmax(first, dim=-1), torch.log_softmax(second, dim=-1)
    kl = torch.nn.functional.kl_div
    return (
        kl(log_p, log_q, log_target=True, reduction="batchmean")
        + kl(log_q, log_p, log_target=True, reduction="batchmean")
    ) / 2
