"""Knowledge distillation: a trained teacher's P(hate) on every training text, as soft targets for the student.

Someone with a GPU trains the large encoder once (``--base-model all-mpnet-base-v2``) and trains the fast
MiniLM on its scores (``--teacher DIR``): the student learns the teacher's graded judgement of each text
(natural ones included) beside the gold labels, with ``teacher_weight`` on the soft part.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hatespeech.data import LABELS, Example
from hatespeech.errors import ModelError
from hatespeech.model_dir import ModelDir
from hatespeech.training.batches import score_examples

if TYPE_CHECKING:
    import torch

DEFAULT_TEACHER_LENGTH = 128


def teacher_scores(teacher_dir: Path, examples: Sequence[Example], device: torch.device) -> dict[Example, float]:
    """The teacher model directory's P(hate) for each example (its raw scores, on its training scale)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        config = ModelDir(teacher_dir).config
    except ModelError as exc:
        raise ModelError(f"teacher: {exc}") from exc
    if sorted(config.get("label2id", {})) != sorted(LABELS):
        raise ModelError(
            f"teacher {teacher_dir} does not predict {'/'.join(LABELS)} (label2id: {config.get('label2id')})"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
        model = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load teacher {teacher_dir}: {exc}") from exc
    model.to(device)
    max_length = int(config.get("max_seq_length") or DEFAULT_TEACHER_LENGTH)
    scores = score_examples(model, tokenizer, examples, max_length)
    return {example: float(score) for example, score in zip(examples, scores, strict=True)}
