"""The settings every LLM tuning arm has (LoRA and soft prompts add their own): the prompt
format, the training keys (``training_keys``), integrity check, sweeps; and which of them
decide the trained weights (the training key)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from tunevsprompt.arms.capabilities import IntegrityCheckKeys, LearnsFromExamples, Sweepable
from tunevsprompt.arms.prompting import PromptingConfig
from tunevsprompt.arms.sweep import sweep_problems
from tunevsprompt.arms.training_keys import ANSWERING_KEYS, TrainingKeys

_INFERENCE_KEYS = ANSWERING_KEYS | {
    "decide",
    "parse",
    "max_new_tokens",
    "measure_unmerged_latency",
    "merge",
    # A tuning arm always runs locally (rejected otherwise): these keys never change weights.
    "backend",
    "model",
    "base_url",
    "api_key_env",
}
"""Config keys that do not change the trained weights (so not part of the training key)."""


class TuningConfig(
    PromptingConfig, TrainingKeys, LearnsFromExamples, Sweepable, IntegrityCheckKeys
):
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

    def training_identity(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=_INFERENCE_KEYS)
