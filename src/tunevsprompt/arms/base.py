"""The one door every arm goes through: a config model and an object with prepare/predict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from tunevsprompt.types import Example, Prediction

if TYPE_CHECKING:
    from tunevsprompt.generation.base import Generator
    from tunevsprompt.labels import LabelSet


class ArmConfig(BaseModel):
    """Keys every arm has. Arm types subclass this with their own documented fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="Unique name of the arm in this suite, used in results.")
    type: str = Field(description="Arm type.")

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        """(key, message) pairs for settings that cannot work with this task type."""
        return []


@dataclass
class TaskInfo:
    """What an arm needs to know about the task, independent of where the data came from."""

    type: str
    instruction: str
    labels: LabelSet | None


@dataclass
class RunContext:
    """Shared services for arms. The generator is loaded lazily, on first use."""

    task: TaskInfo
    seed: int
    run_dir: Path
    generator_factory: Callable[[], Generator]
    _generator: Generator | None = None

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = self.generator_factory()
        return self._generator


class Arm(Protocol):
    """An arm prepares once on the train split, then predicts batches of eval examples.

    ``prepare`` returns extra records for results.json (e.g. ``{"few_shot": {...}}``); keys
    become ``arms.<name>.<key>``. ``predict`` returns one Prediction per example, in order.
    """

    config_model: ClassVar[type[ArmConfig]]
    name: str

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]: ...

    def predict(self, batch: Sequence[Example]) -> list[Prediction]: ...

    def visible_texts(self) -> list[str]:
        """Texts from outside the eval set that this arm shows the model (for contamination)."""
        ...
