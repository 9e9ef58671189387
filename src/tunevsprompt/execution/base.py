"""What every executor shares: run options, the progress observer, the arms' outcomes, and
how the base model is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tunevsprompt.generation.base import Generator
from tunevsprompt.suite.loader import LoadedSuite
from tunevsprompt.task.data import TaskData

if TYPE_CHECKING:
    from tunevsprompt.generation.hf import HFGenerator

PARTS_DIR = "parts"
"""Finished units in the run folder, one JSON file each, reused by a rerun."""


class RunObserver(Protocol):
    """Progress sink: the CLI shows it with rich or plain lines; tests may record it.

    A unit is one pass of an arm (its label: ``lora``, ``lora@seed1``, ``lora@n50``,
    ``lora@trial2``); several may run at once on a cluster."""

    def unit_started(self, unit: str, total: int) -> None: ...
    def advanced(self, unit: str, count: int) -> None: ...
    def unit_finished(self, unit: str, reused: bool) -> None: ...
    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None: ...
    def message(self, text: str) -> None: ...


class SilentObserver:
    """A RunObserver that shows nothing (scripts, benchmarks, tests)."""

    def unit_started(self, unit: str, total: int) -> None:
        pass

    def advanced(self, unit: str, count: int) -> None:
        pass

    def unit_finished(self, unit: str, reused: bool) -> None:
        pass

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class ObserverProgress:
    """An arm's progress bar (``RunContext.progress``) as one more bar of the observer."""

    observer: RunObserver

    def start(self, label: str, total: int | None) -> None:
        self.observer.unit_started(label, total or 0)

    def advance(self, label: str, count: int) -> None:
        if count:
            self.observer.advanced(label, count)

    def finish(self, label: str) -> None:
        self.observer.unit_finished(label, reused=False)


@dataclass
class RunOptions:
    """What the CLI (or a script) can change about a run without editing the suite."""

    arms: list[str] | None = None
    limit: int | None = None
    train_limit: int | None = None
    out: Path | None = None
    device: str | None = None
    use_cache: bool = True
    cache_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ArmOutcome:
    record: dict[str, Any]
    samples: list[dict[str, Any]]
    visible_texts: list[str]
    probe_samples: list[dict[str, Any]] = field(default_factory=list)
    """Per-item forgetting-probe rows, base and tuned model side by side."""
    seed_samples: list[dict[str, Any]] = field(default_factory=list)
    """Per-example rows of the arm's further seeds (seed_samples.jsonl)."""


@dataclass
class ArmsRun:
    """What every arm of one run shares, handed to whichever executor runs the arms."""

    loaded: LoadedSuite
    options: RunOptions
    data: TaskData
    run_dir: Path


class Executor(Protocol):
    """Runs the arms of a run and returns their outcomes (in the suite's order) and the
    manifest of the base model they loaded, if any."""

    def run(
        self, run: ArmsRun, observer: RunObserver
    ) -> tuple[dict[str, ArmOutcome], dict[str, Any]]: ...


GeneratorLoader = Callable[[LoadedSuite, RunOptions], Generator]
TrainableLoader = Callable[[LoadedSuite, RunOptions], "HFGenerator"]


def load_default_generator(loaded: LoadedSuite, options: RunOptions) -> Generator:
    return load_hf_generator(loaded, options)


def load_hf_generator(loaded: LoadedSuite, options: RunOptions) -> HFGenerator:
    """A fresh copy of the suite's model (tuning arms train their own copy)."""
    from tunevsprompt.generation.hf import load_generator
    from tunevsprompt.generation.model_source import ModelSpec

    model = loaded.suite.model
    spec = ModelSpec(
        model.id, model.gguf_file, model.revision, options.device or model.device, model.dtype
    )
    return load_generator(spec)


def cache_dir(options: RunOptions) -> Path:
    from tunevsprompt.generation.model_source import cache_root

    return options.cache_dir or cache_root()


def prediction_cache_path(options: RunOptions) -> Path:
    return cache_dir(options) / "predictions.sqlite"
