"""Bootstrap resampling. ``resampled_sums`` is the vectorised form the quality figures use:
the resampling units (examples, or whole clusters) each carry a row of sufficient
statistics, and every resample is a vector of counts over the units, so a resample's
statistics are one matrix product. The same seed gives the same resamples for every arm, so
paired differences are differences of replicates."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

PERCENTILE_LEVEL = 0.95
CHUNK = 1000
"""Resamples per matrix product: 1,000 × 3,080 examples is 25 MB of counts."""


def resample_indices(n: int, n_boot: int, seed: int) -> NDArray[np.int64]:
    """``n_boot`` bootstrap resamples of ``range(n)``, one per row."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def percentile_ci(samples: NDArray[np.float64]) -> tuple[float, float]:
    alpha = (1 - PERCENTILE_LEVEL) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def statistic_ci(
    statistic: Callable[[NDArray[np.int64]], float], n: int, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap CI of any statistic computed from a vector of example indices
    (the forgetting probes' ratios)."""
    if n == 0:
        return float("nan"), float("nan")
    idx = resample_indices(n, n_boot, seed)
    values = np.array([statistic(row) for row in idx], dtype=np.float64)
    return percentile_ci(values)


def resampled_sums(
    unit_stats: NDArray[np.float64], n_boot: int, seed: int
) -> Iterator[NDArray[np.float64]]:
    """The column sums of ``unit_stats`` (one row per resampling unit) under ``n_boot``
    resamples of the units with replacement, in chunks of at most ``CHUNK`` rows."""
    rng = np.random.default_rng(seed)
    units = unit_stats.shape[0]
    done = 0
    while done < n_boot:
        rows = min(CHUNK, n_boot - done)
        picks = rng.integers(0, units, size=(rows, units))
        flat = (np.arange(rows)[:, None] * units + picks).ravel()
        counts = np.bincount(flat, minlength=rows * units).reshape(rows, units)
        yield counts.astype(np.float64) @ unit_stats
        done += rows
