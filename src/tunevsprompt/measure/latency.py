"""Per-request latency: one request at a time, after a warm-up, never from the cache; p50
and p95 with order-statistic intervals."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from tunevsprompt.task.types import Example, Prediction


def measure_latency(
    predict: Callable[[Sequence[Example]], list[Prediction]],
    examples: Sequence[Example],
    sample: int,
    warmup: int,
    no_cache: Callable[[], AbstractContextManager[None]],
) -> tuple[dict[str, Any] | None, dict[str, float]]:
    """Times ``predict([example])`` on the first ``sample`` examples. Returns the summary for
    results.json (None when sample is 0) and the milliseconds per example id.

    Arms that do work before the model (retrieval) report it per prediction in
    ``extra["stage_ms"]``; the summary then splits each request into those stages and
    ``generation`` (the rest)."""
    chosen = list(examples[:sample])
    if not chosen:
        return None, {}
    timings: dict[str, float] = {}
    stages: dict[str, list[float]] = {}
    with no_cache():
        for example in chosen[:warmup]:
            predict([example])
        for example in chosen:
            began = time.perf_counter()
            (prediction,) = predict([example])
            total = (time.perf_counter() - began) * 1000
            timings[example.id] = total
            before_model = prediction.extra.get("stage_ms") or {}
            for stage, ms in before_model.items():
                stages.setdefault(stage, []).append(float(ms))
            if before_model:
                stages.setdefault("generation", []).append(total - sum(before_model.values()))
    summary: dict[str, Any] = {
        **percentiles(list(timings.values())),
        **latency_intervals(list(timings.values())),
        "n": len(timings),
        "batch_size": 1,
        "warmup": min(warmup, len(chosen)),
    }
    if stages:
        summary["stages"] = {name: percentiles(values) for name, values in stages.items()}
    return summary, timings


def percentiles(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """p50, p95 and mean of millisecond timings, rounded to ``digits``."""
    array = np.array(values, dtype=float)
    return {
        "p50": round(float(np.percentile(array, 50)), digits),
        "p95": round(float(np.percentile(array, 95)), digits),
        "mean": round(float(array.mean()), digits),
    }


def latency_intervals(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """95% order-statistic intervals of p50 and p95 (a side is None when this many timed
    requests cannot bound it: a p95 upper bound needs 72), and the timed count."""
    from tunevsprompt.measure.stats import CI_LEVEL, quantile_interval

    def rounded(bounds: tuple[float | None, float | None]) -> list[float | None]:
        return [None if b is None else round(b, digits) for b in bounds]

    return {
        "p50_ci95": rounded(quantile_interval(values, 0.5, CI_LEVEL)),
        "p95_ci95": rounded(quantile_interval(values, 0.95, CI_LEVEL)),
        "n": len(values),
    }
