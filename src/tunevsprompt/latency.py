"""Per-request latency: one request at a time, after a warm-up, never from the cache."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from tunevsprompt.types import Example, Prediction


def measure_latency(
    predict: Callable[[Sequence[Example]], list[Prediction]],
    examples: Sequence[Example],
    sample: int,
    warmup: int,
    no_cache: Callable[[], AbstractContextManager[None]],
) -> tuple[dict[str, Any] | None, dict[str, float]]:
    """Times ``predict([example])`` on the first ``sample`` examples. Returns the summary for
    results.json (None when sample is 0) and the milliseconds per example id."""
    chosen = list(examples[:sample])
    if not chosen:
        return None, {}
    timings: dict[str, float] = {}
    with no_cache():
        for example in chosen[:warmup]:
            predict([example])
        for example in chosen:
            began = time.perf_counter()
            predict([example])
            timings[example.id] = (time.perf_counter() - began) * 1000
    values = np.array(list(timings.values()))
    summary = {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "mean": round(float(values.mean()), 3),
        "n": len(values),
        "batch_size": 1,
        "warmup": min(warmup, len(chosen)),
    }
    return summary, timings
