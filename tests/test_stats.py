"""Paired statistics against known values and simulations: McNemar's exact test on a
hand-made table, Holm's correction, minimum detectable effects, and the coverage and size of
the paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunevsprompt.stats import (
    Z_80,
    Z_975,
    holm,
    mcnemar_exact,
    mde_paired_means,
    mde_paired_proportions,
    paired_bootstrap_p,
    paired_difference_ci,
)


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


def test_mde_for_paired_means() -> None:
    diffs = np.array([1.0, -1.0] * 50)
    assert mde_paired_means(diffs) == pytest.approx((Z_975 + Z_80) * np.std(diffs, ddof=1) / 10)
    assert mde_paired_means(np.array([1.0])) == math.inf


def test_paired_bootstrap_ci_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    sims = 300
    for sim in range(sims):
        shared = rng.normal(0, 1, 60)  # example difficulty, common to both arms
        a = shared + 0.3 + rng.normal(0, 0.7, 60)
        b = shared + rng.normal(0, 0.7, 60)
        _, (lo, hi) = paired_difference_ci(a, b, 400, sim)
        covered += lo <= 0.3 <= hi
    assert 0.90 <= covered / sims <= 0.98


def test_paired_bootstrap_p_has_its_size_under_the_null_and_power_off_it() -> None:
    rng = np.random.default_rng(11)
    rejections = 0
    sims = 300
    for sim in range(sims):
        shared = rng.normal(0, 1, 80)
        rejections += paired_bootstrap_p(shared + rng.normal(0, 0.5, 80), shared, 400, sim) < 0.05
    assert 0.02 <= rejections / sims <= 0.09
    a = np.linspace(0, 1, 80)
    assert paired_bootstrap_p(a + 0.3, a, 400, 0) < 0.01
    assert paired_bootstrap_p(a, a, 400, 0) == 1.0


def test_pairs_are_compared_with_holm_and_small_differences_are_inconclusive() -> None:
    from tunevsprompt.comparisons import INCONCLUSIVE, compare_arms, per_example_values

    n = 300
    strong = np.ones(n)
    strong[:30] = 0  # 0.90
    weak = np.zeros(n)
    weak[:150] = 1  # 0.50
    close = strong.copy()
    close[30:36] = 0  # 0.88: 6 discordant pairs with `strong`
    rows = [
        {"arm": arm, "id": f"e{i}", "scores": {"accuracy": float(v)}}
        for arm, values in (("strong", strong), ("weak", weak), ("close", close))
        for i, v in enumerate(values)
    ]
    ids, values = per_example_values(rows, "accuracy")
    assert len(ids) == n and list(values) == ["strong", "weak", "close"]
    entries = {tuple(e["arms"]): e for e in compare_arms(values, "accuracy", 500, 0)}
    clear = entries[("strong", "weak")]
    assert clear["test"] == "mcnemar-exact" and clear["difference"] == pytest.approx(0.4)
    assert clear["verdict"] == "strong better" and clear["winner"] == "strong"
    assert clear["p_holm"] >= clear["p_value"]
    tie = entries[("strong", "close")]
    assert tie["discordance"] == {"a_only": 6, "b_only": 0}
    assert tie["difference"] == pytest.approx(0.02) and tie["difference"] < tie["mde"]
    assert tie["verdict"] == INCONCLUSIVE and tie["winner"] is None
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, 50)
    scores = {"x": base, "y": base + 0.001 + rng.normal(0, 0.1, 50)}
    continuous = compare_arms(scores, "token_f1", 300, 0)[0]
    assert continuous["test"] == "paired-bootstrap" and continuous["verdict"] == INCONCLUSIVE
