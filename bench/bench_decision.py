"""Operating characteristics of the decision rule, before (schema 1.0) and after (2.0).

Table 1: P(the cheaper of two arms is recommended) for true gaps {0, δ/2, δ, 2δ, 10 points}
× n {154, 1,000, 3,080}, the two arms disagreeing about correctness on 20% of the examples,
δ = 0.02. Computed exactly by enumerating every paired table (multinomial probabilities),
not simulated: the new rule through tvp's own `decide.rule.choose`, the old rule
re-implemented here as it was (McNemar's exact test, a verdict only when significant *and*
at least the MDE, the cheapest arm "not shown worse" than the best wins).

Table 2: coverage of the 95% interval of one arm's accuracy at n = 154, exact over the
binomial: the old percentile bootstrap (1,000 resamples) against Clopper–Pearson; and of the
paired difference: the old percentile bootstrap against Tango's score interval.

Table 3: type-I error of the two-sided 5% test of a graded metric's paired difference at
small n: the old percentile-bootstrap p-value against the t test (simulation).

    python bench/bench_decision.py [--margin 0.02] [--discordance 0.2] [--sims 4000]

Pure numpy/scipy; seconds to a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import binom, binomtest

from tunevsprompt.decide.evidence import Evidence
from tunevsprompt.decide.rule import Contender, Margin, choose
from tunevsprompt.measure.stats import (
    PairedCounts,
    clopper_pearson,
    cluster_variance,
    combine,
    mde_paired_proportions,
    tango_interval,
)
from tunevsprompt.measure.stats.power import paired_tables

GAPS = ("0", "δ/2", "δ", "2δ", "10 pts")
SIZES = (154, 1000, 3080)


def old_rule_picks_cheaper(b: int, c: int, n: int) -> bool:
    """The schema-1.0 rule for two feasible arms, dearer ("dear") and cheaper: the best is
    the higher point estimate; the cheaper arm wins unless the best is dearer and
    significantly better after Holm (one pair) *and* by at least the MDE."""
    if c >= b:  # the cheaper arm scores at least as high: it is the best and the cheapest
        return True
    discordant = b + c
    p = 1.0 if discordant == 0 else binomtest(b, discordant, 0.5).pvalue
    mde = mde_paired_proportions(n, discordant / n)
    dear_wins = p < 0.05 and (b - c) / n >= mde
    return not dear_wins


def new_rule_choice(b: int, c: int, n: int, margin: float) -> str | None:
    """What tvp's rule recommends for two feasible arms: "cheap", "dear" or None."""
    difference = (b - c) / n
    evidence = Evidence("dear", "cheap", difference, n, "tango-score", PairedCounts(b, c, n))
    contenders = [
        Contender("dear", 0.5 + difference / 2, 2.0),
        Contender("cheap", 0.5 - difference / 2, 1.0),
    ]
    return choose(contenders, lambda r, k: evidence, Margin(margin), 0.95).arm


def probability_cheaper(
    n: int, gap: float, discordance: float, margin: float
) -> tuple[float, float, float]:
    """Exact P(cheaper recommended) under the old and the new rule, and P(nothing
    recommended yet) under the new one."""
    first, second = (discordance + gap) / 2, (discordance - gap) / 2
    old = new = undecided = 0.0
    for b, c, p in paired_tables(n, first, second):
        old += p * old_rule_picks_cheaper(b, c, n)
        choice = new_rule_choice(b, c, n, margin)
        new += p * (choice == "cheap")
        undecided += p * (choice is None)
    return old, new, undecided


def bootstrap_percentile(
    successes: int, n: int, seed: int, n_boot: int = 1000
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    resampled = rng.binomial(n, successes / n, size=n_boot) / n
    low, high = np.quantile(resampled, [0.025, 0.975])
    return float(low), float(high)


def single_coverage(p: float, n: int) -> tuple[float, float]:
    old = new = 0.0
    for k in range(n + 1):
        weight = float(binom.pmf(k, n, p))
        low, high = bootstrap_percentile(k, n, seed=k)
        old += weight * (low <= p <= high)
        low, high = clopper_pearson(k, n, 0.95)
        new += weight * (low <= p <= high)
    return old, new


def paired_coverage(first: float, second: float, n: int, seed: int = 0) -> tuple[float, float]:
    """Coverage of the interval of first − second: old paired percentile bootstrap (1,000
    resamples of the examples) against Tango, exact over the trinomial."""
    truth = first - second
    rng = np.random.default_rng(seed)
    old = new = 0.0
    for b in range(n + 1):
        pb = float(binom.pmf(b, n, first))
        if pb < 1e-9:
            continue
        for c in range(n - b + 1):
            p = pb * float(binom.pmf(c, n - b, second / (1 - first)))
            if p < 1e-9:
                continue
            lo, hi = tango_interval(PairedCounts(b, c, n), 0.95)
            new += p * (lo <= truth <= hi)
            draws = rng.multinomial(n, [b / n, c / n, 1 - (b + c) / n], size=1000)
            diffs = (draws[:, 0] - draws[:, 1]) / n
            qlo, qhi = np.quantile(diffs, [0.025, 0.975])
            old += p * (qlo <= truth <= qhi)
    return old, new


def type_one_error(n: int, sims: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    old = new = 0
    for _ in range(sims):
        diffs = rng.normal(0, 1, n)
        centred = diffs - diffs.mean()
        means = centred[rng.integers(0, n, size=(1000, n))].mean(axis=1)
        p_old = (int((np.abs(means) >= abs(diffs.mean()) - 1e-12).sum()) + 1) / 1001
        part, _ = cluster_variance(diffs, None)
        p_new = combine(float(diffs.mean()), [part]).p_two_sided()
        old += p_old < 0.05
        new += p_new < 0.05
    return old / sims, new / sims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--margin", type=float, default=0.02)
    parser.add_argument("--discordance", type=float, default=0.2)
    parser.add_argument("--sims", type=int, default=4000)
    args = parser.parse_args()
    delta, psi = args.margin, args.discordance
    began = time.perf_counter()
    gaps = {"0": 0.0, "δ/2": delta / 2, "δ": delta, "2δ": 2 * delta, "10 pts": 0.10}

    print(f"P(the cheaper arm is recommended), margin δ = {delta}, discordance {psi:.0%}, exact")
    print()
    columns = " | ".join(f"n = {n:,} old / new" for n in SIZES)
    print(f"| true gap (cheaper arm worse by) | {columns} |")
    print("|---|" + "---:|" * len(SIZES))
    undecided: dict[tuple[str, int], float] = {}
    for label in GAPS:
        cells = []
        for n in SIZES:
            old, new, open_ = probability_cheaper(n, gaps[label], psi, delta)
            undecided[label, n] = open_
            cells.append(f"{old:.3f} / {new:.3f}")
        print(f"| {label} ({gaps[label]:.3f}) | " + " | ".join(cells) + " |", flush=True)
    print()
    print("New rule: P(no arm recommended yet: the cheaper arm leads but is not shown within δ)")
    print()
    print("| true gap | " + " | ".join(f"n = {n:,}" for n in SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for label in GAPS:
        cells = [f"{undecided[label, n]:.3f}" for n in SIZES]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()

    print("Coverage of one arm's 95% accuracy interval at n = 154, exact over the binomial")
    print()
    print("| true accuracy | percentile bootstrap (old) | Clopper–Pearson (new) |")
    print("|---:|---:|---:|")
    for p in (0.01, 0.5, 0.95):
        old, new = single_coverage(p, 154)
        print(f"| {p} | {old:.3f} | {new:.3f} |", flush=True)
    print()

    print("Coverage of the 95% interval of a paired difference at n = 154, exact over the tables")
    print()
    print("| only-first / only-second share | paired percentile bootstrap (old) | Tango (new) |")
    print("|---|---:|---:|")
    for first, second in ((0.02, 0.01), (0.1, 0.1), (0.15, 0.05)):
        old, new = paired_coverage(first, second, 154)
        print(f"| {first} / {second} | {old:.3f} | {new:.3f} |", flush=True)
    print()

    print(
        "Type-I error of a two-sided 5% test of a graded metric's paired difference "
        f"({args.sims:,} simulations)"
    )
    print()
    print("| n | percentile-bootstrap p (old) | t test (new) |")
    print("|---:|---:|---:|")
    for n in (5, 10, 30):
        old, new = type_one_error(n, args.sims, n)
        print(f"| {n} | {old:.3f} | {new:.3f} |", flush=True)
    print()
    print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
