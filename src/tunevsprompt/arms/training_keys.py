"""The training keys every tuned arm has (the LLM tuning arms and the fine-tuned encoders):
optimiser and schedule, length, dev evaluation and early stopping; ``training_settings``
flattens them for the shared loop (``training.loop``). Arms override a default by
redeclaring the field."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tunevsprompt.suite.strict import STRICT
from tunevsprompt.training.loop import TrainingSettings

ANSWERING_KEYS = {
    "name",
    "batch_size",
    "seeds",
    "train_sizes",
    "sweep",
    "integrity_sample",
    "integrity_min_changed",
}
"""Keys of every trained arm that do not change the trained weights (so not part of the
training key): how it answers and what is run around it."""


class TrainingKeys(BaseModel):
    """Keys of an arm trained by the shared loop."""

    model_config = STRICT
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (AdamW).")
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
        description="Dev figure that picks the kept checkpoint: the loss on dev (cheap) or the "
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
