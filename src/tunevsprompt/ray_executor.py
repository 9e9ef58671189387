"""The Ray executor: each arm of a run is one Ray task (a unit), placed on the cluster with
the resources it needs and retried when its worker dies. Workers read the suite and data from
the same paths as the driver and write their finished arm into the run folder's `parts/`, so
a rerun redoes only the units that did not finish, exactly as a local run resumes: the run
folder, the suite's folder and the cache folder must be on storage every node shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tunevsprompt.errors import RunError
from tunevsprompt.runner import (
    ArmOutcome,
    ArmsRun,
    RunObserver,
    RunOptions,
    SilentObserver,
    run_arms,
)


@dataclass(frozen=True)
class Unit:
    """One unit of work, as it travels to a worker: plain paths and options."""

    suite_path: Path
    options: RunOptions
    run_dir: Path
    arm: str


@dataclass
class UnitLog(SilentObserver):
    """A worker's observer: keeps what the driver shows when the unit comes back."""

    messages: list[str] = field(default_factory=list)
    reused: bool = False

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
        self.reused = reused

    def message(self, text: str) -> None:
        self.messages.append(text)


def run_unit(unit: Unit) -> dict[str, Any]:
    """Runs on a worker: load the suite, sample the data (deterministic, so every worker
    sees the driver's examples), run or reuse the one arm."""
    from tunevsprompt.data import load_task_data
    from tunevsprompt.suite_loader import load_suite

    loaded = load_suite(unit.suite_path).select_arms([unit.arm])
    options = replace(unit.options, arms=[unit.arm], out=unit.run_dir)
    data = load_task_data(loaded, options.limit, options.train_limit)
    log = UnitLog()
    outcomes, model = run_arms(ArmsRun(loaded, options, data, unit.run_dir), [unit.arm], log)
    return {
        "outcome": asdict(outcomes[unit.arm]),
        "model": model,
        "reused": log.reused,
        "messages": log.messages,
    }


def _needs_gpu(arm_type: str) -> bool:
    return arm_type in {"lora", "soft-prompt"}


@dataclass
class RayExecutor:
    """``address``: an existing cluster (``ray start --head`` prints it; ``auto`` finds a
    local one); None starts a local Ray instance for this run."""

    address: str | None = None
    max_retries: int = 2
    """Times a unit is rerun after its worker dies (Ray's task retries)."""
    unit: Callable[[Unit], dict[str, Any]] = run_unit
    init_options: dict[str, Any] = field(default_factory=dict)

    def run(
        self, run: ArmsRun, observer: RunObserver
    ) -> tuple[dict[str, ArmOutcome], dict[str, Any]]:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, **self.init_options)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        remote = ray.remote(self.unit)
        run_dir = run.run_dir.resolve()
        pending: dict[Any, str] = {}
        for config in run.loaded.arms:
            gpu = 1 if gpus >= 1 and _needs_gpu(config.type) else 0
            task = remote.options(
                num_cpus=1, num_gpus=gpu, max_retries=self.max_retries, retry_exceptions=False
            )
            unit = Unit(run.loaded.path, run.options, run_dir, config.name)
            pending[task.remote(unit)] = config.name
        observer.message(
            f"ray: {len(pending)} units (one per arm) on {nodes} node(s), {gpus:g} GPU(s)"
        )
        finished: dict[str, ArmOutcome] = {}
        model: dict[str, Any] = {"device": None, "model": None}
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            name = pending[done[0]]
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayError as exc:
                raise RunError(f"arm {name}: its Ray unit failed: {exc}") from exc
            for text in result["messages"]:
                observer.message(f"[{name}] {text}")
            finished[name] = ArmOutcome(**result["outcome"])
            if result["model"].get("model") and not model.get("model"):
                model = result["model"]
            observer.arm_finished(name, finished[name].record, reused=result["reused"])
            observer.message(f"ray: {len(finished)}/{len(pending)} units done")
        return {c.name: finished[c.name] for c in run.loaded.arms}, model


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RunError(
            "--executor ray needs Ray: pip install 'tunevsprompt[ray]' (or ray on the cluster)"
        ) from exc
    return ray
