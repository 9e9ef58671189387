"""The Ray executor: each unit (one pass of one arm: the headline pass, another seed, a
learning-curve size, a sweep trial) is one Ray task, placed with the resources it needs and
retried when its worker dies. Workers read the suite and data from the same paths as the
driver and write their finished unit into the run folder's `parts/`, so a rerun redoes only
the units that did not finish, exactly as a local run resumes: the run folder, the suite's
folder and the cache folder must be on storage every node shares. Workers report progress
through a Ray queue, which the driver shows as one console for all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.errors import RunError, SuiteError
from tunevsprompt.execution.base import ArmOutcome, ArmsRun, RunObserver
from tunevsprompt.execution.local import schedule_for
from tunevsprompt.execution.ray_workers import UnitTask, run_unit
from tunevsprompt.execution.units import Unit, UnitResult
from tunevsprompt.generation.endpoint import is_hosted

__all__ = ["RayExecutor", "UnitTask", "run_unit", "unit_gpus"]

TRAINING_ARM_TYPES = {"lora", "soft-prompt"}


def unit_gpus(config: ArmConfig, cluster_gpus: float, train: float, generate: float) -> float:
    """GPUs a unit of this arm asks Ray for: ``train`` for the tuning arms, ``generate`` (a
    share: small models leave a GPU mostly idle) for arms that run the model here, none for
    arms on a hosted endpoint or on a cluster without GPUs."""
    if cluster_gpus <= 0 or is_hosted(config):
        return 0.0
    wanted = train if config.type in TRAINING_ARM_TYPES else generate
    return min(wanted, cluster_gpus)


def _relay(events: Any, observer: RunObserver) -> None:
    """Show what the workers reported since the last call."""
    waiting = events.qsize()
    if not waiting:
        return
    for kind, *args in events.get_nowait_batch(waiting):
        if kind == "message":
            observer.message(*args)
        else:
            getattr(observer, kind)(*args)


@dataclass
class RayExecutor:
    """``address``: an existing cluster (``ray start --head`` prints it; ``auto`` finds a
    local one); None starts a local Ray instance for this run."""

    address: str | None = None
    max_retries: int = 2
    """Times a unit is rerun after its worker dies (Ray's task retries)."""
    train_gpus: float = 1.0
    """GPUs per training unit (lora, soft-prompt) when the cluster has GPUs."""
    generate_gpus: float = 0.25
    """GPUs per unit that runs the model locally without training (a share: Ray packs
    several such units on one GPU)."""
    job_workers: int = 2
    """Workers that score a prompt search's candidates at once (each loads the model)."""
    job_cpus: float = 1.0
    """CPUs each of those workers asks Ray for."""
    unit: Callable[[UnitTask, Any], UnitResult] = run_unit
    init_options: dict[str, Any] = field(default_factory=dict)

    def run(
        self, run: ArmsRun, observer: RunObserver
    ) -> tuple[dict[str, ArmOutcome], dict[str, Any]]:
        ray = _import_ray()
        from ray.util.queue import Queue

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, **self.init_options)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        remote = ray.remote(self.unit)
        configs = {a.name: a for a in run.loaded.arms}
        run_dir = run.run_dir.resolve()
        schedule = schedule_for(run)
        events = Queue(actor_options={"num_cpus": 0})
        pending: dict[Any, Unit] = {}

        def submit(units: list[Unit]) -> None:
            for unit in units:
                gpu = unit_gpus(configs[unit.arm], gpus, self.train_gpus, self.generate_gpus)
                task = remote.options(
                    num_cpus=1, num_gpus=gpu, max_retries=self.max_retries, retry_exceptions=False
                )
                where = UnitTask(
                    run.loaded.path,
                    run.options,
                    run_dir,
                    unit,
                    self.job_workers,
                    self.job_cpus,
                    unit_gpus(configs[unit.arm], gpus, self.generate_gpus, self.generate_gpus),
                )
                pending[task.remote(where, events)] = unit

        try:
            submit(schedule.take())
            observer.message(
                f"ray: {schedule.total} units on {nodes} node(s), {gpus:g} GPU(s); "
                f"{len(pending)} can start now"
            )
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                _relay(events, observer)
                for ref in done:
                    unit = pending.pop(ref)
                    result = _result(ray, ref, unit)
                    arm = schedule.finish(result)
                    observer.message(
                        f"ray: {schedule.done}/{schedule.total} units done, {len(pending)} running"
                    )
                    if arm is not None:
                        observer.arm_finished(
                            arm, schedule.outcome(arm).record, schedule.arm_reused(arm)
                        )
                    submit(schedule.take())
            _relay(events, observer)
        finally:
            for ref in pending:  # a unit failed: the others' results would not be used
                ray.cancel(ref)
            events.shutdown()
        outcomes = {c.name: schedule.outcome(c.name) for c in run.loaded.arms}
        return outcomes, schedule.model_manifest()


def _result(ray: Any, ref: Any, unit: Unit) -> UnitResult:
    """The unit's result; a suite or run error inside it is raised as itself (so the CLI
    exits as it would locally), anything else names the unit."""
    try:
        result: UnitResult = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, (SuiteError, RunError)):
            raise exc.cause from None
        raise RunError(f"{unit.label}: its Ray unit failed: {exc}") from exc
    except ray.exceptions.RayError as exc:
        raise RunError(f"{unit.label}: its Ray unit failed: {exc}") from exc
    return result


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RunError(
            "--executor ray needs Ray: pip install 'tunevsprompt[ray]' (or ray on the cluster)"
        ) from exc
    return ray
