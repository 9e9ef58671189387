"""Bootstrap confidence intervals over examples, and paired comparisons of two arms on the
same examples: McNemar's exact test, paired bootstrap, Holm correction, minimum detectable
effects."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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


# -- paired comparisons of two arms on the same examples ---------------------------------

Z_975 = 1.959963984540054
"""Two-sided 5% critical value of the standard normal."""
Z_80 = 0.8416212335729143
"""One-sided quantile for 80% power."""


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on paired correctness: ``a_only`` examples only arm A got right,
    ``b_only`` only arm B; the two-sided p-value is the binomial test of a_only against
    a_only + b_only at 1/2."""

    a_only: int
    b_only: int
    n: int
    p_value: float

    @property
    def discordance(self) -> float:
        """Share of examples on which the two arms disagree about correctness."""
        return (self.a_only + self.b_only) / self.n if self.n else 0.0


def mcnemar_exact(a_correct: NDArray[np.float64], b_correct: NDArray[np.float64]) -> McNemar:
    """McNemar's exact test for two arms' per-example correctness (0/1, same examples)."""
    from scipy.stats import binomtest

    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {a.shape} vs {b.shape}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    discordant = a_only + b_only
    p_value = 1.0 if discordant == 0 else float(binomtest(a_only, discordant, 0.5).pvalue)
    return McNemar(a_only, b_only, len(a), p_value)


def paired_difference_ci(
    a: NDArray[np.float64], b: NDArray[np.float64], n_boot: int, seed: int
) -> tuple[float, tuple[float, float]]:
    """Mean of a − b over paired examples and its percentile bootstrap CI (examples resampled
    together, so the pairing is kept)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(diff.mean()) if len(diff) else float("nan"), mean_ci(diff, n_boot, seed)


def paired_bootstrap_p(
    a: NDArray[np.float64], b: NDArray[np.float64], n_boot: int, seed: int
) -> float:
    """Two-sided bootstrap p-value of mean(a − b) = 0: the differences are centred on zero,
    resampled, and the share of resampled means at least as far from zero as the observed
    one is counted (with the observed one included, so p is never 0)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diff) == 0:
        return 1.0
    observed = abs(float(diff.mean()))
    centred = diff - diff.mean()
    means = centred[resample_indices(len(diff), n_boot, seed)].mean(axis=1)
    extreme = int((np.abs(means) >= observed - 1e-12).sum())
    return (extreme + 1) / (n_boot + 1)


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the given order (step-down, monotone, capped
    at 1)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def mde_paired_proportions(n: int, discordance: float) -> float:
    """Smallest difference in accuracy that McNemar's test detects with 80% power at a
    two-sided 5% level, for n paired examples with this share of discordant pairs
    (Connor 1987: n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2, solved for d).
    With no discordance observed, one discordant pair is assumed (a floor, not zero)."""
    if n <= 0:
        return float("inf")
    psi = max(discordance, 1 / n)
    low, high = 0.0, psi**0.5  # d^2 <= psi, so d <= sqrt(psi)
    for _ in range(100):
        d = (low + high) / 2
        needed = (Z_975 * psi**0.5 + Z_80 * max(psi - d * d, 0.0) ** 0.5) ** 2 / (d * d)
        low, high = (d, high) if needed > n else (low, d)
    return float(high)


def mde_paired_means(differences: NDArray[np.float64]) -> float:
    """Smallest mean difference a paired test detects with 80% power at a two-sided 5%
    level: (z_a + z_b) x sd(differences) / sqrt(n)."""
    n = len(differences)
    if n < 2:
        return float("inf")
    sd = float(np.std(differences, ddof=1))
    return float((Z_975 + Z_80) * sd / math.sqrt(n))
