"""What an arm may offer beyond ``prepare`` and ``predict``, declared in one place.

Two kinds of capability:

- **Arm capabilities** are runtime-checkable Protocols. The runner asks
  ``isinstance(arm, Capability)`` after ``prepare`` and uses what the arm offers; an arm
  that lacks one simply does not get that part of the record. Implement the methods on the
  arm class; no base class is needed.
- **Config capabilities** are pydantic mixins. An arm's config model inherits them to accept
  their suite keys (documented on each field), and the runner reads them through the mixin
  (``isinstance(config, Mixin)``). A config without the mixin rejects those keys, as every
  unknown key is rejected.

``ArmConfig.batch_size`` (examples per ``predict`` call) is on every arm's config. One more
arm capability, ``base.RunsJobs`` (jobs run on a cluster's workers), sits beside the
``RunContext`` it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from tunevsprompt.arms.sweep import SweepConfig
from tunevsprompt.generation.base import Generator
from tunevsprompt.suite.strict import STRICT, Seed
from tunevsprompt.task.types import Example, Prediction

__all__ = [
    "ChecksIntegrity",
    "HasDevSample",
    "HasLatencyVariants",
    "IntegrityCheckKeys",
    "LearnsFromExamples",
    "PredictFunction",
    "ProbedArm",
    "RecordsEndpoint",
    "RecordsRetrieval",
    "Sweepable",
]

PredictFunction = Callable[[Sequence[Example]], list[Prediction]]
"""A batch of examples in, one Prediction per example out, in order (like ``Arm.predict``)."""


# -- arm capabilities (Protocols on the arm object) ---------------------------------------


@runtime_checkable
class HasLatencyVariants(Protocol):
    """Other ways to serve the same arm whose latency is worth timing too (a LoRA adapter
    unmerged beside merged). Each variant is timed like ``predict`` on the same sample and
    recorded as ``arms.<name>.latency_variants.<variant>``."""

    def latency_variants(self) -> dict[str, PredictFunction]: ...


@runtime_checkable
class ChecksIntegrity(Protocol):
    """An arm that changes the model can show what the unchanged model answers. The runner
    compares ``base_predict`` with the arm's predictions on the first ``integrity_sample``
    test examples and warns when too few differ (an adapter that did nothing or was not
    applied); the check is recorded as ``arms.<name>.integrity``. Its settings come from
    ``IntegrityCheckKeys`` when the arm's config has them (defaults otherwise)."""

    def base_predict(self, batch: Sequence[Example]) -> list[Prediction]: ...


@runtime_checkable
class RecordsRetrieval(Protocol):
    """An arm that retrieves (passages, demonstrations, neighbours) reports on it:
    ``retrieval_record`` gets the test examples' ids in order and returns
    ``arms.<name>.retrieval`` (the index, its timings, hit@k), or None for nothing."""

    def retrieval_record(self, example_ids: Sequence[str]) -> dict[str, Any] | None: ...


@runtime_checkable
class RecordsEndpoint(Protocol):
    """An arm answered by a hosted endpoint reports where, which model, and what its
    requests met (retries, rate limits, errors) as ``arms.<name>.api``; None when the arm
    ran locally."""

    def api_record(self) -> dict[str, Any] | None: ...


@runtime_checkable
class HasDevSample(Protocol):
    """The dev examples the arm judged itself on while preparing (a tuning arm's early
    stopping). A sweep trial is scored on them, so that the trials are compared on what
    each was selected on; when the arm has none (an empty list), on the run's dev split."""

    dev_sample: Sequence[Example]


@runtime_checkable
class ProbedArm(Protocol):
    """An arm whose config says ``changes_weights`` exposes the model it answers with, for
    the forgetting probes (which run once on the base model and once on this one)."""

    def probe_generator(self) -> Generator:
        """The changed model as the arm answers with it."""
        ...

    def probed_as(self) -> str:
        """How the model was probed, in words, for the report."""
        ...


# -- config capabilities (pydantic mixins on the arm's config model) ----------------------


class LearnsFromExamples(BaseModel):
    """Keys of arms whose result depends on which training examples (and seed) they get."""

    model_config = STRICT
    seeds: list[Seed] | None = Field(
        None,
        min_length=1,
        description="Run the arm once per seed and report mean and standard deviation across "
        "seeds beside the per-seed figures. The first seed gives the headline figures.",
    )
    train_sizes: list[Annotated[int, Field(ge=1)] | Literal["all"]] | None = Field(
        None,
        min_length=1,
        description="Learning curve: also run the arm on stratified subsets of the train split "
        "of these sizes ('all' = the whole split) and record quality with CI per size.",
    )


class IntegrityCheckKeys(BaseModel):
    """Settings of the integrity check of an arm that ``ChecksIntegrity``."""

    model_config = STRICT
    integrity_sample: int = Field(
        32, ge=1, description="Test examples on which the tuned arm is compared with the base."
    )
    integrity_min_changed: float = Field(
        0.2,
        ge=0,
        le=1,
        description="The integrity check fails when fewer than this share of the sampled "
        "outputs differ from the base model's.",
    )


class Sweepable(BaseModel):
    """A config whose other keys a hyperparameter sweep may vary: one trial per setting,
    each prepared on the train split and scored on the dev sample (``HasDevSample``); the
    best trial's settings become the arm. The config should check its sweep in
    ``problems_for_task`` (``tunevsprompt.arms.sweep.sweep_problems``)."""

    model_config = STRICT
    sweep: SweepConfig | None = Field(
        None,
        description="Hyperparameter search: train one trial per setting (grid or random), "
        "keep the one with the best primary metric on the dev sample, report all trials.",
    )
