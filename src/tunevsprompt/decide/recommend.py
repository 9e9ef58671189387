"""The recommendation: which arms meet the suite's bars (verdict per arm), and among those,
the cheapest one that is not significantly worse than the best; why, in sentences with the
numbers; and the conditions under which the answer would change."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tunevsprompt.comparisons import ALPHA
from tunevsprompt.decide.checks import Check, constraint_checks, cost_check
from tunevsprompt.decide.config import DecisionConfig
from tunevsprompt.decide.fmt import num, usd, volume

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
    """The headline metric (the bars and the 'best' arm)."""
    smallest_volume: float
    """Break-even volumes below this are too small to be worth a flip condition."""


def standings(
    arms: Mapping[str, dict[str, Any]], policy: DecisionConfig, decision_volume: int
) -> dict[str, ArmStanding]:
    out = {}
    for name, record in arms.items():
        checks = constraint_checks(record, policy)
        monthly = (record.get("cost") or {}).get("monthly_usd")
        if policy.max_monthly_usd is not None:
            checks.append(cost_check(monthly, policy.max_monthly_usd, decision_volume))
        quality = record.get("quality") or {}
        value = quality.get("value")
        if value is None:
            checks.append(Check("quality", "missing", None, math.nan, "quality was not measured"))
            out[name] = ArmStanding(name, None, None, monthly, checks)
            continue
        ci = quality.get("ci95") or [value, value]
        out[name] = ArmStanding(name, float(value), (float(ci[0]), float(ci[1])), monthly, checks)
    return out


def _comparison(a: str, b: str, comparisons: list[dict[str, Any]]) -> dict[str, Any] | None:
    for entry in comparisons:
        if set(entry["arms"]) == {a, b}:
            return entry
    return None


def _cost_key(standing: ArmStanding) -> tuple[float, float]:
    cost = standing.monthly_usd
    return (math.inf if cost is None else cost, -(standing.quality or 0.0))


def recommend(arms: Mapping[str, dict[str, Any]], inputs: DecisionInputs) -> dict[str, Any]:
    """``recommendation`` in results.json."""
    standing = standings(arms, inputs.policy, inputs.volume)
    feasible = [s for s in standing.values() if s.verdict == "ALLOW"]
    reasons: list[str] = []
    chosen: ArmStanding | None = None
    peers: list[ArmStanding] = []
    if not feasible:
        reasons.append("No arm is shown to meet every constraint, so none is recommended.")
        reasons.extend(_why_not(s) for s in standing.values())
    else:
        best = max(feasible, key=lambda s: (s.quality or 0.0, -_cost_key(s)[0]))
        # A peer was compared with the best on the same examples and not shown worse; an arm
        # that was never compared cannot be called a peer.
        peers = [best] + [
            s
            for s in feasible
            if s is not best
            and (entry := _comparison(s.name, best.name, inputs.comparisons)) is not None
            and entry.get("winner") != best.name
        ]
        priced = [s for s in peers if s.monthly_usd is not None]
        chosen = min(priced, key=_cost_key) if priced else best
        reasons.extend(_why(chosen, best, peers, feasible, inputs))
        if arms[chosen.name].get("uses_llm") is False:
            reasons.append(_no_llm_needed(chosen.name, arms, best.name))
        reasons.extend(_why_not(s) for s in standing.values() if s.verdict != "ALLOW")
    return {
        "arm": chosen.name if chosen else None,
        "volume": inputs.volume,
        "metric": inputs.metric,
        "verdicts": {name: s.verdict for name, s in standing.items()},
        "checks": {name: [c.to_json() for c in s.checks] for name, s in standing.items()},
        "reasons": reasons,
        "flip_conditions": _flip_conditions(chosen, peers, standing, inputs),
    }


def _quality(s: ArmStanding, metric: str) -> str:
    if s.quality is None or s.ci95 is None:
        return f"{metric} not measured"
    return f"{metric} {num(s.quality)} [{num(s.ci95[0])}, {num(s.ci95[1])}]"


def _difference(entry: dict[str, Any]) -> str:
    low, high = entry["ci95"]
    return (
        f"{entry['metric']} difference {num(abs(entry['difference']))} "
        f"(95% CI [{num(low)}, {num(high)}] for {entry['arms'][0]} − {entry['arms'][1]}), "
        f"Holm p = {num(entry['p_holm'], 4)}, minimum detectable effect {num(entry['mde'])} "
        f"at n = {entry['n']}"
    )


def _below_mde(entry: dict[str, Any]) -> str:
    """Why a significant difference still does not count: it is smaller than the effect the
    test could reliably detect, and a difference counts only when it is at least that."""
    if entry["p_holm"] < ALPHA and abs(float(entry["difference"])) < float(entry["mde"]):
        return (
            "; significant, but smaller than the minimum detectable effect, and a difference "
            "counts only when it is at least that large"
        )
    return ""


def _why(
    chosen: ArmStanding,
    best: ArmStanding,
    peers: list[ArmStanding],
    feasible: list[ArmStanding],
    inputs: DecisionInputs,
) -> list[str]:
    metric = inputs.metric
    passed = "; ".join(c.message for c in chosen.checks)
    lines = [
        f"Recommend {chosen.name}: {_quality(chosen, metric)}, "
        f"{usd(chosen.monthly_usd)}/month at {inputs.volume:,} requests. "
        + (f"It meets every constraint: {passed}." if passed else "No constraints are set.")
    ]
    if chosen is best:
        tail = " and is the cheapest of the arms not shown to be worse." if len(peers) > 1 else "."
        lines.append(
            f"{chosen.name} has the highest {metric} of the {len(feasible)} arm(s) that meet "
            f"the constraints{tail}"
        )
        if chosen.monthly_usd is None:
            lines.append("Its cost is unknown (no throughput measured), so cost decided nothing.")
    else:
        entry = _comparison(chosen.name, best.name, inputs.comparisons)
        assert entry is not None  # peers other than the best were compared with it
        lines.append(
            f"{best.name} scores higher ({_quality(best, metric)}), but the difference is not "
            f"demonstrated ({_difference(entry)}{_below_mde(entry)}), and {chosen.name} costs "
            f"less ({usd(chosen.monthly_usd)} vs {usd(best.monthly_usd)} a month)."
        )
    for other in sorted(feasible, key=_cost_key):
        if other is chosen or other is best:
            continue
        entry = _comparison(other.name, best.name, inputs.comparisons)
        if entry is None:
            lines.append(
                f"{other.name} meets the constraints but was not compared with {best.name} on "
                "the same examples, so it cannot be called as good."
            )
        elif entry.get("winner") == best.name:
            lines.append(
                f"{other.name} meets the constraints but is significantly worse than "
                f"{best.name} ({_difference(entry)})."
            )
        else:
            lines.append(
                f"{other.name} meets the constraints and is not shown to be worse, but costs "
                f"more ({usd(other.monthly_usd)}/month)."
            )
    return lines


def _no_llm_needed(name: str, arms: Mapping[str, dict[str, Any]], best: str) -> str:
    """Said plainly when the recommended arm runs no language model at all."""
    embedding = arms[name].get("embedding") or {}
    how = embedding.get("method") or "a classifier"
    on = embedding.get("embedder") or "sentence-embedding"
    if best == name:
        tail = "It scores highest of the arms that meet the constraints, LLM arms included."
    else:
        tail = f"{best} scores higher, but not significantly, and costs more."
    return (
        f"You do not need an LLM for this task: {name} answers with {how} over {on} "
        f"embeddings of the training examples, with no prompt and no generation. {tail}"
    )


def _why_not(s: ArmStanding) -> str:
    label = "Rejected" if s.verdict == "REJECT" else "Inconclusive"
    return f"{label}: {s.name}, " + "; ".join(c.message for c in s.blockers()) + "."


def _floor(value: float, digits: int = 3) -> float:
    return float(math.floor(value * 10**digits) / 10**digits)


def _ceil(value: float, digits: int = 3) -> float:
    return float(math.ceil(value * 10**digits) / 10**digits)


def _flip_conditions(
    chosen: ArmStanding | None,
    peers: list[ArmStanding],
    standing: Mapping[str, ArmStanding],
    inputs: DecisionInputs,
) -> list[str]:
    """Break-even volumes against the arms that could take the recommendation's place (peers
    of the best), and the one bar that keeps each cheaper arm out."""
    flips = []
    rivals = {s.name for s in peers}
    if chosen is not None:
        for entry in inputs.break_even:
            at = entry["volume"]
            if chosen.name not in entry["arms"] or at is None or at < inputs.smallest_volume:
                continue
            other = next(a for a in entry["arms"] if a != chosen.name)
            if other not in rivals:
                continue
            if entry["cheaper_above"] == other and at > inputs.volume:
                flips.append(
                    f"{other} becomes cheaper than {chosen.name} above {volume(at)} requests/month."
                )
            elif entry["cheaper_below"] == other and at < inputs.volume:
                flips.append(
                    f"{other} becomes cheaper than {chosen.name} below {volume(at)} requests/month."
                )
    bar = inputs.policy
    for s in sorted(standing.values(), key=_cost_key):
        if s.verdict == "ALLOW" or (chosen is not None and _cost_key(s) >= _cost_key(chosen)):
            continue
        blockers = s.blockers()
        if len(blockers) != 1 or blockers[0].bound is None:
            continue
        only, bound = blockers[0], float(blockers[0].bound)
        if only.name == "quality" and bar.min_quality is not None:
            flips.append(
                f"{s.name} would be enough if the {inputs.metric} bar were "
                f"{num(_floor(bound))} (its CI lower bound) instead of "
                f"{num(bar.min_quality)}."
            )
        elif only.name == "p95_latency":
            flips.append(
                f"{s.name} would qualify if the p95 latency limit were "
                f"{math.ceil(bound):,} ms instead of {num(only.limit)} ms."
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
