"""The estimate of one `tvp compare` before it runs: the suite's arms as the run would select
them, its data checked first (bad data still fails before any model loads), then the plan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunevsprompt.errors import SuiteError
from tunevsprompt.estimate.plan import RunPlan, plan_run
from tunevsprompt.execution.base import RunOptions, load_default_generator
from tunevsprompt.generation.device import resolve_device
from tunevsprompt.suite.loader import LoadedSuite
from tunevsprompt.task.data import load_task_data
from tunevsprompt.task.data_checks import check_task_data


def estimate_run(
    loaded: LoadedSuite, options: RunOptions, say: Callable[[str], None]
) -> tuple[RunPlan, Any]:
    """The plan of the run ``options`` describe, and the suite's model if calibrating loaded
    it (hand it to the run so that it is not loaded twice)."""
    if options.arms:
        loaded = loaded.select_arms(options.arms)
    data = load_task_data(loaded, options.limit, options.train_limit)
    findings = check_task_data(loaded, data)
    if findings.problems:
        raise SuiteError(findings.problems)
    suite = loaded.suite
    run_dir = options.out or (Path(suite.output.dir) if suite.output.dir else None)
    device = resolve_device(options.device or suite.model.device)
    return plan_run(
        loaded,
        data,
        run_dir,
        options,
        device,
        lambda: load_default_generator(loaded, options),
        say,
    )
