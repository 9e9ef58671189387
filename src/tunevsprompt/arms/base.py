"""The one door every arm goes through: a config model and an object with prepare/predict."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from tunevsprompt.arms.capabilities import LearnsFromExamples
from tunevsprompt.suite.strict import STRICT
from tunevsprompt.task.types import Example, Prediction

__all__ = [
    "Arm",
    "ArmConfig",
    "FanOut",
    "LearnsFromExamples",
    "NoProgress",
    "Progress",
    "RunContext",
    "RunsJobs",
    "TaskInfo",
]

if TYPE_CHECKING:
    from tunevsprompt.arms.hosted import HostedModel
    from tunevsprompt.generation.base import Generator
    from tunevsprompt.generation.endpoint import EndpointDefaults, HostedArmKeys
    from tunevsprompt.generation.hf import HFGenerator
    from tunevsprompt.task.labels import LabelSet


class ArmConfig(BaseModel):
    """Keys every arm has. Arm types subclass this with their own documented fields; the
    mixins in ``arms.capabilities`` add the keys the runner reads (seeds and learning curve,
    integrity check, sweep)."""

    model_config = STRICT
    name: str = Field(description="Unique name of the arm in this suite, used in results.")
    type: str = Field(description="Arm type.")
    batch_size: int = Field(
        8, ge=1, description="Eval examples per predict call (the runner's batches)."
    )
    changes_weights: ClassVar[bool] = False
    """Arms that train the model (LoRA, soft prompts) can forget; the others cannot. An arm
    whose config sets it must be a ``ProbedArm`` (``arms.capabilities``)."""
    forgetting_reason: ClassVar[str | None] = None
    """Why an arm that changes no weight of the suite's model has nothing to forget, when the
    general reason does not fit (an arm that trains a model of its own)."""

    answers_train_labels_only: ClassVar[bool] = False
    """The arm's label space is the labels of its train examples (a classifier head, a
    neighbours' vote): a test label absent from train is one it can never give."""

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        """(key, message) pairs for settings that cannot work with this task type."""
        return []

    def arm_references(self) -> dict[tuple[str | int, ...], str]:
        """Other arms of the suite this arm names, as ``{key path inside the arm: name}``;
        the loader checks that each is an arm of the suite."""
        return {}

    def data_paths(self) -> dict[str, str]:
        """Files or folders this arm reads, as ``{key path inside the arm: path relative to
        the suite's folder}``. The loader checks they exist inside the folder, and their
        contents are part of the key that lets a rerun reuse a finished arm."""
        return {}

    def problems_for_data(self, folder: Path) -> list[tuple[str, str, str | None]]:
        """(key, message, hint) for data files that cannot be used (checked at load time,
        after ``data_paths`` exist)."""
        return []

    def shown_texts(self, folder: Path) -> list[str]:
        """Texts of this arm's own data files that the model may be shown (a RAG corpus),
        for the test-overlap check that runs before anything expensive."""
        return []


@dataclass
class TaskInfo:
    """What an arm needs to know about the task, independent of where the data came from."""

    type: str
    instruction: str
    labels: LabelSet | None
    primary_metric: str = "accuracy"
    target_field: str = "label"
    """The data's name for the target, so an arm key may refer to it like any other field."""


def _no_log(text: str) -> None:
    return None


def _no_trainable_base() -> HFGenerator:
    raise NotImplementedError("this run has no trainable model loader")


FanOut = Callable[[Sequence[Any]], Iterator[tuple[int, Any]]]
"""Runs an arm's jobs elsewhere (``--executor ray``): each job goes to the arm's ``run_job``
on a worker that opened the same arm with ``open_worker`` (``capabilities.RunsJobs``);
yields ``(index of the job, its result)`` as each finishes, in any order."""


@runtime_checkable
class RunsJobs(Protocol):
    """An arm whose ``prepare`` splits into independent jobs (a prompt search scores each
    candidate of a rung as one job). Under ``--executor ray`` it sends them through
    ``ctx.fan_out``: each worker builds the same arm, calls ``open_worker`` once (what the
    jobs need, without preparing: the model, the demonstrations' index) and then
    ``run_job`` for each job it is given. Jobs and results must pickle."""

    def open_worker(self, train: Sequence[Example], ctx: RunContext) -> None: ...
    def run_job(self, job: Any) -> Any: ...


class Progress(Protocol):
    """A progress bar an arm may show while it prepares (a prompt search's model calls)."""

    def start(self, label: str, total: int | None) -> None: ...
    def advance(self, label: str, count: int) -> None: ...
    def finish(self, label: str) -> None: ...


class NoProgress:
    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, label: str, count: int) -> None:
        pass

    def finish(self, label: str) -> None:
        pass


def _plain_config_error(key: str, message: str, hint: str | None = None) -> Exception:
    from tunevsprompt.errors import RunError

    return RunError(f"{key}: {message}" + (f" ({hint})" if hint else ""))


@dataclass
class RunContext:
    """Shared services for arms. The generator is loaded lazily, on first use.

    ``generator`` is the base model behind the prediction cache. Arms that change weights
    ask ``load_trainable_base`` for their own fresh copy, and wrap what they build with
    ``cached`` so their predictions are cached (under their own fingerprint) and counted
    like everyone else's.
    """

    task: TaskInfo
    seed: int
    run_dir: Path
    generator_factory: Callable[[], Generator]
    dev: Sequence[Example] = ()
    cache_dir: Path | None = None
    """Root for caches that outlive a run (trained adapters, checkpoints)."""
    use_cache: bool = True
    load_trainable_base: Callable[[], HFGenerator] = _no_trainable_base
    cached: Callable[[Generator], Generator] = lambda g: g
    log: Callable[[str], None] = _no_log
    variant: str = ""
    """Suffix naming this arm run among several (another seed, a learning-curve size)."""
    data_root: Path | None = None
    """The suite's folder: arm data paths (a corpus) are relative to it."""
    device: str = "auto"
    """The run's device choice, for models an arm loads itself (an embedder)."""
    config_error: Callable[[str, str, str | None], Exception] = _plain_config_error
    """Builds the error for a bad arm setting found at run time: (key inside the arm,
    message, hint) → an error naming the suite file, line and key path (exit code 2)."""
    endpoints: EndpointDefaults | None = None
    """The suite's `openai:` block: defaults for arms with backend: openai."""
    arms: Sequence[ArmConfig] = ()
    """Every arm of the suite, as configured (an arm may start from another's settings)."""
    fan_out: FanOut | None = None
    """Where the arm's jobs run (a cluster's workers); None: here, one after another."""
    progress: Progress = field(default_factory=NoProgress)
    """Progress bars for long preparations (the console's, when there is one)."""
    _generator: Generator | None = None

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = self.generator_factory()
        return self._generator

    def open_hosted(self, keys: HostedArmKeys) -> HostedModel:
        """An arm's model behind an OpenAI-compatible endpoint, behind the prediction cache."""
        from tunevsprompt.arms.hosted import open_hosted

        return open_hosted(keys, self.endpoints, self)


class Arm(Protocol):
    """An arm prepares once on the train split, then predicts batches of eval examples.

    The class is built with its config (an instance of ``config_model``, validated from the
    suite). ``prepare`` returns extra records for results.json (e.g. ``{"few_shot": {...}}``);
    keys become ``arms.<name>.<key>``. ``predict`` returns one Prediction per example, in
    order. What else an arm may offer the runner is declared in ``arms.capabilities``.
    """

    config_model: ClassVar[type[ArmConfig]]
    name: str

    def __init__(self, config: ArmConfig) -> None: ...

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]: ...

    def predict(self, batch: Sequence[Example]) -> list[Prediction]: ...

    def visible_texts(self) -> list[str]:
        """Texts from outside the eval set that this arm shows the model (for contamination)."""
        ...
