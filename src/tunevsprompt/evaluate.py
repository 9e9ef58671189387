"""Turn an arm's predictions into quality figures with 95% bootstrap CIs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunevsprompt.labels import is_parse_failure
from tunevsprompt.metrics import encode_labels, generation_scores, macro_f1_codes
from tunevsprompt.stats import mean_ci, statistic_ci
from tunevsprompt.types import Example, Prediction


def _figure(value: float, ci: tuple[float, float]) -> dict[str, Any]:
    return {"value": round(value, 6), "ci95": [round(ci[0], 6), round(ci[1], 6)]}


def score_predictions(
    task_type: str,
    examples: Sequence[Example],
    predictions: Sequence[Prediction],
    primary: str,
    n_boot: int,
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Quality record for results.json, and per-example metric values for samples.jsonl."""
    targets = [e.target for e in examples]
    metrics: dict[str, Any] = {}
    if task_type == "classification":
        guesses = [p.prediction for p in predictions]
        correct = np.array([float(g == t) for g, t in zip(guesses, targets, strict=True)])
        metrics["accuracy"] = _figure(float(correct.mean()), mean_ci(correct, n_boot, seed))
        y_true, y_pred, n_labels = encode_labels(targets, guesses)
        macro = macro_f1_codes(y_true, y_pred, n_labels)
        ci = statistic_ci(
            lambda idx: macro_f1_codes(y_true[idx], y_pred[idx], n_labels),
            len(targets),
            n_boot,
            seed,
        )
        metrics["macro_f1"] = _figure(macro, ci)
        per_example = [{"accuracy": float(c)} for c in correct]
    else:
        scores = generation_scores([p.raw_output for p in predictions], targets)
        for name, values in scores.items():
            metrics[name] = _figure(float(values.mean()), mean_ci(values, n_boot, seed))
        per_example = [
            {name: float(scores[name][i]) for name in scores} for i in range(len(targets))
        ]
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
