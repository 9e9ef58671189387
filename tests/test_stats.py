"""The statistics against known values, exact enumeration and simulation: McNemar's exact
test, Holm's correction, minimum detectable effects, Clopper–Pearson and Tango's paired
score interval (exact coverage), the non-inferiority test and its sample size (exact power),
t intervals with cluster-robust and Satterthwaite degrees of freedom (coverage and size at
small n), order-statistic latency intervals, and the vectorised bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import binom

from tunevsprompt.measure.stats import (
    Z_80,
    Z_975,
    Estimate,
    PairedCounts,
    Variance,
    clopper_pearson,
    cluster_variance,
    combine,
    floored,
    holm,
    mcnemar_exact,
    mde_paired_proportions,
    noninferiority_n,
    noninferiority_n_paired_binary,
    quantile_interval,
    resampled_sums,
    samples_to_bound_quantile,
    satterthwaite_df,
    tango_interval,
    tango_noninferiority_p,
    tango_score,
)
from tunevsprompt.measure.stats.power import (
    noninferiority_n_paired_binary_exact,
    tango_noninferiority_power,
)
from tunevsprompt.measure.stats.proportions import restricted_second_only


def table(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, dtype=np.float64)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, dtype=np.float64)
    return a, b


def test_mcnemar_exact_on_a_hand_made_table() -> None:
    a, b = table(both=50, a_only=10, b_only=2, neither=38)
    result = mcnemar_exact(a, b)
    assert (result.a_only, result.b_only, result.n) == (10, 2, 100)
    # Two-sided binomial: 2 * P(X <= 2 | n=12, p=1/2) = 2 * (1 + 12 + 66) / 4096.
    assert result.p_value == pytest.approx(2 * 79 / 4096, rel=1e-9)
    assert result.discordance == pytest.approx(0.12)
    assert mcnemar_exact(b, a).p_value == pytest.approx(result.p_value)
    assert mcnemar_exact(*table(40, 0, 0, 60)).p_value == 1.0
    assert mcnemar_exact(*table(0, 6, 6, 0)).p_value == 1.0


def test_holm_on_known_values() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert holm([0.2, 0.3, 0.1]) == pytest.approx([0.4, 0.4, 0.3])
    assert holm([0.9, 0.8, 0.7]) == [1.0, 1.0, 1.0]
    assert holm([]) == []


def test_mde_for_paired_proportions_solves_connors_formula() -> None:
    n, psi = 154, 0.3
    d = mde_paired_proportions(n, psi)
    needed = (Z_975 * math.sqrt(psi) + Z_80 * math.sqrt(psi - d * d)) ** 2 / (d * d)
    assert needed == pytest.approx(n, rel=1e-6)
    assert 0.1 < d < 0.3
    assert mde_paired_proportions(4 * n, psi) < d < mde_paired_proportions(n, 0.6)
    assert mde_paired_proportions(100, 0.0) > 0, "no discordance seen is not certainty"


def _exact_coverage(n: int, p: float, interval: object) -> float:
    k = np.arange(n + 1)
    bounds = [interval(int(x), n) for x in k]  # type: ignore[operator]
    covered = np.array([lo <= p <= hi for lo, hi in bounds])
    return float(binom.pmf(k, n, p)[covered].sum())


@pytest.mark.parametrize("p", [0.01, 0.013, 0.5, 0.95, 0.99])
def test_clopper_pearson_holds_its_coverage_exactly_at_n154(p: float) -> None:
    # The percentile bootstrap covered 0.86 at p = 0.013 and 0.80 at p = 0.99 (issue 17).
    coverage = _exact_coverage(154, p, lambda k, n: clopper_pearson(k, n, 0.95))
    assert coverage >= 0.95


def test_clopper_pearson_never_collapses_and_narrows_with_n() -> None:
    low, high = clopper_pearson(0, 154, 0.95)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 154), rel=1e-9)
    assert clopper_pearson(154, 154, 0.95)[1] == 1.0
    small, large = clopper_pearson(30, 50, 0.95), clopper_pearson(1200, 2000, 0.95)
    assert small[0] < 0.6 < small[1] and large[0] < 0.6 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    # Effective counts (clustered data): fewer effective examples, a wider interval.
    assert clopper_pearson(15, 25, 0.95)[1] - clopper_pearson(15, 25, 0.95)[0] > (
        small[1] - small[0]
    )


def test_tango_restricted_estimate_maximises_the_likelihood() -> None:
    for first, second, n, delta in [(10, 2, 100, 0.05), (3, 9, 50, -0.1), (20, 25, 154, 0.02)]:

        def nll(q: float, b: int = first, c: int = second, m: int = n, d: float = delta) -> float:
            rest = 1 - 2 * q - d
            if q <= 0 or q + d <= 0 or rest <= 0:
                return 1e9
            return -(b * math.log(q + d) + c * math.log(q) + (m - b - c) * math.log(rest))

        best = minimize_scalar(
            nll,
            bounds=(max(0, -delta) + 1e-9, (1 - delta) / 2 - 1e-9),
            method="bounded",
            options={"xatol": 1e-12},
        )
        found = restricted_second_only(PairedCounts(first, second, n), delta)
        assert found == pytest.approx(best.x, abs=1e-7)


def test_tango_score_is_mcnemars_z_at_zero_and_its_interval_covers_exactly() -> None:
    counts = PairedCounts(10, 2, 100)
    assert tango_score(counts, 0.0) == pytest.approx(8 / math.sqrt(12))
    low, high = tango_interval(counts, 0.95)
    assert low < counts.difference < high
    # No discordant pair is not certainty: the interval is ±z²/(n+z²), like Wilson's.
    none = tango_interval(PairedCounts(0, 0, 154), 0.95)
    assert none[1] == pytest.approx(Z_975**2 / (154 + Z_975**2), rel=1e-6)
    assert none[0] == pytest.approx(-none[1], rel=1e-6)
    # Exact coverage at n = 154 by enumerating every paired table.
    n = 154
    for first, second in [(0.1, 0.1), (0.15, 0.05), (0.02, 0.01)]:
        covered = total = 0.0
        for b in range(n + 1):
            pb = binom.pmf(b, n, first)
            if pb < 1e-10:
                continue
            for c in range(n - b + 1):
                pr = pb * binom.pmf(c, n - b, second / (1 - first))
                if pr < 1e-12:
                    continue
                lo, hi = tango_interval(PairedCounts(b, c, n), 0.95)
                total += pr
                covered += pr * (lo <= first - second <= hi)
        assert total == pytest.approx(1, abs=1e-6)
        assert 0.94 <= covered <= 0.975, (first, second, covered)


def test_noninferiority_p_agrees_with_the_interval() -> None:
    # p < 0.025 exactly when the upper bound of the 95% interval lies below the margin.
    for first, second, n in [(30, 20, 154), (12, 14, 154), (100, 90, 1000), (3, 0, 154)]:
        counts = PairedCounts(first, second, n)
        _, high = tango_interval(counts, 0.95)
        for margin in (0.01, 0.02, 0.05, 0.1, 0.2):
            if abs(high - margin) < 1e-6:
                continue
            assert (tango_noninferiority_p(counts, margin) < 0.025) == (high < margin)


def test_noninferiority_sample_size_gives_its_power_exactly() -> None:
    n = noninferiority_n_paired_binary(0.1, 0.1, 0.04, 0.025)
    assert 900 < n < 1100
    exact = noninferiority_n_paired_binary_exact(0.1, 0.1, 0.04, 0.025)
    assert exact is not None
    assert tango_noninferiority_power(exact, 0.1, 0.1, 0.04, 0.025) >= 0.8
    assert tango_noninferiority_power(exact - 25, 0.1, 0.1, 0.04, 0.025) < 0.8
    # The exact power agrees with a simulation of the test itself.
    rng = np.random.default_rng(5)
    tables = rng.multinomial(exact, [0.1, 0.1, 0.8], size=3000)
    shown = [tango_noninferiority_p(PairedCounts(b, c, exact), 0.04) < 0.025 for b, c, _ in tables]
    assert abs(np.mean(shown) - 0.8) < 0.03
    assert math.isinf(noninferiority_n_paired_binary(0.15, 0.1, 0.04, 0.025))
    # Seed-to-seed variance that more examples do not shrink can make it impossible.
    assert math.isinf(noninferiority_n(0.2, 0.0, 0.02, 0.025, fixed_variance=0.0002))
    # t quantiles at n − 1 degrees of freedom: a hair above the normal formula.
    assert noninferiority_n(0.2, 0.0, 0.02, 0.025) == pytest.approx(
        0.2 * ((1.959964 + 0.841621) / 0.02) ** 2, rel=1e-3
    )
    # Two seeds per arm: the seed part's df stays near 1 however many examples, so the
    # normal formula's "about 3,500 examples" would never come true: more seeds are needed.
    assert math.isinf(noninferiority_n(0.2, 0.0, 0.02, 0.025, fixed_variance=2.5e-5, fixed_df=2))
    assert math.isfinite(
        noninferiority_n(0.2, 0.0, 0.02, 0.025, fixed_variance=2.5e-6, fixed_df=40)
    )


def test_t_estimates_hold_their_size_at_small_n() -> None:
    # The percentile bootstrap's type-I error was 0.155 at n = 5 and 0.088 at n = 10.
    rng = np.random.default_rng(11)
    for n in (5, 10):
        rejections = 0
        sims = 4000
        for _ in range(sims):
            diffs = rng.normal(0, 1, n)
            part, _ = cluster_variance(diffs, None)
            rejections += combine(float(diffs.mean()), [part]).p_two_sided() < 0.05
        assert 0.035 <= rejections / sims <= 0.065, n


def test_cluster_robust_intervals_cover_where_iid_ones_do_not() -> None:
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(30), 10)
    covered_robust = covered_iid = 0
    deffs = []
    sims = 600
    for _ in range(sims):
        values = rng.normal(0, 1, 30)[clusters] + rng.normal(0, 1, 300)
        robust, deff = cluster_variance(values, clusters)
        iid, _ = cluster_variance(values, None)
        deffs.append(deff)
        for part, counter in ((robust, "robust"), (iid, "iid")):
            low, high = combine(float(values.mean()), [part]).interval(0.95)
            if low <= 0 <= high:
                if counter == "robust":
                    covered_robust += 1
                else:
                    covered_iid += 1
    # Intra-cluster correlation 0.5 with 10 per cluster: design effect 1 + 9 x 0.5 = 5.5.
    assert 4.5 < float(np.mean(deffs)) < 6.5
    assert covered_robust / sims >= 0.92
    assert covered_iid / sims < 0.8
    independent, deff = cluster_variance(rng.normal(0, 1, 300), clusters)
    assert independent.df == 29 and 0.5 < deff < 1.6


def test_satterthwaite_and_combined_estimates() -> None:
    parts = [Variance(0.0004, 153), Variance(0.0004, 2)]
    expected = 0.0008**2 / (0.0004**2 / 153 + 0.0004**2 / 2)
    assert satterthwaite_df(parts) == pytest.approx(expected)
    estimate = combine(0.5, parts)
    assert estimate.se == pytest.approx(math.sqrt(0.0008))
    # Few seeds: a t with few degrees of freedom, far wider than the normal.
    assert estimate.interval(0.95)[1] - 0.5 > 1.96 * estimate.se * 1.15
    # No spread seen is no evidence: a zero standard error shows nothing.
    assert Estimate(0.01, 0.0, math.inf).p_below(0.02) == 1.0
    assert Estimate(0.01, 0.0, math.inf).p_two_sided() == 1.0
    assert floored(Variance(0.0, 4), 154).value == pytest.approx((1.96 / 157.84) ** 2, rel=1e-3)
    assert floored(Variance(0.01, 4), 154).value == 0.01
    assert Estimate(0.0, 0.01, math.inf).p_below(0.0196) == pytest.approx(0.025, abs=1e-3)


def test_order_statistic_interval_for_p95() -> None:
    assert samples_to_bound_quantile(0.95, 0.95) == 72
    assert quantile_interval(list(range(71)), 0.95, 0.95)[1] is None
    assert quantile_interval(list(range(72)), 0.95, 0.95)[1] == 71
    assert quantile_interval(list(range(20)), 0.95, 0.95)[1] is None
    low, high = quantile_interval(list(range(1000)), 0.5, 0.95)
    assert low is not None and high is not None and low < 499.5 < high
    rng = np.random.default_rng(2)
    true_p95 = float(-np.log(0.05))  # of Exp(1)
    hits = 0
    sims = 2000
    for _ in range(sims):
        lo, hi = quantile_interval(rng.exponential(1, 200), 0.95, 0.95)
        hits += lo is not None and hi is not None and lo <= true_p95 <= hi
    assert hits / sims >= 0.94


def test_resampled_sums_are_seeded_chunked_and_unbiased() -> None:
    rng = np.random.default_rng(0)
    stats = np.column_stack([rng.random(300), np.ones(300)])
    first = np.vstack(list(resampled_sums(stats, 2500, 7)))
    again = np.vstack(list(resampled_sums(stats, 2500, 7)))
    assert first.shape == (2500, 2) and np.array_equal(first, again)
    assert np.all(first[:, 1] == 300)
    means = first[:, 0] / 300
    assert means.mean() == pytest.approx(stats[:, 0].mean(), abs=0.002)
    assert means.std() == pytest.approx(stats[:, 0].std() / math.sqrt(300), rel=0.06)
