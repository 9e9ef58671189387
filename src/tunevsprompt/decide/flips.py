"""What would change the recommendation: another monthly volume (the cost order of two
arms flips at their break-even volume), a wider margin, or a bar that keeps one cheaper arm
out. Each is found by applying the same rule again, so a flip condition is never a guess."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from tunevsprompt.decide.fmt import num, usd, volume
from tunevsprompt.decide.rule import Choice, Margin

if TYPE_CHECKING:
    from tunevsprompt.decide.standing import ArmStanding, Decision

MARGIN_SEARCH_STEPS = 30


def flip_conditions(decision: Decision) -> list[str]:
    return [*_volume_flips(decision), *_margin_flip(decision), *_bar_flips(decision)]


def _shown(choice: Choice) -> str:
    if choice.arm is not None:
        return choice.arm
    if choice.status == "undecided":
        return "no arm yet (undecided)"
    return "no arm (none meets the constraints)"


def _edges(decision: Decision) -> list[float]:
    """The volumes where the cost order of two eligible arms flips (break-even points), or
    where one crosses the monthly budget: between two of them the rule's inputs are fixed."""
    eligible = {
        s.name
        for s in decision.standing.values()
        if s.quality is not None
        and all(c.status == "pass" for c in s.checks if c.name != "monthly_cost")
    }
    found = {
        float(entry["volume"])
        for entry in decision.inputs.break_even
        if entry.get("volume") is not None and set(entry["arms"]) <= eligible
    }
    budget = decision.inputs.policy.max_monthly_usd
    for name in sorted(eligible) if budget is not None else ():
        cost = decision.arms[name].get("cost") or {}
        per_1k = cost.get("per_1k_requests_usd")
        months = float((cost.get("basis") or {}).get("amortise_months") or 12)
        if per_1k:
            assert budget is not None
            room = budget - float(cost.get("one_time_usd") or 0.0) / months
            if room > 0:
                found.add(room * 1000 / float(per_1k))
    return sorted(v for v in found if v >= decision.inputs.smallest_volume)


def _volume_flips(decision: Decision) -> list[str]:
    """The recommendation in every range of volumes between the break-even points of the
    eligible arms (and the volumes where one meets the budget), where it differs from this
    one."""
    crossings = _edges(decision)
    if not crossings:
        return []
    edges = [0.0, *crossings, math.inf]
    here = decision.choice.arm
    flips = []
    for low, high in itertools.pairwise(edges):
        if low <= decision.inputs.volume < high:
            continue
        middle = high / 2 if low == 0 else (low * 2 if math.isinf(high) else math.sqrt(low * high))
        choice = decision.rechoose(volume=middle)
        if choice.arm == here:
            continue
        if low == 0:
            span = f"Below {volume(high)} requests/month"
        elif math.isinf(high):
            span = f"Above {volume(low)} requests/month"
        else:
            span = f"From {volume(low)} to {volume(high)} requests/month"
        flips.append(f"{span} the recommendation would be {_shown(choice)}.")
    return flips


def _margin_flip(decision: Decision) -> list[str]:
    """The smallest margin at which a cheaper arm would be recommended (a wider margin can
    only move the choice to a cheaper arm)."""
    margin = decision.margin
    here = decision.choice.arm
    ceiling = 0.5

    def moved(value: float) -> bool:
        return decision.rechoose(margin=Margin(value, margin.relative)).arm != here

    if margin.value >= ceiling or not moved(ceiling):
        return []
    low, high = margin.value, ceiling
    for _ in range(MARGIN_SEARCH_STEPS):
        middle = (low + high) / 2
        low, high = (low, middle) if moved(middle) else (middle, high)
    wider = math.ceil(high * 1000) / 1000
    if not moved(wider):
        wider = high
    choice = decision.rechoose(margin=Margin(wider, margin.relative))
    shown = f"{100 * wider:g}% of the dearer arm's score" if margin.relative else num(wider)
    return [
        f"With a margin of {shown} instead of {margin.describe()} (a larger "
        f"{decision.inputs.metric} loss accepted for a saving), the recommendation would be "
        f"{_shown(choice)}."
    ]


def _floor(value: float, digits: int = 3) -> float:
    return float(math.floor(value * 10**digits) / 10**digits)


def _ceil(value: float, digits: int = 3) -> float:
    return float(math.ceil(value * 10**digits) / 10**digits)


def _bar_flips(decision: Decision) -> list[str]:
    """The one bar that keeps each arm cheaper than the recommendation out."""
    flips = []
    bar = decision.inputs.policy
    chosen = decision.choice.arm
    limit = decision.standing[chosen].monthly_usd if chosen is not None else None

    def key(s: ArmStanding) -> float:
        return math.inf if s.monthly_usd is None else s.monthly_usd

    for s in sorted(decision.standing.values(), key=key):
        if s.verdict == "ALLOW" or s.monthly_usd is None:
            continue
        if limit is not None and s.monthly_usd >= limit:
            continue
        blockers = s.blockers()
        if len(blockers) != 1 or blockers[0].bound is None:
            continue
        only, bound = blockers[0], float(blockers[0].bound)
        if only.name == "quality" and bar.min_quality is not None:
            flips.append(
                f"{s.name} would qualify if the {decision.inputs.metric} bar were "
                f"{num(_floor(bound))} (its CI lower bound) instead of {num(bar.min_quality)}."
            )
        elif only.name == "p95_latency":
            flips.append(
                f"{s.name} would qualify if the p95 latency limit were "
                f"{math.ceil(bound):,} ms (its upper bound) instead of {num(only.limit)} ms."
            )
        elif only.name.startswith("forgetting"):
            share = " of the base" if only.name.endswith("relative") else ""
            flips.append(
                f"{s.name} would qualify if the forgetting limit were {num(_ceil(bound))}"
                f"{share} (its CI upper bound) instead of {num(only.limit)}{share}."
            )
        elif only.name == "monthly_cost":
            flips.append(
                f"{s.name} would qualify with a monthly budget of "
                f"{usd(math.ceil(bound * 100) / 100)}."
            )
    return flips
