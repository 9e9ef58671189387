"""The settings every tuning arm has (LoRA and soft prompts add their own): training
hyperparameters, dev selection, integrity check, sweeps; and which of them decide the
trained weights (the training key)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from tunevsprompt.arms.capabilities import IntegrityCheckKeys, LearnsFromExamples, Sweepable
from tunevsprompt.arms.prompting import PromptingConfig
from tunevsprompt.arms.sweep import sweep_problems
from tunevsprompt.training.loop import TrainingSettings

_INFERENCE_KEYS = {
    "name",
    "decide",
    "parse",
    "max_new_tokens",
    "batch_size",
    "seeds",
    "train_sizes",
    "sweep",
    "integrity_sample",
    "integrity_min_changed",
    "measure_unmerged_latency",
    "merge",
    # A tuning arm always runs locally (rejected otherwise): these keys never change weights.
    "backend",
    "model",
    "base_url",
    "api_key_env",
}
"""Config keys that do not change the trained weights (so not part of the training key)."""


class TuningConfig(PromptingConfig, LearnsFromExamples, Sweepable, IntegrityCheckKeys):
    """Keys shared by the tuning arms (with the seeds, sweep and integrity-check keys)."""

    changes_weights: ClassVar[bool] = True

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        problems = super().problems_for_task(task_type)
        if self.backend != "local":
            problems.append(
                (
                    "backend",
                    "a tuning arm trains the suite's model here; it cannot run on an endpoint "
                    "(serve the result with `tvp export`, then compare it as backend: openai)",
                )
            )
        if self.sweep is not None:
            problems.extend(sweep_problems(self, self.sweep, _INFERENCE_KEYS))
        return problems

    show_labels: bool = Field(
        False,
        description="List the label set in the prompt. Off by default for tuned arms: the "
        "labels are learned, and the list would make every example hundreds of tokens longer.",
    )
    learning_rate: float = Field(2e-4, ge=0, description="Peak learning rate (AdamW).")
    epochs: float = Field(3.0, gt=0, description="Passes over the train split.")
    max_steps: int | None = Field(
        None, ge=1, description="Optimizer steps; overrides `epochs` when set."
    )
    train_batch_size: int = Field(8, ge=1, description="Examples per forward/backward pass.")
    gradient_accumulation: int = Field(
        1, ge=1, description="Passes per optimizer step (effective batch = both multiplied)."
    )
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Share of steps for linear warm-up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    lr_schedule: Literal["linear", "cosine", "constant"] = Field(
        "linear", description="Decay after warm-up."
    )
    max_seq_length: int = Field(
        512, ge=8, description="Longer examples lose prompt tokens from the left."
    )
    eval_every_steps: int | None = Field(
        None, ge=1, description="Dev evaluation + checkpoint interval; default: every epoch."
    )
    early_stopping_patience: int | None = Field(
        2, ge=1, description="Evaluations without dev improvement before stopping; null: never."
    )
    select_on: Literal["loss", "primary"] = Field(
        "loss",
        description="Dev figure that picks the kept checkpoint: answer loss (cheap) or the "
        "suite's primary metric (runs the arm's prediction on the dev sample each time).",
    )
    dev_limit: int = Field(256, ge=1, description="Dev examples used for evaluation (stratified).")
    logging_steps: int = Field(10, ge=1, description="Optimizer steps per loss_curve point.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, slower."
    )

    def training_settings(self, seed: int) -> TrainingSettings:
        return TrainingSettings(
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            max_steps=self.max_steps,
            batch_size=self.train_batch_size,
            gradient_accumulation=self.gradient_accumulation,
            warmup_ratio=self.warmup_ratio,
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            eval_every_steps=self.eval_every_steps,
            patience=self.early_stopping_patience,
            select_on=self.select_on,
            logging_steps=self.logging_steps,
            gradient_checkpointing=self.gradient_checkpointing,
            seed=seed,
        )

    def training_identity(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=_INFERENCE_KEYS)
