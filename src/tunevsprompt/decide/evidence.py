"""What one comparisons entry says about a reference arm minus a candidate arm: the
difference, its interval, the one-sided non-inferiority test against a margin, and how many
test examples would settle that test. Read back from results.json, so `tvp report` can decide
from a run folder whose samples are gone, and from entries written by earlier versions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunevsprompt.measure.stats import (
    Z_975,
    Estimate,
    PairedCounts,
    noninferiority_n,
    noninferiority_n_paired_binary,
    tango_interval,
    tango_noninferiority_p,
)


@dataclass(frozen=True)
class Evidence:
    """reference − candidate on the same examples."""

    reference: str
    candidate: str
    difference: float
    n: int
    method: str
    counts: PairedCounts | None = None
    """Effective paired counts (reference only, candidate only), for 0/1 metrics."""
    estimate: Estimate | None = None
    """Difference, standard error and df, for every other metric."""
    example_variance: float = 0.0
    """The example-level part of the estimate's variance (shrinks with n)."""
    seed_variance: float = 0.0
    """The seed-to-seed part (does not shrink with n)."""
    seed_df: float = math.inf
    design_effect: float = 1.0

    def interval(self, confidence: float) -> tuple[float, float]:
        if self.counts is not None:
            return tango_interval(self.counts, confidence)
        assert self.estimate is not None
        return self.estimate.interval(confidence)

    def p_within(self, margin: float) -> float:
        """One-sided p-value of "the candidate loses at least ``margin``"."""
        if self.counts is not None:
            return tango_noninferiority_p(self.counts, margin)
        assert self.estimate is not None
        return self.estimate.p_below(margin)

    def n_needed(self, margin: float, alpha: float, power: float = 0.8) -> float:
        """Test examples at which the non-inferiority test would show, with this power, that
        the candidate loses less than ``margin``, if the true difference and the spread were
        as observed. Infinite when the observed loss is not below the margin, or when the
        seed-to-seed spread alone is too large."""
        if self.counts is not None:
            c = self.counts
            per_unit = noninferiority_n_paired_binary(
                c.first_only / c.n, c.second_only / c.n, margin, alpha, power
            )
            return per_unit * max(self.design_effect, 1.0)
        return noninferiority_n(
            self.example_variance * self.n,
            self.difference,
            margin,
            alpha,
            power,
            fixed_variance=self.seed_variance,
            fixed_df=self.seed_df,
        )


def evidence(entry: Mapping[str, Any], reference: str, candidate: str) -> Evidence:
    """The entry comparing the two arms, oriented as reference − candidate."""
    first, second = entry["arms"]
    if {first, second} != {reference, candidate}:
        raise ValueError(f"entry compares {first} and {second}, not {reference} and {candidate}")
    sign = 1.0 if first == reference else -1.0
    difference = sign * float(entry["difference"])
    n = int(entry["n"])
    deff = float(entry.get("design_effect") or 1.0)
    method = str(entry.get("method") or "")
    discordance = entry.get("discordance")
    # 0/1 scores, one seed, independent examples: written as "tango-score" since schema 2.0,
    # and with a McNemar test and discordant counts before it.
    if method == "tango-score" or (not method and discordance is not None):
        assert discordance is not None
        a_only, b_only = float(discordance["a_only"]), float(discordance["b_only"])
        ref_only, cand_only = (a_only, b_only) if sign > 0 else (b_only, a_only)
        counts = PairedCounts(ref_only, cand_only, n)
        return Evidence(reference, candidate, difference, n, "tango-score", counts)
    se = entry.get("se")
    variance = dict(entry.get("variance") or {})
    if se is None or variance.get("examples") is None:
        # Entries from before schema 2.0 (a percentile bootstrap interval), or without a
        # usable standard error: the one the interval's width implies.
        low, high = entry["ci95"]
        se = (float(high) - float(low)) / (2 * Z_975)
        variance = {"examples": float(se) ** 2, "seeds": 0.0}
    df = entry.get("df")
    seed_df = variance.get("seeds_df")
    return Evidence(
        reference,
        candidate,
        difference,
        n,
        method or "paired-bootstrap",
        None,
        Estimate(difference, float(se), math.inf if df is None else float(df)),
        float(variance["examples"]),
        float(variance.get("seeds") or 0.0),
        math.inf if seed_df is None else float(seed_df),
        deff,
    )
