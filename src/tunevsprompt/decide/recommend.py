"""The recommendation: which arms meet the suite's bars (a verdict per arm), which of those
the decision rule (``rule``) picks, why (``reasons``), and what would change the answer
(``flips``). Everything is computed from the arms' records and the comparisons entries, so a
run folder alone can be decided again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tunevsprompt.decide.evidence import Evidence, evidence
from tunevsprompt.decide.flips import flip_conditions
from tunevsprompt.decide.reasons import reasons
from tunevsprompt.decide.rule import choose
from tunevsprompt.decide.standing import (
    ArmStanding,
    Decision,
    DecisionInputs,
    contenders,
    monthly_at,
    standings,
)
from tunevsprompt.measure.stats import CI_LEVEL

__all__ = ["ArmStanding", "Decision", "DecisionInputs", "monthly_at", "recommend", "standings"]

PARSE_WARNING_RATE = 0.02
"""Above this share of unparsed answers the report warns: the metric is partly measuring
formatting."""


def _evidence_lookup(
    comparisons: list[dict[str, Any]],
) -> Callable[[str, str], Evidence | None]:
    by_pair = {frozenset(entry["arms"]): entry for entry in comparisons}

    def lookup(reference: str, candidate: str) -> Evidence | None:
        entry = by_pair.get(frozenset((reference, candidate)))
        return None if entry is None else evidence(entry, reference, candidate)

    return lookup


def recommend(arms: Mapping[str, dict[str, Any]], inputs: DecisionInputs) -> dict[str, Any]:
    """``recommendation`` in results.json."""
    standing = standings(arms, inputs.policy, inputs.volume)
    feasible = [s for s in standing.values() if s.verdict == "ALLOW" and s.quality is not None]
    margin = inputs.policy.margin_rule()
    lookup = _evidence_lookup(inputs.comparisons)
    choice = choose(
        contenders(feasible, arms, inputs.volume, inputs.volume), lookup, margin, CI_LEVEL
    )
    decision = Decision(arms, inputs, standing, feasible, margin, choice, lookup)
    family = len(choice.claims)
    planning_alpha = decision.alpha / max(family, 1)
    return {
        "arm": choice.arm,
        "status": choice.status,
        "leading": choice.leading,
        "volume": inputs.volume,
        "metric": inputs.metric,
        "rule": {
            "margin": inputs.policy.margin,
            "margin_kind": "relative" if margin.relative else "absolute",
            "confidence": CI_LEVEL,
            "alpha": round(decision.alpha, 6),
            "family": "Holm over the arms that claim a saving",
        },
        "verdicts": {name: s.verdict for name, s in standing.items()},
        "checks": {name: [c.to_json() for c in s.checks] for name, s in standing.items()},
        "claims": [
            {
                "arm": claim.arm,
                "against": [t.against for t in claim.tests],
                "p_value": claim.p_value,
                "p_holm": claim.p_holm,
                "met": claim.met,
            }
            for claim in choice.claims.values()
        ],
        "tests": [
            test.to_json(planning_alpha) for claim in choice.claims.values() for test in claim.tests
        ],
        "dominated": dict(choice.dominated),
        **({"same_system": dict(choice.same_system)} if choice.same_system else {}),
        "reasons": reasons(decision),
        "flip_conditions": flip_conditions(decision),
        "by_volume": {str(v): decision.rechoose(volume=v).arm for v in inputs.volumes},
        "warnings": parse_warnings(arms),
    }


def parse_warnings(arms: Mapping[str, dict[str, Any]]) -> list[str]:
    """Arms whose answers often could not be parsed: their metric partly measures format."""
    warnings = []
    for name, record in arms.items():
        rate = record.get("parse_failure_rate")
        n = int(record.get("n") or 0)
        if rate is not None and float(rate) > PARSE_WARNING_RATE:
            warnings.append(
                f"{name}: {100 * float(rate):.1f}% of its answers ({round(float(rate) * n)} of "
                f"{n}) could not be parsed into a label or answer and count as wrong; its "
                "quality partly measures formatting (see samples.csv, column parse)."
            )
    return warnings
