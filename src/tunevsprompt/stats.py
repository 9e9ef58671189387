"""Bootstrap confidence intervals over examples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

CI_LEVEL = 0.95


def resample_indices(n: int, n_boot: int, seed: int) -> NDArray[np.int64]:
    """``n_boot`` bootstrap resamples of ``range(n)``, one per row."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def percentile_ci(samples: NDArray[np.float64]) -> tuple[float, float]:
    alpha = (1 - CI_LEVEL) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def mean_ci(values: NDArray[np.float64], n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-example values."""
    if len(values) == 0:
        return float("nan"), float("nan")
    idx = resample_indices(len(values), n_boot, seed)
    means: NDArray[np.float64] = values[idx].mean(axis=1)
    return percentile_ci(means)


def statistic_ci(
    statistic: Callable[[NDArray[np.int64]], float], n: int, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap CI of any statistic computed from a vector of example indices."""
    if n == 0:
        return float("nan"), float("nan")
    idx = resample_indices(n, n_boot, seed)
    values = np.array([statistic(row) for row in idx], dtype=np.float64)
    return percentile_ci(values)
