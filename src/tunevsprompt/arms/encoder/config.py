"""Suite keys of the fine-tuned encoder arms: the encoder (the suite's kind of embedder),
the shared training keys with encoder-sized defaults, and each method's own."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.arms.capabilities import IntegrityCheckKeys, LearnsFromExamples, Sweepable
from tunevsprompt.arms.sweep import sweep_problems
from tunevsprompt.arms.training_keys import ANSWERING_KEYS, TrainingKeys
from tunevsprompt.retrieval.config import EmbedderConfig

FORGETTING_REASON = (
    "not applicable: this arm runs no language model; it trains its own small encoder for "
    "this task alone, so the suite's model keeps every ability it had"
)


class EncoderTuningConfig(
    ArmConfig, TrainingKeys, LearnsFromExamples, Sweepable, IntegrityCheckKeys
):
    """Keys both fine-tuned encoder arms have."""

    forgetting_reason: ClassVar[str | None] = FORGETTING_REASON
    answers_train_labels_only: ClassVar[bool] = True
    embedder: EmbedderConfig = Field(
        default_factory=EmbedderConfig,
        description="The sentence-transformers encoder to fine-tune (default: the packaged "
        "all-MiniLM-L6-v2, 22M parameters); a hub id or a folder for another.",
    )
    batch_size: int = Field(64, ge=1, description="Test inputs per encoder call.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW).")
    train_batch_size: int = Field(32, ge=1, description="Examples per forward/backward pass.")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps for linear warm-up.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    max_seq_length: int = Field(
        128, ge=8, description="Tokens of each input the encoder reads (longer inputs are cut)."
    )
    logging_steps: int = Field(5, ge=1, description="Optimizer steps per loss_curve point.")
    integrity_sample: int = Field(
        100_000,
        ge=1,
        description="Test examples answered by the frozen encoder too (the integrity check, "
        "and the paired test of tuned against frozen): by default all of them, as the frozen "
        "encoder answers in milliseconds.",
    )
    dev_limit: int = Field(1000, ge=1, description="Dev examples used for evaluation (stratified).")
    C: float = Field(
        10.0,
        gt=0,
        description="Inverse regularisation of the logistic-regression head (scikit-learn's "
        "C; L2), fitted on the encoder's embeddings of the train split. 10 beat 1 on "
        "Banking77's dev split at 4 examples per label (docs/arms/encoder.md).",
    )
    max_iter: int = Field(1000, ge=1, description="The head's solver iterations (lbfgs) at most.")

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if task_type != "classification":
            problems.append(
                (
                    "type",
                    f"{self.type} trains a classifier: it is for classification tasks only "
                    "(for generation, fine-tune the LLM with lora or soft-prompt, or compare "
                    "nearest-answer)",
                )
            )
        if self.sweep is not None:
            problems.extend(sweep_problems(self, self.sweep, ANSWERING_KEYS))
        return problems

    def training_identity(self) -> dict[str, Any]:
        """The keys that decide the trained weights: the training keys, the method's own and
        the encoder (its id and revision: where and how fast it embeds does not count)."""
        identity = self.model_dump(mode="json", exclude=ANSWERING_KEYS)
        identity["embedder"] = {
            k: v for k, v in identity["embedder"].items() if k in ("id", "revision")
        }
        return identity


class EncoderFinetuneConfig(EncoderTuningConfig):
    """Full fine-tuning: the head starts as the logistic regression on the frozen embeddings
    (linear probing, then fine-tuning), then every weight trains on cross-entropy."""

    type: Literal["encoder-finetune"] = "encoder-finetune"
    epochs: float = Field(4.0, gt=0, description="Passes over the train split.")


class SetFitConfig(EncoderTuningConfig):
    """SetFit: contrastive fine-tuning on pairs of training examples, then a logistic
    regression on the tuned embeddings."""

    type: Literal["setfit"] = "setfit"
    learning_rate: float = Field(2e-5, gt=0, description="Peak learning rate (AdamW).")
    epochs: float = Field(1.0, gt=0, description="Passes over the pairs.")
    train_batch_size: int = Field(16, ge=1, description="Pairs per forward/backward pass.")
    pair_rounds: int = Field(
        5,
        ge=1,
        description="Rounds of pair sampling (SetFit's num_iterations): each round pairs every "
        "training example with one of its label and one of another.",
    )
    select_on: Literal["loss", "primary"] = Field(
        "primary",
        description="Dev figure that picks the kept checkpoint: the pair loss on dev pairs, "
        "or the primary metric of the head fitted on the current embeddings (default).",
    )
