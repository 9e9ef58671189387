"""How an arm was trained (``arms.<name>.training``), and the passes beside the headline one:
``seeds`` (the seed study), ``learning_curve`` and ``sweep``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tunevsprompt.runfolder.results.base import Count, Flag, Interval, Num, OpenRecord, Record
from tunevsprompt.runfolder.results.figures import QualityFigure


class BestDevMetric(Record):
    """The dev figure the kept checkpoint was chosen on."""

    name: str | None = Field(None, description="dev_loss, or dev_metric (`select_on: primary`).")
    value: Num | None = Field(None, description="Its value at that step.")
    step: Count | None = Field(None, description="The optimizer step of the kept checkpoint.")


class LossPoint(Record):
    """Training loss averaged over `logging_steps`."""

    step: Count | None = Field(None, description="Optimizer step.")
    loss: Num | None = Field(None, description="Mean training loss since the previous point.")
    lr: Num | None = Field(None, description="Learning rate at that step.")


class DevPoint(Record):
    """One dev evaluation (null for a figure that was not finite)."""

    step: Count | None = Field(None, description="Optimizer step.")
    dev_loss: Num | None = Field(None, description="Loss on the dev sample.")
    dev_metric: Num | None = Field(
        None, description="The primary metric on the dev sample (`select_on: primary`)."
    )


class DevQualityPoint(Record):
    """The primary metric on the dev sample, with its 95% interval."""

    value: Num | None = Field(None, description="The metric.")
    ci95: Interval | None = Field(None, description="Its 95% interval.")


class DevQuality(Record):
    """Encoder arms: the dev sample answered before and after training."""

    metric: str | None = Field(None, description="The suite's primary metric.")
    n: Count | None = Field(None, description="Dev examples.")
    frozen: DevQualityPoint | None = Field(
        None,
        description="The frozen encoder under the logistic-regression head fitted on the "
        "train split (what training starts from).",
    )
    tuned: DevQualityPoint | None = Field(None, description="The trained model as it answers.")


class HeadRecord(Record):
    """Encoder arms: the logistic regression fitted on the encoder's embeddings."""

    kind: str | None = Field(None, description="logistic regression.")
    C: Num | None = Field(None, description="Its inverse regularisation strength.")
    iterations: Count | None = Field(None, description="Solver iterations.")
    converged: Flag | None = Field(None, description="The solver converged.")
    fit_s: Num | None = Field(None, description="Seconds embedding the train split and fitting.")


class TrainingRecord(OpenRecord):
    """Tuned arms (lora, soft-prompt, encoder-finetune, setfit) and embed-linear. Where and
    how it was trained stays with the adapter: a reused adapter reports the run that trained
    it."""

    device: str | None = Field(None, description="Training device.")
    precision: str | None = Field(None, description="Weights' and compute precision, in words.")
    train_examples: Count | None = Field(None, description="Training examples.")
    train_items: Count | None = Field(
        None, description="Encoder arms: items trained on (setfit: pairs of examples)."
    )
    truncated_examples: Count | None = Field(
        None, description="Examples whose prompt was cut to `max_seq_length`."
    )
    steps: Count | None = Field(
        None, description="Optimizer steps taken (embed-linear: solver iterations)."
    )
    planned_steps: Count | None = Field(None, description="Steps the schedule planned.")
    steps_per_epoch: Count | None = Field(None, description="Optimizer steps per epoch.")
    epochs: Num | None = Field(None, description="Epochs done (steps / steps_per_epoch).")
    wall_s: Num | None = Field(
        None, description="Seconds of training, dev evaluations included (priced as one-time)."
    )
    train_s: Num | None = Field(None, description="Seconds of optimizer steps alone.")
    examples_per_s: Num | None = Field(None, description="Training examples per second.")
    tokens_per_s: Num | None = Field(None, description="Training tokens per second.")
    peak_memory_mb: Num | None = Field(
        None,
        description="torch.cuda.max_memory_allocated on a GPU, the process's peak RSS during "
        "training on CPU.",
    )
    trainable_params: Count | None = Field(None, description="Parameters trained.")
    total_params: Count | None = Field(None, description="Parameters of the tuned model.")
    adapter_bytes: Count | None = Field(
        None, description="Size of the saved adapter (encoder arms: model)."
    )
    best_dev_metric: BestDevMetric | None = Field(
        None, description="The dev figure the kept checkpoint was chosen on."
    )
    stopped_early: Flag | None = Field(None, description="Early stopping ended training.")
    diverged_at_step: Count | None = Field(
        None, description="Step where the loss went NaN or infinite (null: it did not)."
    )
    resumed_from_step: Count | None = Field(
        None, description="Step of the checkpoint training resumed from (null: a fresh start)."
    )
    reused: Flag | None = Field(None, description="The adapter came from the adapter cache.")
    loss_curve: list[LossPoint] | None = Field(None, description="Training loss over steps.")
    dev_curve: list[DevPoint] | None = Field(None, description="Dev evaluations over steps.")
    settings: dict[str, Any] | None = Field(
        None, description="The training loop's settings (the arm's config, flattened)."
    )
    head: HeadRecord | None = Field(None, description="Encoder arms: the logistic regression.")
    dev_quality: DevQuality | None = Field(
        None, description="Encoder arms: the dev sample's primary metric, frozen and tuned."
    )
    converged: Flag | None = Field(None, description="embed-linear: the solver converged.")
    embed_s: Num | None = Field(
        None, description="embed-linear: seconds embedding the train split."
    )
    embeddings_reused: Flag | None = Field(
        None, description="embed-linear: embeddings came from the cache."
    )
    fit_s: Num | None = Field(None, description="embed-linear: seconds fitting the classifier.")


class TrainingSummary(Record):
    """What a further pass (a seed, a learning-curve point, a sweep trial) keeps of its
    training."""

    steps: Count | None = Field(None, description="Optimizer steps taken.")
    epochs: Num | None = Field(None, description="Epochs done.")
    wall_s: Num | None = Field(None, description="Seconds of training.")
    examples_per_s: Num | None = Field(None, description="Training examples per second.")
    best_dev_metric: BestDevMetric | None = Field(
        None, description="The dev figure the kept checkpoint was chosen on."
    )
    diverged_at_step: Count | None = Field(
        None, description="Step where the loss went NaN or infinite (null: it did not)."
    )
    reused: Flag | None = Field(None, description="The adapter came from the adapter cache.")


class PassSummary(Record):
    """One pass of an arm, kept as its summary."""

    seed: Count | None = Field(None, description="Seed study: the pass's seed.")
    train_size: Count | None = Field(None, description="Learning curve: training examples.")
    quality: QualityFigure | None = Field(None, description="Its headline metric on test.")
    n_train: Count | None = Field(
        None, description="Training examples (null for an arm that does not train)."
    )
    training: TrainingSummary | None = Field(None, description="Its training (null: none).")
    errors: Count | None = Field(None, description="Failed requests in the pass, when any.")


class SeedStudy(Record):
    """An arm run with several `seeds`: each seed's headline figure."""

    metric: str | None = Field(None, description="The headline metric.")
    values: list[Count] | None = Field(None, description="The seeds, in the order they ran.")
    mean: Num | None = Field(None, description="Mean of the per-seed figures.")
    std: Num | None = Field(None, description="Their standard deviation (n − 1).")
    per_seed: list[PassSummary] | None = Field(None, description="One entry per seed.")


CurvePoint = PassSummary
"""A learning-curve point: `train_size`, `quality`, `n_train`, `training`."""


class TrialAdapter(Record):
    """Where a sweep trial's adapter is."""

    path: str | None = Field(None, description="Folder relative to the run folder.")
    sha256: str | None = Field(None, description="sha256 over the adapter's files.")


class SweepTrial(Record):
    """One setting tried: trained on train (first seed), scored on the dev sample."""

    trial: Count | None = Field(None, description="Trial number, from 0.")
    params: dict[str, Any] | None = Field(None, description="The settings it tried.")
    dev: QualityFigure | None = Field(
        None, description="Primary metric on the dev sample (null when it diverged first)."
    )
    dev_examples: Count | None = Field(None, description="Dev examples scored.")
    training: TrainingSummary | None = Field(None, description="Its training.")
    adapter: TrialAdapter | None = Field(None, description="Its adapter.")
    diverged: str | None = Field(None, description="Why it stopped, when it diverged.")


class SweepRecord(Record):
    """A tuning arm's hyperparameter sweep. The arm's `config` is the winning one."""

    method: str | None = Field(None, description="grid or random.")
    seed: Count | None = Field(None, description="Seed of a random search.")
    space: dict[str, Any] | None = Field(None, description="The values tried per setting.")
    selected_on: str | None = Field(None, description="What the winner was chosen on, in words.")
    trials: list[SweepTrial] | None = Field(None, description="Every trial, in order.")
    best_trial: Count | None = Field(None, description="The winning trial's number.")
    chosen: dict[str, Any] | None = Field(None, description="The winning settings.")
