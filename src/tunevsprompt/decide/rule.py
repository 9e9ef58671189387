"""The decision rule, on the arms that meet every bar (the feasible arms).

A saving needs evidence; quality does not need to be paid for twice:

1. An arm carries a *burden* towards every feasible arm that costs more than it, and towards
   every feasible arm when either cost is unknown (an unknown cost is never called cheaper
   or dearer).
2. It meets its burden when, against each of those arms, the one-sided non-inferiority test
   shows that it loses less than the margin δ (the test's (1 − confidence)/2 level: the
   upper bound of the two-sided interval of reference − arm lies below δ). Its p-value is
   the largest over those arms (an intersection–union test), and Holm's correction runs
   over the arms that carry a burden.
3. An arm is *dominated* when an arm that costs no more scores higher (point estimates).
   An arm that *is* another feasible arm costing no more (an optimized-prompt arm whose
   search kept that arm's prompt as written) stands aside for it before anything else.
4. The recommendation is the cheapest arm that meets its burden and is not dominated
   (arms of unknown cost last, the higher-scoring first). When every cost is known the
   dearest feasible arm carries no burden; with an arm of unknown cost every arm carries one.
   When no arm qualifies, nothing is recommended: the leading arm scores highest but is not
   shown to be within δ of an arm that costs more or whose cost is unknown.

So a cheaper arm that is truly worse by more than δ is recommended with probability at
most (1 − confidence)/2 per comparison, whatever the point estimates say."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from tunevsprompt.decide.evidence import Evidence
from tunevsprompt.measure.stats import holm

Status = Literal["recommended", "undecided", "no-feasible-arm"]


@dataclass(frozen=True)
class Contender:
    """A feasible arm: its headline figure and its monthly cost (None: unknown)."""

    name: str
    quality: float
    cost: float | None
    same_as: str | None = None
    """Another arm this one is, as a deployed system: an optimized-prompt arm whose search
    kept that arm's prompt as written (same prompts, the search's cost on top)."""


@dataclass(frozen=True)
class Margin:
    """δ: absolute in the metric's units, or a share of the reference arm's score."""

    value: float
    relative: bool = False

    def against(self, reference: Contender) -> float:
        return self.value * reference.quality if self.relative else self.value

    def describe(self) -> str:
        return (
            f"{100 * self.value:g}% of the reference's score"
            if self.relative
            else f"{self.value:g}"
        )


@dataclass(frozen=True)
class Test:
    """One non-inferiority comparison: does ``arm`` lose less than δ against ``against``?"""

    arm: str
    against: str
    margin: float
    evidence: Evidence | None
    p_value: float
    shown: bool
    confidence: float

    @cached_property
    def ci(self) -> tuple[float, float] | None:
        """The interval of against − arm (computed when a report needs it)."""
        return None if self.evidence is None else self.evidence.interval(self.confidence)

    def to_json(self, alpha: float, power: float = 0.8) -> dict[str, Any]:
        needed = None
        if self.evidence is not None:
            n = self.evidence.n_needed(self.margin, alpha, power)
            needed = None if math.isinf(n) else math.ceil(n)
        return {
            "arm": self.arm,
            "against": self.against,
            "difference": None if self.evidence is None else round(self.evidence.difference, 6),
            "ci95": None if self.ci is None else [round(self.ci[0], 6), round(self.ci[1], 6)],
            "margin": round(self.margin, 6),
            "method": None if self.evidence is None else self.evidence.method,
            "p_value": self.p_value,
            "within_margin": self.shown,
            "n_needed": needed,
        }


@dataclass(frozen=True)
class Claim:
    """An arm's burden: its tests, the intersection–union p-value and Holm's."""

    arm: str
    tests: list[Test]
    p_value: float
    p_holm: float
    met: bool

    @property
    def weakest(self) -> Test:
        return max(self.tests, key=lambda t: t.p_value)


@dataclass(frozen=True)
class Choice:
    arm: str | None
    status: Status
    leading: str | None
    claims: dict[str, Claim] = field(default_factory=dict)
    dominated: dict[str, str] = field(default_factory=dict)
    """Arms scored lower than an arm that costs no more: name → that arm."""
    same_system: dict[str, str] = field(default_factory=dict)
    """Arms that are another feasible arm costing no more, as a deployed system (its prompt
    kept as written): name → that arm. They stand aside for it and impose no burden."""


def costs_more(a: Contender, b: Contender) -> bool | None:
    """Whether a costs more than b; None when either cost is unknown."""
    if a.cost is None or b.cost is None:
        return None
    return a.cost > b.cost


def _burden(arm: Contender, others: Sequence[Contender]) -> list[Contender]:
    return [o for o in others if o is not arm and costs_more(o, arm) in (True, None)]


def _same_systems(contenders: Sequence[Contender]) -> dict[str, str]:
    """Arms that are another feasible arm as a deployed system, when that arm costs no more
    (the same prompts cannot be told apart by a test: the copy only adds its search cost)."""
    by_name = {c.name: c for c in contenders}
    return {
        c.name: c.same_as
        for c in contenders
        if c.same_as in by_name and c.same_as != c.name and not costs_more(by_name[c.same_as], c)
    }


def _dominated_by(arm: Contender, others: Sequence[Contender]) -> Contender | None:
    if arm.cost is None:
        return None
    rivals = [
        o
        for o in others
        if o is not arm and o.cost is not None and o.cost <= arm.cost and o.quality > arm.quality
    ]
    return max(rivals, key=lambda o: o.quality) if rivals else None


def choose(
    contenders: Sequence[Contender],
    evidence_of: Callable[[str, str], Evidence | None],
    margin: Margin,
    confidence: float,
) -> Choice:
    """Apply the rule. ``evidence_of(reference, candidate)`` gives reference − candidate."""
    if not contenders:
        return Choice(None, "no-feasible-arm", None)
    same_system = _same_systems(contenders)
    contenders = [c for c in contenders if c.name not in same_system]
    alpha = (1 - confidence) / 2
    leading = max(contenders, key=lambda c: c.quality)
    burdened = [(c, _burden(c, contenders)) for c in contenders]
    burdened = [(c, refs) for c, refs in burdened if refs]
    tests: dict[str, list[Test]] = {}
    for arm, references in burdened:
        tests[arm.name] = [_test(arm, ref, evidence_of, margin, confidence) for ref in references]
    p_values = [max(t.p_value for t in tests[arm.name]) for arm, _ in burdened]
    claims = {
        arm.name: Claim(arm.name, tests[arm.name], p, adjusted, adjusted < alpha)
        for (arm, _), p, adjusted in zip(burdened, p_values, holm(p_values), strict=True)
    }
    dominated = {
        c.name: rival.name
        for c in contenders
        if (rival := _dominated_by(c, contenders)) is not None
    }
    qualified = [
        c
        for c in contenders
        if c.name not in dominated and (c.name not in claims or claims[c.name].met)
    ]
    if not qualified:
        return Choice(None, "undecided", leading.name, claims, dominated, same_system)
    priced = sorted(
        (c for c in qualified if c.cost is not None), key=lambda c: (c.cost, -c.quality)
    )
    unpriced = sorted((c for c in qualified if c.cost is None), key=lambda c: -c.quality)
    chosen = (priced or unpriced)[0]
    return Choice(chosen.name, "recommended", leading.name, claims, dominated, same_system)


def _test(
    arm: Contender,
    reference: Contender,
    evidence_of: Callable[[str, str], Evidence | None],
    margin: Margin,
    confidence: float,
) -> Test:
    delta = margin.against(reference)
    found = evidence_of(reference.name, arm.name)
    if found is None:
        return Test(arm.name, reference.name, delta, None, 1.0, False, confidence)
    p_value = found.p_within(delta)
    shown = p_value < (1 - confidence) / 2
    return Test(arm.name, reference.name, delta, found, p_value, shown, confidence)
