"""What a tuned arm does with the loop's outcome: stop on a diverged training that chose no
weights (or say which weights it kept), and put the best dev weights back in the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tunevsprompt.errors import RunError
from tunevsprompt.training.loop import TrainingOutcome

if TYPE_CHECKING:
    import torch


class TrainingDiverged(RunError):
    """The loss went NaN or infinite before any dev evaluation chose weights."""


def check_divergence(
    arm: str, outcome: TrainingOutcome, learning_rate: float, log: Callable[[str], None]
) -> None:
    """A loss that went NaN or infinite stops training. The best weights a dev evaluation
    picked before it are kept (and said so); with none, the arm fails."""
    state = outcome.state
    if state.diverged_at_step is None:
        return
    if state.best_step is None:
        raise TrainingDiverged(
            f"arm {arm}: training diverged (the loss was not finite at step "
            f"{state.diverged_at_step}) before any dev evaluation; lower learning_rate "
            f"(now {learning_rate:g}), raise warmup_ratio, or evaluate sooner (eval_every_steps)"
        )
    log(
        f"WARNING: arm {arm}: training diverged at step {state.diverged_at_step} "
        f"(learning_rate {learning_rate:g}); keeping the weights of step {state.best_step}, "
        "the best on dev before it"
    )


def keep_best(params: dict[str, torch.nn.Parameter], outcome: TrainingOutcome) -> None:
    """Copy the weights the dev evaluations chose into the trained parameters."""
    import torch

    with torch.no_grad():
        for name, value in outcome.best_weights.items():
            params[name].copy_(value)
