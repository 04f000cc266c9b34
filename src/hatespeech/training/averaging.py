"""Weight averaging: epoch averages (SWA), model soups, and WiSE-FT interpolation towards the start weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

State = dict[str, "torch.Tensor"]


def average_states(states: Sequence[State]) -> State:
    """Uniform model soup: the mean of floating-point weights (other buffers from the first state)."""
    average: State | None = None
    count = 0
    for state in states:
        average, count = update_average(average, state, count)
    assert average is not None
    return average


def update_average(average: State | None, state: State, count: int) -> tuple[State, int]:
    """Running mean of floating-point weights (stochastic weight averaging over epochs)."""
    if average is None:
        return {k: v.detach().clone() for k, v in state.items()}, 1
    count += 1
    for key, value in state.items():
        if value.is_floating_point():
            average[key] += (value.detach() - average[key]) / count
    return average, count


def interpolate(start: State, tuned: State, alpha: float) -> State:
    """WiSE-FT (Wortsman et al., 2022): ``(1 - alpha) * start + alpha * tuned`` for floating-point weights.

    ``start`` is the model before full fine-tuning (pre-trained encoder + the stage-1 head), ``tuned`` the
    fine-tuned one; ``alpha`` = 1 returns ``tuned`` itself. Moving back towards the pre-trained encoder keeps
    more of what it learnt from a billion sentence pairs, which fine-tuning on a few thousand texts erodes.
    """
    if alpha >= 1.0:
        return tuned
    return {
        key: (1 - alpha) * start[key] + alpha * value if value.is_floating_point() else value
        for key, value in tuned.items()
    }
