"""The headline metric on each example, for choosing between candidates on dev (a prompt
search): accuracy or a user metric for classification, the generation metric (exact match,
token F1, ROUGE-L) or a user metric for generation. Macro-F1 is not a mean over examples,
so candidates of a suite whose headline is macro-F1 are compared on accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from tunevsprompt.arms.base import TaskInfo
from tunevsprompt.measure.metric_registry import user_metric, user_scores
from tunevsprompt.measure.metrics import generation_scores
from tunevsprompt.task.types import Example, Prediction


def search_metric(task: TaskInfo) -> str:
    """The metric a search compares candidates on."""
    if task.primary_metric == "macro_f1":
        return "accuracy"
    return task.primary_metric


def example_scores(
    task: TaskInfo, examples: Sequence[Example], predictions: Sequence[Prediction]
) -> list[float]:
    metric = search_metric(task)
    user = user_metric(metric)
    if user is not None:
        return [float(v) for v in user_scores(metric, user, examples, predictions)]
    if task.type == "classification":
        return [float(p.prediction == e.target) for e, p in zip(examples, predictions, strict=True)]
    scores = generation_scores([p.raw_output for p in predictions], [e.target for e in examples])
    return [float(v) for v in scores[metric]]
