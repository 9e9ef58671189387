"""What runs on a Ray worker: one unit (``run_unit``), its observer (events sent to the
driver through a queue), and an arm's jobs (``RunContext.fan_out``).

A unit that splits into jobs (a prompt search, whose candidates of a rung are independent)
hands them to a pool of actors. Each actor opens the unit's arm once (loads the model,
builds the demonstrations' index) and then runs the jobs it is given, so a rung's
candidates are scored at once on as many workers as the pool has. The unit's process keeps
the search's state: each finished job is saved there as it returns, so a unit retried after
its worker died redoes only unfinished jobs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunevsprompt.execution.base import RunOptions
from tunevsprompt.execution.units import Unit, UnitResult

if TYPE_CHECKING:
    from tunevsprompt.execution.unit_runner import UnitRunner


@dataclass(frozen=True)
class UnitTask:
    """One unit as it travels to a worker: plain paths and options."""

    suite_path: Path
    options: RunOptions
    run_dir: Path
    unit: Unit
    job_workers: int = 2
    """Actors that run the unit's jobs, if it splits into jobs (a prompt search)."""
    job_cpus: float = 1.0
    job_gpus: float = 0.0


@dataclass
class QueueObserver:
    """A worker's observer: sends every event to the driver through a Ray queue (or drops
    them when there is none). Messages are prefixed with the unit: several run at once."""

    events: Any = None
    label: str = ""

    def _send(self, *event: Any) -> None:
        if self.events is not None:
            self.events.put_nowait(event)

    def unit_started(self, unit: str, total: int) -> None:
        self._send("unit_started", unit, total)

    def advanced(self, unit: str, count: int) -> None:
        self._send("advanced", unit, count)

    def unit_finished(self, unit: str, reused: bool) -> None:
        self._send("unit_finished", unit, reused)

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
        pass  # the driver merges an arm's units and reports it

    def message(self, text: str) -> None:
        self._send("message", f"[{self.label}] {text}" if self.label else text)


def run_unit(task: UnitTask, events: Any = None) -> UnitResult:
    """Runs on a worker: load the suite, sample the data (deterministic, so every worker
    sees the driver's examples), run or reuse the one unit. A unit that splits into jobs
    (a prompt search) runs them on a pool of ``task.job_workers`` actors."""
    workers = JobWorkers(task, task.job_workers, task.job_cpus, task.job_gpus, events)
    try:
        with open_runner(task, events, workers) as runner:
            return runner.run_unit(task.unit)
    finally:
        workers.close()


def open_runner(
    task: UnitTask, events: Any = None, workers: JobWorkers | None = None
) -> UnitRunner:
    """A UnitRunner for the task's unit, as a worker sees the run: the suite and data loaded
    from the same paths as the driver (sampling is deterministic, so every worker sees the
    driver's examples). Close it when done (it holds the prediction cache)."""
    from tunevsprompt.execution.base import ArmsRun
    from tunevsprompt.execution.unit_runner import UnitRunner
    from tunevsprompt.suite.loader import load_suite
    from tunevsprompt.task.data import load_task_data

    arm = task.unit.arm
    loaded = load_suite(task.suite_path).select_arms([arm])
    options = replace(task.options, arms=[arm], out=task.run_dir)
    data = load_task_data(loaded, options.limit, options.train_limit)
    run = ArmsRun(loaded, options, data, task.run_dir)
    observer = QueueObserver(events, task.unit.label)
    return UnitRunner(run, observer, fan_out_for=(lambda unit: workers) if workers else None)


class JobWorker:
    """A Ray actor: the unit's arm, opened once, running one job at a time."""

    def __init__(self, task: UnitTask, events: Any = None):
        self.runner = open_runner(task, events)
        self.arm = self.runner.worker_arm(task.unit)

    def run(self, index: int, job: Any) -> tuple[int, Any]:
        return index, self.arm.run_job(job)


@dataclass
class JobWorkers:
    """The unit's pool of JobWorker actors, started on its first jobs and kept for the
    rest of the unit (each actor loads the model once)."""

    task: UnitTask
    count: int
    cpus: float = 1.0
    gpus: float = 0.0
    events: Any = None
    """The driver's event queue (the workers' messages are shown there)."""
    _actors: list[Any] = field(default_factory=list)

    def __call__(self, jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if not jobs:
            return
        import ray
        from ray.util.actor_pool import ActorPool

        if not self._actors:
            # A worker that dies is restarted and its job retried (jobs are idempotent).
            actor = ray.remote(JobWorker).options(
                num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=2, max_task_retries=2
            )
            self._actors = [actor.remote(self.task, self.events) for _ in range(self.count)]
        pool = ActorPool(self._actors)
        yield from pool.map_unordered(
            lambda worker, item: worker.run.remote(*item), list(enumerate(jobs))
        )

    def close(self) -> None:
        if not self._actors:
            return
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
