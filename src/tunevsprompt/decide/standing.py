"""What the recommendation is made from: each arm's standing against the bars, the inputs of
the decision, and the decision itself (the rule's choice with everything the reasons and flip
conditions are written from)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tunevsprompt.decide.checks import Check, constraint_checks, cost_check, seeds_check
from tunevsprompt.decide.config import DecisionConfig
from tunevsprompt.decide.costs import monthly_usd
from tunevsprompt.decide.evidence import Evidence
from tunevsprompt.decide.rule import Choice, Contender, Margin, choose
from tunevsprompt.measure.stats import CI_LEVEL

Verdict = Literal["ALLOW", "REJECT", "INCONCLUSIVE"]


@dataclass(frozen=True)
class ArmStanding:
    name: str
    quality: float | None
    ci95: tuple[float, float] | None
    monthly_usd: float | None
    checks: list[Check]

    @property
    def verdict(self) -> Verdict:
        statuses = {c.status for c in self.checks}
        if "fail" in statuses:
            return "REJECT"
        if statuses & {"inconclusive", "missing"}:
            return "INCONCLUSIVE"
        return "ALLOW"

    def blockers(self) -> list[Check]:
        return [c for c in self.checks if c.status != "pass"]


@dataclass(frozen=True)
class DecisionInputs:
    """What the recommendation is made from, besides the arms' records."""

    comparisons: list[dict[str, Any]]
    break_even: list[dict[str, Any]]
    policy: DecisionConfig
    volume: int
    metric: str
    """The headline metric (the bars and the comparisons)."""
    smallest_volume: float
    """Break-even volumes below this are too small to be worth a flip condition."""
    volumes: tuple[int, ...] = ()
    """The priced volumes: the recommendation is also given at each."""


@dataclass(frozen=True)
class Decision:
    """Everything the reasons and flip conditions are written from."""

    arms: Mapping[str, dict[str, Any]]
    inputs: DecisionInputs
    standing: dict[str, ArmStanding]
    feasible: list[ArmStanding]
    margin: Margin
    choice: Choice
    evidence_of: Callable[[str, str], Evidence | None]

    @property
    def alpha(self) -> float:
        return (1 - CI_LEVEL) / 2

    def contenders(self, volume: float) -> list[Contender]:
        """The arms feasible at ``volume``: at the decision volume the feasible arms; at
        another, those whose bars other than the budget pass, with the budget checked at
        that volume's cost."""
        if volume == self.inputs.volume:
            return contenders(self.feasible, self.arms, volume, self.inputs.volume)
        budget = self.inputs.policy.max_monthly_usd
        eligible = []
        for s in self.standing.values():
            others = [c for c in s.checks if c.name != "monthly_cost"]
            if s.quality is None or any(c.status != "pass" for c in others):
                continue
            cost = monthly_at(self.arms[s.name], volume)
            if budget is not None and (cost is None or cost > budget):
                continue
            eligible.append(s)
        return contenders(eligible, self.arms, volume, self.inputs.volume)

    def rechoose(self, volume: float | None = None, margin: Margin | None = None) -> Choice:
        return choose(
            self.contenders(self.inputs.volume if volume is None else volume),
            self.evidence_of,
            margin or self.margin,
            CI_LEVEL,
        )


def monthly_at(record: Mapping[str, Any], volume: float) -> float | None:
    """The arm's monthly cost at ``volume`` requests (None: unknown)."""
    cost = record.get("cost") or {}
    per_1k = cost.get("per_1k_requests_usd")
    if per_1k is None:
        return None
    months = float((cost.get("basis") or {}).get("amortise_months") or 12)
    return monthly_usd(float(cost.get("one_time_usd") or 0.0), float(per_1k), months, volume)


def contenders(
    feasible: list[ArmStanding],
    arms: Mapping[str, dict[str, Any]],
    volume: float,
    decision_volume: float,
) -> list[Contender]:
    """The feasible arms with their monthly cost at ``volume`` (the recorded cost at the
    decision volume)."""
    return [
        Contender(
            s.name,
            float(s.quality or 0.0),
            s.monthly_usd if volume == decision_volume else monthly_at(arms[s.name], volume),
            kept_prompt_of(arms[s.name]),
        )
        for s in feasible
    ]


def kept_prompt_of(record: Mapping[str, Any]) -> str | None:
    """The arm whose prompt an optimized-prompt arm's search kept as written, if it did."""
    winner = (record.get("search") or {}).get("winner") or {}
    origin = str(winner.get("origin") or "")
    return origin.removeprefix("arm:") if origin.startswith("arm:") else None


def standings(
    arms: Mapping[str, dict[str, Any]], policy: DecisionConfig, decision_volume: int
) -> dict[str, ArmStanding]:
    out = {}
    for name, record in arms.items():
        checks = constraint_checks(record, policy)
        monthly = (record.get("cost") or {}).get("monthly_usd")
        if policy.max_monthly_usd is not None:
            checks.append(cost_check(monthly, policy.max_monthly_usd, decision_volume))
        if policy.min_seeds is not None and (seeds := seeds_check(record, policy.min_seeds)):
            checks.append(seeds)
        quality = record.get("quality") or {}
        value = quality.get("value")
        if value is None:
            checks.append(Check("quality", "missing", None, math.nan, "quality was not measured"))
            out[name] = ArmStanding(name, None, None, monthly, checks)
            continue
        ci = quality.get("ci95") or [value, value]
        out[name] = ArmStanding(name, float(value), (float(ci[0]), float(ci[1])), monthly, checks)
    return out
