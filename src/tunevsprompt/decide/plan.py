"""Sample sizes for the decision: how many test examples a suite needs before a cheaper arm
can be shown to lose less than the margin. Planned from assumptions (`tvp plan --discordance`)
or from a finished run's own comparisons (`tvp plan RUN_DIR`), with the same tests the
decision runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunevsprompt.decide.config import parse_margin
from tunevsprompt.decide.evidence import evidence
from tunevsprompt.measure.stats import CI_LEVEL, noninferiority_n
from tunevsprompt.measure.stats.power import noninferiority_n_paired_binary_exact


@dataclass(frozen=True)
class PlanRow:
    arm: str
    against: str
    difference: float
    margin: float
    n: int
    needed: int | None
    """None: no number of examples is enough (the observed loss is at least the margin, or
    the seed-to-seed spread alone is too wide)."""
    shown: bool
    """This run already shows the arm within the margin (this comparison alone)."""


def alpha_for(comparisons: int) -> float:
    """The one-sided level of each comparison: (1 − 0.95)/2, Bonferroni over the arms that
    claim a saving (Holm needs no more than this)."""
    return (1 - CI_LEVEL) / 2 / max(comparisons, 1)


def plan_binary(
    discordance: float,
    gap: float,
    margin: float,
    power: float = 0.8,
    comparisons: int = 1,
    design_effect: float = 1.0,
) -> int | None:
    """Test examples for a 0/1 metric: the two arms disagree about correctness on
    ``discordance`` of the examples, and the dearer one is truly better by ``gap``. Exact
    power of Tango's score test."""
    if not 0 < discordance <= 1 or abs(gap) > discordance:
        raise ValueError("the discordance must be in (0, 1] and at least the gap")
    first, second = (discordance + gap) / 2, (discordance - gap) / 2
    n = noninferiority_n_paired_binary_exact(first, second, margin, alpha_for(comparisons), power)
    return None if n is None else math.ceil(n * max(design_effect, 1.0))


def plan_means(
    sd: float,
    gap: float,
    margin: float,
    power: float = 0.8,
    comparisons: int = 1,
    design_effect: float = 1.0,
) -> int | None:
    """Test examples for a graded metric whose per-example differences between the two arms
    have standard deviation ``sd``."""
    n = noninferiority_n(
        sd * sd * max(design_effect, 1.0), gap, margin, alpha_for(comparisons), power
    )
    return None if math.isinf(n) else math.ceil(n)


def plan_run(
    results: Mapping[str, Any], margin: float | str | None = None, power: float = 0.8
) -> list[PlanRow]:
    """For each comparison the run's decision made (each cheaper arm against each arm that
    costs more), the test examples at which it would succeed with this power if the
    difference and its spread were as observed."""
    recommendation = results.get("recommendation") or {}
    tests = recommendation.get("tests") or []
    by_pair = {frozenset(e["arms"]): e for e in results.get("comparisons") or []}
    claims = {t["arm"] for t in tests}
    rule = parse_margin(margin) if margin is not None else None
    values = {n: (r.get("quality") or {}).get("value") for n, r in results["arms"].items()}
    rows = []
    for test in tests:
        entry = by_pair.get(frozenset((test["arm"], test["against"])))
        if entry is None:
            continue
        found = evidence(entry, test["against"], test["arm"])
        delta = float(test["margin"])
        if rule is not None:
            reference = float(values.get(test["against"]) or 0.0)
            delta = rule.value * reference if rule.relative else rule.value
        needed = found.n_needed(delta, alpha_for(len(claims)), power)
        rows.append(
            PlanRow(
                test["arm"],
                test["against"],
                found.difference,
                delta,
                found.n,
                None if math.isinf(needed) else math.ceil(needed),
                found.p_within(delta) < alpha_for(1),
            )
        )
    return rows
