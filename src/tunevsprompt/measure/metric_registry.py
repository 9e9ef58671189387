"""Metrics a suite may name as ``metrics.primary``: the built-ins (``measure.metrics``), user
metrics registered in-process with ``register_metric``, and plugins (entry points group
``tunevsprompt.metrics``, each pointing to a ``Metric``).

A user metric is a per-example function ``(prediction, target) -> float`` in [0, 1]. The arm's
figure is its mean over the test examples, with the same interval as the built-in graded
metrics (Clopper-Pearson when every score is 0 or 1 on one seed, else a t interval; cluster-
robust with ``metrics.cluster_field``), and the comparisons test it per example like them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.errors import RegistryError, RunError
from tunevsprompt.measure.metrics import CLASSIFICATION_METRICS, GENERATION_METRICS, metric_names
from tunevsprompt.plugins import check_new_name, describe, discover

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from tunevsprompt.task.types import Example, Prediction

TaskType = Literal["classification", "generation"]

MetricFunction = Callable[[str | None, str], float]
"""``(prediction, target) -> score in [0, 1]`` for one example, higher is better.

For a classification task ``prediction`` is the label the arm's answer was mapped to (None
when it could not be mapped, or the request failed) and ``target`` the gold label; for a
generation task ``prediction`` is the generated text (empty when the request failed) and
``target`` the reference answer."""


@dataclass(frozen=True)
class Metric:
    """A user metric: what ``register_metric`` records, and what an entry point in the group
    ``tunevsprompt.metrics`` must point to."""

    function: MetricFunction
    task_type: TaskType
    description: str = ""


ENTRY_POINT_GROUP = "tunevsprompt.metrics"
KIND = "metric"
BUILTIN_METRICS: dict[str, str] = {
    **{name: "tunevsprompt.measure.metrics, classification" for name in CLASSIFICATION_METRICS},
    **{name: "tunevsprompt.measure.metrics, generation" for name in GENERATION_METRICS},
}
TASK_TYPES: tuple[TaskType, ...] = ("classification", "generation")

_plugins: dict[str, EntryPoint] | None = None
_registered: dict[str, Metric] = {}


def _discovered() -> dict[str, EntryPoint]:
    global _plugins
    if _plugins is None:
        _plugins = discover(ENTRY_POINT_GROUP, KIND, BUILTIN_METRICS, _registered)
    return _plugins


def register_metric(
    name: str,
    function: MetricFunction,
    task_type: TaskType,
    *,
    description: str = "",
    replace: bool = False,
) -> Metric:
    """Make ``function`` the metric ``name`` for tasks of ``task_type`` in this process, so a
    suite may name it as ``metrics.primary``. A built-in's or a plugin's name is refused; so
    is a name registered before, unless ``replace``."""
    check_new_name(name, KIND, BUILTIN_METRICS, _discovered())
    if name in _registered and not replace:
        raise RegistryError(
            f"metric {name!r} is already registered; pass replace=True to replace it"
        )
    if task_type not in TASK_TYPES:
        raise RegistryError(f"metric {name!r}: task_type must be one of {', '.join(TASK_TYPES)}")
    if not callable(function):
        raise RegistryError(f"metric {name!r}: the function must be callable")
    metric = Metric(function, task_type, description)
    _registered[name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Forget a metric registered in-process (built-ins and plugins stay)."""
    _registered.pop(name, None)


def user_metric(name: str) -> Metric | None:
    """The user metric called ``name`` (registered, or a plugin's, loaded now); None for a
    built-in or an unknown name."""
    plugins = _discovered()
    if name in _registered:
        return _registered[name]
    entry = plugins.get(name)
    return _loaded(entry) if entry is not None else None


def known_metrics(task_type: str) -> list[str]:
    """Every metric a suite of this task type may name (plugins are loaded to learn their
    task type)."""
    plugins = _discovered()
    users = {**{n: _loaded(e) for n, e in plugins.items()}, **_registered}
    mine = sorted(n for n, m in users.items() if m.task_type == task_type)
    return [*metric_names(task_type), *mine]


def _loaded(entry: EntryPoint) -> Metric:
    try:
        target = entry.load()
    except Exception as error:
        raise RegistryError(f"the plugin {describe(entry)} cannot be loaded: {error}") from error
    if not isinstance(target, Metric):
        raise RegistryError(
            f"the plugin {describe(entry)} must point to a tunevsprompt.Metric "
            f"(function, task_type), not {type(target).__name__}"
        )
    if target.task_type not in TASK_TYPES:
        raise RegistryError(
            f"the plugin {describe(entry)}: task_type must be one of {', '.join(TASK_TYPES)}"
        )
    return target


def user_scores(
    name: str,
    metric: Metric,
    examples: Sequence[Example],
    predictions: Sequence[Prediction],
) -> NDArray[np.float64]:
    """The metric on each example: the parsed label for classification, the generated text
    for generation (see ``MetricFunction``)."""
    classification = metric.task_type == "classification"
    values = []
    for example, prediction in zip(examples, predictions, strict=True):
        answer = prediction.prediction if classification else prediction.raw_output
        try:
            value = float(metric.function(answer, example.target))
        except Exception as error:
            raise RunError(f"metric {name!r} failed on example {example.id!r}: {error}") from error
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise RunError(
                f"metric {name!r} gave {value!r} on example {example.id!r}; a metric returns "
                "a number in [0, 1]"
            )
        values.append(value)
    return np.array(values, dtype=np.float64)
