"""The recommendation: which arms meet the suite's bars (verdict per arm), and among those,
the cheapest one that is not significantly worse than the best; why, in sentences with the
numbers; and the conditions under which the answer would change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tunevsprompt.decide.checks import Check, constraint_checks, cost_check
from tunevsprompt.decide.config import DecisionConfig
from tunevsprompt.decide.fmt import num, usd, volume

Verdict = Literal["ALLOW", "REJECT", "INCONCLUSIVE"]


@dataclass(frozen=True)
class ArmStanding:
    name: str
    quality: float
    ci95: tuple[float, float]
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


def standings(
    arms: Mapping[str, dict[str, Any]], policy: DecisionConfig, decision_volume: int
) -> dict[str, ArmStanding]:
    out = {}
    for name, record in arms.items():
        checks = constraint_checks(record, policy)
        monthly = (record.get("cost") or {}).get("monthly_usd")
        if policy.max_monthly_usd is not None:
            checks.append(cost_check(monthly, policy.max_monthly_usd, decision_volume))
        quality = record["quality"]
        ci = quality.get("ci95") or [quality["value"], quality["value"]]
        out[name] = ArmStanding(
            name, float(quality["value"]), (float(ci[0]), float(ci[1])), monthly, checks
        )
    return out


def _significantly_worse(
    arm: str, best: str, comparisons: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The comparison showing ``best`` beats ``arm``, if there is one."""
    for entry in comparisons:
        if set(entry["arms"]) == {arm, best} and entry.get("winner") == best:
            return entry
    return None


def _cost_key(standing: ArmStanding) -> tuple[float, float]:
    cost = standing.monthly_usd
    return (float("inf") if cost is None else cost, -standing.quality)


def recommend(
    arms: Mapping[str, dict[str, Any]],
    comparisons: list[dict[str, Any]],
    break_even: list[dict[str, Any]],
    policy: DecisionConfig,
    decision_volume: int,
    metric: str,
) -> dict[str, Any]:
    """``recommendation`` in results.json."""
    standing = standings(arms, policy, decision_volume)
    feasible = [s for s in standing.values() if s.verdict == "ALLOW"]
    reasons: list[str] = []
    chosen: ArmStanding | None = None
    if not feasible:
        reasons.append("No arm meets every constraint, so none is recommended.")
        reasons.extend(_why_not(s) for s in standing.values())
    else:
        best = max(feasible, key=lambda s: (s.quality, -_cost_key(s)[0]))
        peers = [s for s in feasible if not _significantly_worse(s.name, best.name, comparisons)]
        chosen = min(peers, key=_cost_key)
        reasons.extend(_why(chosen, best, peers, feasible, comparisons, metric, decision_volume))
        reasons.extend(_why_not(s) for s in standing.values() if s.verdict != "ALLOW")
    flips = _flip_conditions(chosen, standing, break_even, policy, metric, decision_volume)
    return {
        "arm": chosen.name if chosen else None,
        "volume": decision_volume,
        "metric": metric,
        "verdicts": {name: s.verdict for name, s in standing.items()},
        "checks": {name: [c.to_json() for c in s.checks] for name, s in standing.items()},
        "reasons": reasons,
        "flip_conditions": flips,
    }


def _quality(s: ArmStanding, metric: str) -> str:
    return f"{metric} {num(s.quality)} [{num(s.ci95[0])}, {num(s.ci95[1])}]"


def _why(
    chosen: ArmStanding,
    best: ArmStanding,
    peers: list[ArmStanding],
    feasible: list[ArmStanding],
    comparisons: list[dict[str, Any]],
    metric: str,
    decision_volume: int,
) -> list[str]:
    passed = "; ".join(c.message for c in chosen.checks)
    lines = [
        f"Recommend {chosen.name}: {_quality(chosen, metric)}, "
        f"{usd(chosen.monthly_usd)}/month at {decision_volume:,} requests. "
        + (f"It meets every constraint: {passed}." if passed else "No constraints are set.")
    ]
    if chosen is best:
        lines.append(
            f"{chosen.name} has the highest {metric} of the {len(feasible)} arm(s) that meet "
            "the constraints"
            + (
                " and is also the cheapest of those not significantly worse."
                if len(peers) > 1
                else "."
            )
        )
    else:
        lines.append(
            f"{best.name} scores higher ({_quality(best, metric)}) but the difference is not "
            f"significant at this n, and {chosen.name} costs less "
            f"({usd(chosen.monthly_usd)} vs {usd(best.monthly_usd)} a month)."
        )
    for other in sorted(feasible, key=_cost_key):
        if other is chosen or other is best:
            continue
        entry = _significantly_worse(other.name, best.name, comparisons)
        if entry is not None:
            lines.append(
                f"{other.name} meets the constraints but is significantly worse than {best.name} "
                f"({metric} difference {num(abs(entry['difference']))}, Holm p = "
                f"{num(entry['p_holm'], 4)})."
            )
        else:
            lines.append(
                f"{other.name} meets the constraints and is not significantly worse, but costs "
                f"more ({usd(other.monthly_usd)}/month)."
            )
    return lines


def _why_not(s: ArmStanding) -> str:
    label = "Rejected" if s.verdict == "REJECT" else "Inconclusive"
    return f"{label}: {s.name}, " + "; ".join(c.message for c in s.blockers()) + "."


def _flip_conditions(
    chosen: ArmStanding | None,
    standing: Mapping[str, ArmStanding],
    break_even: list[dict[str, Any]],
    policy: DecisionConfig,
    metric: str,
    decision_volume: int,
) -> list[str]:
    flips = []
    if chosen is not None:
        for entry in break_even:
            if chosen.name not in entry["arms"] or entry["volume"] is None:
                continue
            other = next(a for a in entry["arms"] if a != chosen.name)
            if standing[other].verdict != "ALLOW":
                continue
            at = entry["volume"]
            if entry["cheaper_above"] == other and at > decision_volume:
                flips.append(
                    f"{other} becomes cheaper than {chosen.name} above {volume(at)} requests/month."
                )
            elif entry["cheaper_below"] == other and at < decision_volume:
                flips.append(
                    f"{other} becomes cheaper than {chosen.name} below {volume(at)} requests/month."
                )
    cheaper_first = sorted(standing.values(), key=_cost_key)
    for s in cheaper_first:
        if s.verdict == "ALLOW" or (chosen is not None and _cost_key(s) >= _cost_key(chosen)):
            continue
        blockers = s.blockers()
        if len(blockers) != 1:
            continue
        only = blockers[0]
        if only.name == "quality" and policy.min_quality is not None:
            flips.append(
                f"{s.name} would be enough if the {metric} bar were {num(s.ci95[0])} "
                f"(its CI lower bound) instead of {num(policy.min_quality)}."
            )
        elif only.name == "p95_latency" and only.observed is not None:
            flips.append(
                f"{s.name} would qualify if the p95 latency limit were {num(only.observed)} ms "
                f"instead of {num(only.limit)} ms."
            )
        elif only.name.startswith("forgetting") and only.bound is not None:
            share = " of the base" if only.name.endswith("relative") else ""
            flips.append(
                f"{s.name} would qualify if the forgetting limit were {num(only.bound)}{share} "
                f"(its CI upper bound) instead of {num(only.limit)}{share}."
            )
        elif only.name == "monthly_cost" and only.observed is not None:
            flips.append(f"{s.name} would qualify with a monthly budget of {usd(only.observed)}.")
    return flips
