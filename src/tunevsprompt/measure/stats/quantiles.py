"""Distribution-free confidence intervals for percentiles (latency p50, p95) from order
statistics: the number of observations below the true q-quantile is Binomial(n, q), so a
pair of order statistics brackets it with a probability the binomial gives exactly."""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile_interval(
    values: Sequence[float], q: float, confidence: float
) -> tuple[float | None, float | None]:
    """Order statistics (X_(l), X_(u)) that hold the true ``q``-quantile with probability at
    least ``confidence`` (each side missing it at most (1 − confidence)/2). A side is None when
    n is too small to bound it: an upper bound on p95 needs at least
    ``samples_to_bound_quantile(0.95, confidence)`` observations."""
    from scipy.stats import binom

    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    if n == 0:
        return None, None
    tail = (1 - confidence) / 2
    below = binom.cdf(range(n + 1), n, q)  # below[k] = P(at most k observations < quantile)
    # X_(l) lies above the quantile when at most l − 1 observations are below it.
    lows = [rank for rank in range(1, n + 1) if below[rank - 1] <= tail]
    # X_(u) lies below the quantile when at least u observations are below it.
    highs = [rank for rank in range(1, n + 1) if below[rank - 1] >= 1 - tail]
    low = ordered[max(lows) - 1] if lows else None
    high = ordered[min(highs) - 1] if highs else None
    return low, high


def samples_to_bound_quantile(q: float, confidence: float) -> int:
    """The fewest observations whose largest one bounds the ``q``-quantile from above at
    this confidence (two-sided level, one side): q^n ≤ (1 − confidence)/2. 72 for p95 at
    95%."""
    return math.ceil(math.log((1 - confidence) / 2) / math.log(q) - 1e-12)
