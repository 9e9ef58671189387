"""tunevsprompt: prompt it, retrieve for it, or fine-tune it? Measure, then decide.

The public API, for scripts, notebooks and plugins::

    from tunevsprompt import RunOptions, SilentObserver, load_suite, run_compare

    run_dir = run_compare(load_suite("suite.yaml"), RunOptions(), SilentObserver())
    results = load_results(run_dir)  # typed: results.arms["lora"].quality, .recommendation

A new arm is an ``ArmConfig`` subclass (its suite keys) and a class that satisfies ``Arm``
(``prepare``, ``predict``, ``visible_texts``), registered with ``register_arm`` or as an entry
point in the group ``tunevsprompt.arms``; what else the runner can use of an arm is declared
by the capability Protocols and config mixins below (``tunevsprompt.arms.capabilities``). A
new metric is a per-example function, registered with ``register_metric`` or as a ``Metric``
in the entry-point group ``tunevsprompt.metrics``.

Names are imported on first use, so ``import tunevsprompt`` loads no model library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from tunevsprompt.arms.base import Arm, ArmConfig, RunContext, TaskInfo
    from tunevsprompt.arms.capabilities import (
        ChecksIntegrity,
        HasDevSample,
        HasLatencyVariants,
        IntegrityCheckKeys,
        LearnsFromExamples,
        PredictFunction,
        ProbedArm,
        RecordsEndpoint,
        RecordsRetrieval,
        Sweepable,
    )
    from tunevsprompt.arms.registry import arm_types, get_arm_type, register_arm, unregister_arm
    from tunevsprompt.errors import RegistryError, RunError, SuiteError
    from tunevsprompt.execution.base import RunObserver, RunOptions, SilentObserver
    from tunevsprompt.generation.base import DecodingSettings, Generator
    from tunevsprompt.measure.metric_registry import (
        Metric,
        MetricFunction,
        known_metrics,
        register_metric,
        unregister_metric,
    )
    from tunevsprompt.runfolder.read import RunFolderError, load_results
    from tunevsprompt.runfolder.results import Results
    from tunevsprompt.runner import run_compare
    from tunevsprompt.suite.loaded import LoadedSuite
    from tunevsprompt.suite.loader import load_suite
    from tunevsprompt.task.labels import LabelSet
    from tunevsprompt.task.types import Example, Generation, Message, Prediction, Prompt, Scores

_HOMES: dict[str, str] = {
    # arms: the contract, the capabilities, the registry
    "Arm": "tunevsprompt.arms.base",
    "ArmConfig": "tunevsprompt.arms.base",
    "RunContext": "tunevsprompt.arms.base",
    "TaskInfo": "tunevsprompt.arms.base",
    "ChecksIntegrity": "tunevsprompt.arms.capabilities",
    "HasDevSample": "tunevsprompt.arms.capabilities",
    "HasLatencyVariants": "tunevsprompt.arms.capabilities",
    "IntegrityCheckKeys": "tunevsprompt.arms.capabilities",
    "LearnsFromExamples": "tunevsprompt.arms.capabilities",
    "PredictFunction": "tunevsprompt.arms.capabilities",
    "ProbedArm": "tunevsprompt.arms.capabilities",
    "RecordsEndpoint": "tunevsprompt.arms.capabilities",
    "RecordsRetrieval": "tunevsprompt.arms.capabilities",
    "Sweepable": "tunevsprompt.arms.capabilities",
    "arm_types": "tunevsprompt.arms.registry",
    "get_arm_type": "tunevsprompt.arms.registry",
    "register_arm": "tunevsprompt.arms.registry",
    "unregister_arm": "tunevsprompt.arms.registry",
    # what arms work with
    "Example": "tunevsprompt.task.types",
    "Generation": "tunevsprompt.task.types",
    "Message": "tunevsprompt.task.types",
    "Prediction": "tunevsprompt.task.types",
    "Prompt": "tunevsprompt.task.types",
    "Scores": "tunevsprompt.task.types",
    "LabelSet": "tunevsprompt.task.labels",
    "DecodingSettings": "tunevsprompt.generation.base",
    "Generator": "tunevsprompt.generation.base",
    # metrics
    "Metric": "tunevsprompt.measure.metric_registry",
    "MetricFunction": "tunevsprompt.measure.metric_registry",
    "known_metrics": "tunevsprompt.measure.metric_registry",
    "register_metric": "tunevsprompt.measure.metric_registry",
    "unregister_metric": "tunevsprompt.measure.metric_registry",
    # running
    "LoadedSuite": "tunevsprompt.suite.loaded",
    "load_suite": "tunevsprompt.suite.loader",
    "RunObserver": "tunevsprompt.execution.base",
    "RunOptions": "tunevsprompt.execution.base",
    "SilentObserver": "tunevsprompt.execution.base",
    "run_compare": "tunevsprompt.runner",
    # reading a run folder
    "Results": "tunevsprompt.runfolder.results",
    "load_results": "tunevsprompt.runfolder.read",
    "RunFolderError": "tunevsprompt.runfolder.read",
    # errors
    "RegistryError": "tunevsprompt.errors",
    "RunError": "tunevsprompt.errors",
    "SuiteError": "tunevsprompt.errors",
}
"""Where each public name lives; imported by ``__getattr__`` on first use (PEP 562)."""

__all__ = [
    "Arm",
    "ArmConfig",
    "ChecksIntegrity",
    "DecodingSettings",
    "Example",
    "Generation",
    "Generator",
    "HasDevSample",
    "HasLatencyVariants",
    "IntegrityCheckKeys",
    "LabelSet",
    "LearnsFromExamples",
    "LoadedSuite",
    "Message",
    "Metric",
    "MetricFunction",
    "PredictFunction",
    "Prediction",
    "ProbedArm",
    "Prompt",
    "RecordsEndpoint",
    "RecordsRetrieval",
    "RegistryError",
    "Results",
    "RunContext",
    "RunError",
    "RunFolderError",
    "RunObserver",
    "RunOptions",
    "Scores",
    "SilentObserver",
    "SuiteError",
    "Sweepable",
    "TaskInfo",
    "__version__",
    "arm_types",
    "get_arm_type",
    "known_metrics",
    "load_results",
    "load_suite",
    "register_arm",
    "register_metric",
    "run_compare",
    "unregister_arm",
    "unregister_metric",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tunevsprompt' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
