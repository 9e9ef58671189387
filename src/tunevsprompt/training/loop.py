"""The training loop shared by the tuning arms: length-grouped batches, warm-up + decay,
gradient accumulation, dev evaluation with early stopping (best state kept), and a
checkpoint after every evaluation that a later run resumes from (its file format in
``checkpoint``).

What differs between the arms (which parameters train, how a batch becomes a loss: the LLM
arms' answer-only loss in ``answer_loss``, the encoder arms' classification and contrastive
losses) lives behind ``Trainable``; this loop knows none of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tunevsprompt.training.batches import length_grouped_batches, sorted_batches
from tunevsprompt.training.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from tunevsprompt.training.memory import PeakMemory

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TrainingSettings:
    """Hyperparameters of one training run (the arm's config, flattened)."""

    learning_rate: float
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 8
    gradient_accumulation: int = 1
    warmup_ratio: float = 0.06
    weight_decay: float = 0.0
    lr_schedule: Literal["linear", "cosine", "constant"] = "linear"
    max_grad_norm: float = 1.0
    eval_every_steps: int | None = None
    """Evaluate on dev (and checkpoint) every N optimizer steps; default once per epoch."""
    patience: int | None = 2
    """Stop after this many evaluations without improvement; None trains to the end."""
    select_on: Literal["loss", "primary"] = "loss"
    logging_steps: int = 10
    gradient_checkpointing: bool = False
    seed: int = 0
    evaluate_at_start: bool = False
    """Evaluate on dev before the first step too, so that the untrained weights are a
    candidate: training that never beats them on dev keeps them."""


class TrainingItem(Protocol):
    """One training example as the loop sees it: batches group items of similar length."""

    @property
    def length(self) -> int: ...


class Trainable(Protocol):
    """A model with the parameters to train, as the loop sees it."""

    device: str

    def parameters_to_train(self) -> dict[str, torch.nn.Parameter]: ...

    def batch_loss(self, items: Sequence[Any]) -> tuple[torch.Tensor, int, int]:
        """(mean loss, the weight of that mean: answer tokens or rows, tokens fed) of one
        batch of the trainable's own items."""
        ...

    def set_training(self, training: bool) -> None: ...


class TrainingObserver(Protocol):
    def training_progress(self, step: int, total: int, loss: float) -> None: ...
    def checkpoint_saved(self, step: int, path: Path) -> None: ...


class LogProgress:
    """Training progress as console lines of an arm."""

    def __init__(self, arm: str, log: Callable[[str], None]):
        self.arm, self.log = arm, log

    def training_progress(self, step: int, total: int, loss: float) -> None:
        self.log(f"{self.arm}: step {step}/{total}, loss {loss:.4f}")

    def checkpoint_saved(self, step: int, path: Path) -> None:
        self.log(f"{self.arm}: checkpoint at step {step}")


DevMetric = Callable[[], float]
"""The suite's primary metric on the dev split with the current weights (higher is better)."""


@dataclass
class TrainingOutcome:
    state: TrainingState
    best_weights: dict[str, torch.Tensor]
    record: dict[str, Any]


def plan_steps(n_batches: int, settings: TrainingSettings) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps)."""
    per_epoch = max(1, math.ceil(n_batches / settings.gradient_accumulation))
    if settings.max_steps is not None:
        return per_epoch, settings.max_steps
    return per_epoch, max(1, math.ceil(settings.epochs * per_epoch))


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier on the learning rate before optimizer step ``step`` (0-based)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def run_training(
    trainable: Trainable,
    train: Sequence[TrainingItem],
    dev: Sequence[TrainingItem],
    settings: TrainingSettings,
    checkpoint_path: Path,
    observer: TrainingObserver,
    dev_metric: DevMetric | None = None,
) -> TrainingOutcome:
    """Train, evaluating on dev every ``eval_every_steps``; resume from ``checkpoint_path``
    when it holds a checkpoint of this same run (the caller keys the folder by content)."""
    import torch

    if not train:
        raise ValueError("no training examples")
    params = trainable.parameters_to_train()
    optimizer = torch.optim.AdamW(
        list(params.values()), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    lengths = [e.length for e in train]
    first_epoch = length_grouped_batches(lengths, settings.batch_size, settings.seed, 0)
    per_epoch, total_steps = plan_steps(len(first_epoch), settings)
    warmup = round(settings.warmup_ratio * total_steps)
    eval_every = settings.eval_every_steps or per_epoch
    state = TrainingState()
    best: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in params.items()}
    if checkpoint_path.exists():
        state, best = load_checkpoint(checkpoint_path, params, optimizer)
        state.resumed_from_step = state.step
    memory = PeakMemory(trainable.device)
    memory.start()
    session_began = time.perf_counter()
    wall_before = state.wall_s
    pending: list[float] = []

    def log_loss() -> None:
        """One loss_curve point: the mean loss of the steps since the last one."""
        state.loss_curve.append(
            {
                "step": state.step,
                "loss": round(sum(pending) / len(pending), 6),
                "lr": optimizer.param_groups[0]["lr"],
            }
        )
        pending.clear()

    def set_lr(step: int) -> None:
        factor = lr_factor(step, total_steps, warmup, settings.lr_schedule)
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * factor

    if settings.evaluate_at_start and not state.dev_curve:
        _evaluate(trainable, dev, settings, state, params, best, dev_metric)
    trainable.set_training(True)
    while state.step < total_steps and not state.stopped_early:
        batches = length_grouped_batches(lengths, settings.batch_size, settings.seed, state.epoch)
        while state.batch_in_epoch < len(batches) and state.step < total_steps:
            window = batches[
                state.batch_in_epoch : state.batch_in_epoch + settings.gradient_accumulation
            ]
            began = time.perf_counter()
            set_lr(state.step)
            micro_losses = []
            for indices in window:
                loss, _count, tokens = trainable.batch_loss([train[i] for i in indices])
                (loss / len(window)).backward()  # type: ignore[no-untyped-call]
                micro_losses.append(float(loss.detach()))
                state.examples_seen += len(indices)
                state.tokens_seen += tokens
            if not all(math.isfinite(value) for value in micro_losses):
                optimizer.zero_grad(set_to_none=True)
                state.diverged_at_step, state.stopped_early = state.step + 1, True
                break
            torch.nn.utils.clip_grad_norm_(list(params.values()), settings.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.batch_in_epoch += len(window)
            state.train_s += time.perf_counter() - began
            pending.append(sum(micro_losses) / len(micro_losses))
            if state.step % settings.logging_steps == 0 or state.step == total_steps:
                log_loss()
                observer.training_progress(state.step, total_steps, state.loss_curve[-1]["loss"])
            at_epoch_end = state.batch_in_epoch >= len(batches)
            if at_epoch_end:
                state.epoch += 1
                state.batch_in_epoch = 0
            if state.step % eval_every == 0 or state.step == total_steps or at_epoch_end:
                _evaluate(trainable, dev, settings, state, params, best, dev_metric)
                trainable.set_training(True)
                state.wall_s = wall_before + time.perf_counter() - session_began
                save_checkpoint(checkpoint_path, state, params, best, optimizer)
                observer.checkpoint_saved(state.step, checkpoint_path)
            if state.stopped_early or at_epoch_end:
                break  # a new epoch gets its own batch order
    if pending:  # stopped early between logging points
        log_loss()
    trainable.set_training(False)
    state.wall_s = wall_before + time.perf_counter() - session_began
    record = _record(state, settings, per_epoch, total_steps, len(train), memory.peak_mb())
    return TrainingOutcome(state, best, record)


def dev_loss(trainable: Trainable, dev: Sequence[TrainingItem], batch_size: int) -> float:
    """Mean loss over ``dev``, weighted as each batch's loss says, without gradients."""
    import torch

    total, count = 0.0, 0
    trainable.set_training(False)
    with torch.inference_mode():
        for indices in sorted_batches([e.length for e in dev], batch_size):
            loss, n, _tokens = trainable.batch_loss([dev[i] for i in indices])
            total += float(loss) * n
            count += n
    return total / max(count, 1)


def _evaluate(
    trainable: Trainable,
    dev: Sequence[TrainingItem],
    settings: TrainingSettings,
    state: TrainingState,
    params: dict[str, torch.nn.Parameter],
    best: dict[str, torch.Tensor],
    dev_metric: DevMetric | None,
) -> None:
    """Score dev, keep the best weights, count evaluations without improvement."""
    if not dev:
        # Nothing to select on: the last weights are the result.
        best.update({k: v.detach().clone() for k, v in params.items()})
        state.best_step = state.step
        return
    loss = dev_loss(trainable, dev, settings.batch_size)
    point: dict[str, float | None] = {"step": state.step, "dev_loss": _finite(loss)}
    if settings.select_on == "primary" and dev_metric is not None:
        trainable.set_training(False)
        value = dev_metric()
        point["dev_metric"] = _finite(value)
        higher_is_better = True
    else:
        value, higher_is_better = loss, False
    value = round(value, 6)

    def beats(reference: float | None) -> bool:
        # A non-finite dev figure (diverged weights) is never the best.
        return math.isfinite(value) and (
            reference is None or (value > reference if higher_is_better else value < reference)
        )

    state.dev_curve.append(point)
    if beats(state.best_value):
        state.best_value, state.best_step = value, state.step
        best.update({k: v.detach().clone() for k, v in params.items()})
    if state.step == 0:
        return  # the untrained weights (evaluate_at_start): a candidate, not a patience mark
    # Patience counts evaluations without progress of the training itself, so untrained
    # weights that are hard to beat do not stop training before it has had its epochs.
    if beats(state.best_trained_value):
        state.best_trained_value, state.bad_evaluations = value, 0
    else:
        state.bad_evaluations += 1
        if settings.patience is not None and state.bad_evaluations >= settings.patience:
            state.stopped_early = True


def _finite(value: float) -> float | None:
    """Rounded for results.json, which has no NaN or infinity."""
    return round(value, 6) if math.isfinite(value) else None


def _record(
    state: TrainingState,
    settings: TrainingSettings,
    per_epoch: int,
    total_steps: int,
    n_train: int,
    peak_mb: float | None,
) -> dict[str, Any]:
    train_s = state.train_s
    return {
        "train_examples": n_train,
        "steps": state.step,
        "planned_steps": total_steps,
        "steps_per_epoch": per_epoch,
        "epochs": round(state.step / per_epoch, 4),
        "wall_s": round(state.wall_s, 3),
        "train_s": round(train_s, 3),
        "examples_per_s": round(state.examples_seen / train_s, 4) if train_s else None,
        "tokens_per_s": round(state.tokens_seen / train_s, 2) if train_s else None,
        "peak_memory_mb": peak_mb,
        "best_dev_metric": (
            {
                "name": "dev_metric" if settings.select_on == "primary" else "dev_loss",
                "value": state.best_value,
                "step": state.best_step,
            }
            if state.best_value is not None
            else None
        ),
        "stopped_early": state.stopped_early,
        "diverged_at_step": state.diverged_at_step,
        "resumed_from_step": state.resumed_from_step,
        "loss_curve": state.loss_curve,
        "dev_curve": state.dev_curve,
        "settings": asdict(settings),
    }
