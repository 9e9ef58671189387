"""Estimates with a standard error and a t reference distribution: the mean of per-example
values with an ordinary or cluster-robust standard error, and figures whose variance has
several independent parts (examples and training seeds), whose degrees of freedom come from
Welch–Satterthwaite."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (the
    normal's when df is infinite)."""
    from scipy.stats import norm, t

    if math.isinf(df):
        return float(norm.ppf(probability))
    return float(t.ppf(probability, max(df, 1.0)))


def _t_cdf(x: float, df: float) -> float:
    from scipy.stats import norm, t

    if math.isinf(df):
        return float(norm.cdf(x))
    return float(t.cdf(x, max(df, 1.0)))


@dataclass(frozen=True)
class Variance:
    """One independent part of an estimate's sampling variance, with the degrees of freedom
    it was estimated on (examples or clusters − 1, seeds − 1, bootstrap units − 1)."""

    value: float
    df: float


def satterthwaite_df(parts: Sequence[Variance]) -> float:
    """Welch–Satterthwaite degrees of freedom of a sum of independent variance estimates."""
    total = sum(p.value for p in parts)
    if total <= 0:
        return math.inf
    denominator = sum(p.value**2 / p.df for p in parts if p.value > 0 and p.df > 0)
    return total**2 / denominator if denominator > 0 else math.inf


@dataclass(frozen=True)
class Estimate:
    """A figure, its standard error and the degrees of freedom of its t reference."""

    value: float
    se: float
    df: float

    def interval(self, confidence: float) -> tuple[float, float]:
        half = t_quantile((1 + confidence) / 2, self.df) * self.se
        return self.value - half, self.value + half

    @property
    def usable(self) -> bool:
        """A positive, finite standard error: anything else shows nothing."""
        return 0 < self.se < math.inf

    def p_two_sided(self, null: float = 0.0) -> float:
        """Two-sided p-value of the hypothesis that the true figure is ``null`` (1 when the
        standard error is zero or infinite: no spread seen is no evidence)."""
        if not self.usable:
            return 1.0
        return min(1.0, 2 * (1 - _t_cdf(abs(self.value - null) / self.se, self.df)))

    def p_below(self, margin: float) -> float:
        """One-sided p-value of the hypothesis that the true figure is at least ``margin``:
        small when the figure is shown to lie below it (1 without a usable standard error)."""
        if not self.usable:
            return 1.0
        return _t_cdf((self.value - margin) / self.se, self.df)


def cluster_variance(
    values: NDArray[np.float64], clusters: NDArray[np.int64] | None
) -> tuple[Variance, float]:
    """The variance of the mean of ``values`` and the design effect.

    Without clusters: s²/n on n − 1 degrees of freedom. With clusters (a code per value):
    the cluster-robust (sandwich) variance C/(C − 1) · Σ_c (Σ_{i∈c} (x_i − x̄))² / n² on C − 1
    degrees of freedom, and the design effect is its ratio to s²/n (1 when examples in a
    cluster are no more alike than any two examples)."""
    n = len(values)
    if n < 2:
        return Variance(math.inf, 1), 1.0
    residuals = values - values.mean()
    iid = float((residuals**2).sum() / (n * (n - 1)))
    if clusters is None:
        return Variance(iid, n - 1), 1.0
    count = int(clusters.max()) + 1 if len(clusters) else 0
    sums = np.bincount(clusters, weights=residuals, minlength=count)
    present = int((np.bincount(clusters, minlength=count) > 0).sum())
    if present < 2:
        return Variance(math.inf, 1), 1.0
    robust = float(present / (present - 1) * (sums**2).sum() / n**2)
    return Variance(robust, present - 1), (robust / iid if iid > 0 else 1.0)


def floored(part: Variance, n: int) -> Variance:
    """The variance of a mean of n scores in [0, 1] (or of differences of two such): when no
    spread at all was seen, (z / (n + z²))², the width Tango's and Wilson's intervals keep
    when no example differs. No spread seen in n examples is not certainty."""
    if part.value > 0:
        return part
    z = 1.959963984540054
    return Variance((z / (n + z * z)) ** 2, part.df)


def combine(value: float, parts: Sequence[Variance]) -> Estimate:
    """An estimate whose variance is the sum of independent parts."""
    variance = sum(p.value for p in parts)
    if math.isinf(variance):
        return Estimate(value, math.inf, 1.0)
    return Estimate(value, math.sqrt(max(variance, 0.0)), satterthwaite_df(parts))
