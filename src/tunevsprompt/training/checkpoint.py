"""The state of a training run and its checkpoint: one file holding the state, the
trainable weights, the best weights so far, the optimizer and the random generators, so an
interrupted training resumes exactly where it stopped."""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = 1


@dataclass
class TrainingState:
    """Everything a resumed run needs besides the weights and optimizer."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    examples_seen: int = 0
    tokens_seen: int = 0
    train_s: float = 0.0
    wall_s: float = 0.0
    best_value: float | None = None
    best_step: int | None = None
    best_trained_value: float | None = None
    """The best dev figure after a training step (patience counts from it)."""
    bad_evaluations: int = 0
    stopped_early: bool = False
    loss_curve: list[dict[str, float]] = field(default_factory=list)
    dev_curve: list[dict[str, float | None]] = field(default_factory=list)
    resumed_from_step: int | None = None
    diverged_at_step: int | None = None
    """The step whose loss was not finite (NaN or inf): training stopped there, without
    applying it, and the best weights evaluated before it are the result."""


def save_checkpoint(
    path: Path,
    state: TrainingState,
    params: dict[str, torch.nn.Parameter],
    best: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> None:
    """One file, written to a temporary sibling and renamed: a kill leaves the old one."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state": asdict(state),
        "weights": {k: v.detach().cpu() for k, v in params.items()},
        "best": {k: v.cpu() for k, v in best.items()},
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(
    path: Path, params: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer
) -> tuple[TrainingState, dict[str, torch.Tensor]]:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    if payload.get("format") != CHECKPOINT_FORMAT or set(payload["weights"]) != set(params):
        raise ValueError(f"{path} is not a checkpoint of this training run")
    with torch.no_grad():
        for name, value in payload["weights"].items():
            params[name].copy_(value.to(params[name].device))
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["torch_rng"])
    random.setstate(payload["python_rng"])
    device = next(iter(params.values())).device
    best = {k: v.to(device) for k, v in payload["best"].items()}
    return TrainingState(**payload["state"]), best
