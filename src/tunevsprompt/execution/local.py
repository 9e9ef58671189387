"""The default executor: every unit in this process, one after another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunevsprompt.execution.base import (
    ArmOutcome,
    ArmsRun,
    GeneratorLoader,
    RunObserver,
    TrainableLoader,
    load_default_generator,
    load_hf_generator,
)
from tunevsprompt.execution.unit_runner import UnitRunner
from tunevsprompt.execution.units import Schedule


def schedule_for(run: ArmsRun) -> Schedule:
    return Schedule(list(run.loaded.arms), run.loaded.suite.sampling.seed, len(run.data.train))


@dataclass
class LocalExecutor:
    """The units one after another in this process, sharing one base model (the default)."""

    generator_loader: GeneratorLoader = load_default_generator
    trainable_loader: TrainableLoader = load_hf_generator

    def run(
        self, run: ArmsRun, observer: RunObserver
    ) -> tuple[dict[str, ArmOutcome], dict[str, Any]]:
        schedule = schedule_for(run)
        with UnitRunner(run, observer, self.generator_loader, self.trainable_loader) as runner:
            while units := schedule.take():
                for unit in units:
                    done = schedule.finish(runner.run_unit(unit))
                    if done is not None:
                        record = schedule.outcome(done).record
                        observer.arm_finished(done, record, schedule.arm_reused(done))
            model = runner.model_manifest()
        return {c.name: schedule.outcome(c.name) for c in run.loaded.arms}, model
