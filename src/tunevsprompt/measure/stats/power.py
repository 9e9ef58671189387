"""Power and sample size: the smallest difference a paired test detects at this n
(information, never a filter on verdicts), and the number of test examples a
non-inferiority comparison needs to show that one arm loses less than the margin."""

from __future__ import annotations

import math
from collections.abc import Iterator

from tunevsprompt.measure.stats.proportions import PairedCounts, restricted_second_only, tango_score

Z_975 = 1.959963984540054
"""Two-sided 5% critical value of the standard normal."""
Z_80 = 0.8416212335729143
"""One-sided quantile for 80% power."""


def _z(probability: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(probability))


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


def noninferiority_n_paired_binary(
    first_only: float, second_only: float, margin: float, alpha: float, power: float = 0.8
) -> float:
    """Test examples at which Tango's one-sided test at level ``alpha`` shows, with this
    power, that first − second is below ``margin``, when the shares of examples only the
    first / only the second arm gets right are as given (first_only − second_only is the true
    gap). The variance under the hypothesis is taken at its boundary (the restricted
    estimate), under the alternative at the given shares (Nam 1997). Infinite when the gap is
    not below the margin."""
    gap = first_only - second_only
    if gap >= margin:
        return math.inf
    alternative = max(first_only + second_only - gap * gap, 0.0)
    boundary = PairedCounts(first_only, second_only, 1.0)
    null = 2 * restricted_second_only(boundary, margin) + margin * (1 - margin)
    root = _z(1 - alpha) * math.sqrt(null) + _z(power) * math.sqrt(alternative)
    return float(root**2 / (margin - gap) ** 2)


def paired_tables(
    n: int, first_only: float, second_only: float, floor: float = 1e-13
) -> Iterator[tuple[int, int, float]]:
    """Every paired table of n examples, as (first-only count, second-only count,
    probability), when an example is first-only / second-only correct with these
    probabilities; tables less likely than ``floor`` are skipped (their total is negligible).
    For exact operating characteristics of any rule that depends on the two counts."""
    from scipy.stats import binom

    spread = 8 * math.sqrt(n * (first_only + second_only)) + 2
    low = max(0, int(n * min(first_only, second_only) - spread))
    high = min(n, int(n * max(first_only, second_only) + spread) + 1)
    rest = second_only / (1 - first_only) if first_only < 1 else 0.0
    for b in range(low, high + 1):
        pb = float(binom.pmf(b, n, first_only))
        if pb < floor:
            continue
        for c in range(low, min(high, n - b) + 1):
            p = pb * float(binom.pmf(c, n - b, rest))
            if p >= floor:
                yield b, c, p


def tango_noninferiority_power(
    n: int, first_only: float, second_only: float, margin: float, alpha: float
) -> float:
    """The exact probability that Tango's one-sided test at level ``alpha`` shows first −
    second below ``margin`` with n examples, when examples are only-first / only-second
    correct with these probabilities. Sums over the number of discordant examples m
    (Binomial(n, ψ)); given m, the first-only count is Binomial(m, first_only/ψ), and the
    test rejects exactly when it is at most a threshold found by bisection (the statistic
    increases with it)."""
    from scipy.stats import binom

    psi = first_only + second_only
    z = -_z(1 - alpha)
    if psi <= 0:
        return 1.0 if tango_score(PairedCounts(0, 0, n), margin) < z else 0.0
    share = first_only / psi
    low_m, high_m = (int(binom.ppf(q, n, psi)) for q in (1e-12, 1 - 1e-12))
    power = 0.0
    for m in range(max(low_m, 0), min(high_m, n) + 1):
        if tango_score(PairedCounts(0, m, n), margin) >= z:
            continue  # even with no first-only example the test does not reject
        low, high = 0, m  # largest b with score(b) < z lies in [low, high]
        while low < high:
            middle = (low + high + 1) // 2
            if tango_score(PairedCounts(middle, m - middle, n), margin) < z:
                low = middle
            else:
                high = middle - 1
        power += float(binom.pmf(m, n, psi) * binom.cdf(low, m, share))
    return power


def noninferiority_n_paired_binary_exact(
    first_only: float, second_only: float, margin: float, alpha: float, power: float = 0.8
) -> int | None:
    """The fewest examples at which the exact power of Tango's test reaches ``power``,
    searched upwards from 95% of the normal-approximation figure (None when no number of
    examples does). Power is not monotone in n (the test is discrete): this is the first
    n found, scanning in steps and then back one by one."""
    approximate = noninferiority_n_paired_binary(first_only, second_only, margin, alpha, power)
    if math.isinf(approximate):
        return None
    n = max(math.ceil(approximate * 0.95), 2)
    step = max(1, n // 200)

    def enough(size: int) -> bool:
        return tango_noninferiority_power(size, first_only, second_only, margin, alpha) >= power

    while n < 10 * approximate + 100:
        if enough(n):
            while n > 2 and step > 1 and enough(n - 1):
                n -= 1
            return n
        n += step
    return None


def noninferiority_n(
    unit_variance: float,
    gap: float,
    margin: float,
    alpha: float,
    power: float = 0.8,
    fixed_variance: float = 0.0,
    fixed_df: float = math.inf,
) -> float:
    """Test examples at which a one-sided t test at level ``alpha`` shows, with this power,
    that a true ``gap`` lies below ``margin``, when the estimate's variance is
    ``unit_variance``/n (on n − 1 degrees of freedom) plus a ``fixed_variance`` that more
    examples do not shrink (seed-to-seed variance, on ``fixed_df``). The t quantiles use the
    Welch–Satterthwaite degrees of freedom at the n found, so with few seeds more examples
    can stop helping: then it is infinite (run more seeds)."""
    from tunevsprompt.measure.stats.means import Variance, satterthwaite_df, t_quantile

    if gap >= margin:
        return math.inf
    start = ((margin - gap) / (_z(1 - alpha) + _z(power))) ** 2 - fixed_variance
    if start <= 0:
        return math.inf
    n = max(unit_variance / start, 2.0)  # the normal approximation, then t at its df
    for _ in range(50):
        parts = [Variance(unit_variance / n, max(n - 1, 1)), Variance(fixed_variance, fixed_df)]
        df = satterthwaite_df(parts)
        quantile = t_quantile(1 - alpha, df) + t_quantile(power, df)
        room = ((margin - gap) / quantile) ** 2 - fixed_variance
        if room <= 0:
            return math.inf
        following = max(unit_variance / room, 2.0)
        if abs(following - n) < 0.5:
            return float(following)
        n = following
    return float(n)
