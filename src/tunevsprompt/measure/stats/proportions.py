"""Proportions: the Clopper–Pearson interval for one arm's accuracy, and for two arms scored
on the same examples, McNemar's exact test and Tango's score interval and test for the
difference of paired proportions (Tango 1998, Statistics in Medicine 17:891–908), which keeps
its coverage with few discordant pairs, where a bootstrap or Wald interval collapses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def clopper_pearson(successes: float, n: float, confidence: float) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval of a proportion. ``successes`` and ``n`` may be
    effective, non-integer counts (observed counts divided by a design effect)."""
    from scipy.stats import beta

    if n <= 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2
    failures = n - successes
    low = 0.0 if successes <= 0 else float(beta.ppf(tail, successes, failures + 1))
    high = 1.0 if failures <= 0 else float(beta.ppf(1 - tail, successes + 1, failures))
    return low, high


@dataclass(frozen=True)
class PairedCounts:
    """Two arms' correctness on the same examples: examples only the first got right, only
    the second, and all examples. The difference is first − second."""

    first_only: float
    second_only: float
    n: float

    @property
    def difference(self) -> float:
        return (self.first_only - self.second_only) / self.n if self.n else 0.0

    @property
    def discordance(self) -> float:
        """Share of examples on which the two arms disagree about correctness."""
        return (self.first_only + self.second_only) / self.n if self.n else 0.0

    def scaled(self, design_effect: float) -> PairedCounts:
        """Effective counts when examples are clustered: each count over the design effect."""
        k = 1 / max(design_effect, 1.0)
        return PairedCounts(self.first_only * k, self.second_only * k, self.n * k)

    @classmethod
    def of(cls, first: NDArray[np.float64], second: NDArray[np.float64]) -> PairedCounts:
        a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
        if a.shape != b.shape:
            raise ValueError(f"paired arrays differ in length: {a.shape} vs {b.shape}")
        return cls(int((a & ~b).sum()), int((~a & b).sum()), len(a))


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
        return (self.a_only + self.b_only) / self.n if self.n else 0.0


def mcnemar_exact(a_correct: NDArray[np.float64], b_correct: NDArray[np.float64]) -> McNemar:
    """McNemar's exact test for two arms' per-example correctness (0/1, same examples)."""
    from scipy.stats import binomtest

    counts = PairedCounts.of(a_correct, b_correct)
    a_only, b_only = int(counts.first_only), int(counts.second_only)
    discordant = a_only + b_only
    p_value = 1.0 if discordant == 0 else float(binomtest(a_only, discordant, 0.5).pvalue)
    return McNemar(a_only, b_only, int(counts.n), p_value)


def restricted_second_only(counts: PairedCounts, delta: float) -> float:
    """The maximum-likelihood share of second-only examples when the true difference is
    ``delta`` (the root of Tango's quadratic 2n q² + B q + C = 0)."""
    n, b, c = counts.n, counts.first_only, counts.second_only
    quad_b = -b - c + (2 * n - b + c) * delta
    quad_c = -c * delta * (1 - delta)
    root = (-quad_b + math.sqrt(max(quad_b * quad_b - 8 * n * quad_c, 0.0))) / (4 * n)
    return max(root, 0.0)


def tango_score(counts: PairedCounts, delta: float) -> float:
    """Tango's score statistic for the hypothesis that the true difference is ``delta``:
    (b − c − nΔ) / sqrt(n (2 q̃ + Δ(1 − Δ))), q̃ the restricted estimate. At Δ = 0 it is
    McNemar's z. Decreasing in Δ."""
    n = counts.n
    if n <= 0:
        return 0.0
    variance = n * (2 * restricted_second_only(counts, delta) + delta * (1 - delta))
    numerator = counts.first_only - counts.second_only - n * delta
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def _solve(counts: PairedCounts, target: float) -> float:
    """The Δ in (−1, 1) where the score statistic equals ``target`` (it decreases in Δ)."""
    low, high = -1 + 1e-12, 1 - 1e-12
    for _ in range(200):
        mid = (low + high) / 2
        if tango_score(counts, mid) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def tango_interval(counts: PairedCounts, confidence: float) -> tuple[float, float]:
    """Tango's score interval for the difference first − second: the Δ the score test does
    not reject at this confidence (two-sided)."""
    from scipy.stats import norm

    if counts.n <= 0:
        return math.nan, math.nan
    z = float(norm.ppf((1 + confidence) / 2))
    return _solve(counts, z), _solve(counts, -z)


def tango_noninferiority_p(counts: PairedCounts, margin: float) -> float:
    """One-sided p-value of the hypothesis that first − second is at least ``margin``
    (the second arm worse by the margin or more): small when the second arm is shown to lose
    less than the margin. Below (1 − c)/2 exactly when Tango's interval at confidence c lies
    below the margin."""
    from scipy.stats import norm

    if counts.n <= 0:
        return 1.0
    return float(norm.cdf(tango_score(counts, margin)))


def tango_p_two_sided(counts: PairedCounts) -> float:
    """Two-sided p-value of "no difference" from Tango's score statistic at 0 (McNemar's
    z): the test whose inversion at other differences is ``tango_interval``."""
    from scipy.stats import norm

    return float(2 * norm.sf(abs(tango_score(counts, 0.0)))) if counts.n > 0 else 1.0
