"""Turn an arm's predictions into quality figures with 95% intervals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunevsprompt.measure.metric_registry import user_metric, user_scores
from tunevsprompt.measure.metrics import encode_labels, generation_scores
from tunevsprompt.measure.quality import QualitySettings, single_pass_figure
from tunevsprompt.task.labels import is_parse_failure
from tunevsprompt.task.types import Example, Prediction


def score_predictions(
    task_type: str,
    examples: Sequence[Example],
    predictions: Sequence[Prediction],
    primary: str,
    n_boot: int,
    seed: int,
    clusters: Sequence[str] | None = None,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Quality record for results.json, and per-example metric values for samples.jsonl.
    Intervals as in ``quality``: Clopper–Pearson for accuracy and exact match, t for graded
    means, a bootstrap standard error for macro-F1; cluster-robust with ``clusters``. A user
    metric named as ``primary`` is scored per example too, and treated like a graded mean."""
    targets = [e.target for e in examples]
    settings = QualitySettings(n_boot=n_boot, seed=seed)
    metrics: dict[str, Any] = {}
    if task_type == "classification":
        guesses = [p.prediction for p in predictions]
        correct = np.array([float(g == t) for g, t in zip(guesses, targets, strict=True)])
        metrics["accuracy"] = single_pass_figure(
            "accuracy", "mean", correct, None, 0, clusters, settings
        )
        y_true, y_pred, n_labels = encode_labels(targets, guesses)
        metrics["macro_f1"] = single_pass_figure(
            "macro_f1", "macro_f1", y_pred, y_true, n_labels, clusters, settings
        )
        per_example = [{"accuracy": float(c)} for c in correct]
    else:
        scores = generation_scores([p.raw_output for p in predictions], targets)
        for name, values in scores.items():
            metrics[name] = single_pass_figure(name, "mean", values, None, 0, clusters, settings)
        per_example = [
            {name: float(scores[name][i]) for name in scores} for i in range(len(targets))
        ]
    user = user_metric(primary) if primary not in metrics else None
    if user is not None:
        values = user_scores(primary, user, examples, predictions)
        metrics[primary] = single_pass_figure(primary, "mean", values, None, 0, clusters, settings)
        for row, value in zip(per_example, values, strict=True):
            row[primary] = float(value)
    parse_counts = Counter(p.parse for p in predictions)
    errors = parse_counts.get("error", 0)
    record = {
        "quality": {"metric": primary, **metrics[primary]},
        "metrics": metrics,
        "parse_failure_rate": round(
            sum(is_parse_failure(p.parse) for p in predictions) / max(len(predictions), 1), 6
        ),
        "parse_counts": dict(sorted(parse_counts.items())),
        # Requests that failed (a hosted endpoint, after its retries) are scored as wrong
        # answers and counted here, so a gate can hold the rate down.
        "errors": errors,
        "error_rate": round(errors / max(len(predictions), 1), 6),
        "tokens": _token_figures([p for p in predictions if p.parse != "error"] or predictions),
    }
    return record, per_example


def _token_figures(predictions: Sequence[Prediction]) -> dict[str, float]:
    """Prompt and answer lengths: long retrieved or few-shot prompts are what make an arm
    cost more per request, so the spread of the prompt length is reported, not just its mean."""
    inputs = np.array([p.input_tokens for p in predictions], dtype=float)
    outputs = np.array([p.output_tokens for p in predictions], dtype=float)
    return {
        "input_mean": round(float(inputs.mean()), 3),
        "input_p95": round(float(np.percentile(inputs, 95)), 3),
        "input_max": int(inputs.max()),
        "output_mean": round(float(outputs.mean()), 3),
    }
