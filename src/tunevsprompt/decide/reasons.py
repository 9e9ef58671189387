"""Why the recommendation is what it is, in sentences with the numbers a reader can check:
each arm's figure, the non-inferiority comparisons the rule made, with the margin, the
interval, the correction and the number of test examples that would settle an open one."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tunevsprompt.decide.fmt import num, usd
from tunevsprompt.decide.rule import Test

if TYPE_CHECKING:
    from tunevsprompt.decide.standing import ArmStanding, Decision


def quality_text(s: ArmStanding, metric: str) -> str:
    if s.quality is None or s.ci95 is None:
        return f"{metric} not measured"
    return f"{metric} {num(s.quality)} [{num(s.ci95[0])}, {num(s.ci95[1])}]"


def _cost(decision: Decision, name: str) -> str:
    monthly = decision.standing[name].monthly_usd
    if monthly is None:
        return "cost unknown"
    return f"{usd(monthly)}/month"


def _difference(test: Test) -> str:
    if test.evidence is None or test.ci is None:
        return f"{test.arm} was never compared with {test.against} on the same examples"
    low, high = test.ci
    return (
        f"{test.against} − {test.arm} = {num(test.evidence.difference)}, 95% CI "
        f"[{num(low)}, {num(high)}] ({test.evidence.method})"
    )


def _n_needed(decision: Decision, test: Test) -> str:
    """How many test examples would settle an open comparison, or why none would."""
    if test.evidence is None:
        return "run both arms on the same test examples"
    family = max(len(decision.choice.claims), 1)
    if test.margin <= 0:
        return "with a margin of 0 a cheaper arm must be shown better, not merely as good"
    n = test.evidence.n_needed(test.margin, decision.alpha / family)
    if math.isinf(n):
        if test.evidence.difference >= test.margin:
            return (
                f"the observed loss ({num(test.evidence.difference)}) is already at least the "
                "margin, so more examples would more likely confirm it than clear it"
            )
        return (
            "the seed-to-seed spread alone is too wide for the margin: run more seeds "
            "(`seeds:`) rather than more examples"
        )
    return (
        f"about {math.ceil(n):,} test examples would decide (80% power, if the difference is "
        "as observed)"
    )


def _open_test(decision: Decision, test: Test, claim_p: float, p_holm: float) -> str:
    """Why a claim failed, from its weakest comparison."""
    delta = num(test.margin)
    if test.ci is not None and test.ci[0] >= test.margin:
        return (
            f"it is not shown to lose less than the margin {delta} against {test.against}: "
            f"{_difference(test)} lies wholly above the margin, so its loss is likely larger "
            "than the margin (this comparison alone)"
        )
    if test.shown:
        return (
            f"it loses less than the margin {delta} against each dearer arm on its own "
            f"(one-sided p = {num(claim_p, 4)}), but not after Holm's correction over the "
            f"{len(decision.choice.claims)} arms that claim a saving (p = {num(p_holm, 4)})"
        )
    return (
        f"it is not shown to lose less than the margin {delta} against {test.against}: "
        f"{_difference(test)}; {_n_needed(decision, test)}"
    )


def _why_not_cheaper(decision: Decision, name: str) -> str:
    choice = decision.choice
    if name in choice.same_system:
        return _same_system(decision, name)
    if name in choice.dominated:
        rival = choice.dominated[name]
        return (
            f"{name} ({quality_text(decision.standing[name], decision.inputs.metric)}, "
            f"{_cost(decision, name)}) scores lower than {rival}, which costs no more."
        )
    claim = choice.claims.get(name)
    if claim is None or claim.met:
        return (
            f"{name} costs no less ({_cost(decision, name)}) and scores no higher, so it is "
            "not preferred."
        )
    why = _open_test(decision, claim.weakest, claim.p_value, claim.p_holm)
    return f"{name} costs less ({_cost(decision, name)}), but {why}."


def _justify_chosen(decision: Decision, name: str) -> list[str]:
    """Why the chosen arm may stand in for every arm that costs more (or whose cost is
    unknown)."""
    claim = decision.choice.claims.get(name)
    metric = decision.inputs.metric
    if claim is None:
        distinct = [s for s in decision.feasible if s.name not in decision.choice.same_system]
        if len(distinct) == 1:
            copies = decision.choice.same_system
            besides = " (besides the arms that are it, below)" if copies else ""
            return [f"{name} is the only arm that meets the constraints{besides}."]
        return [
            f"{name} costs the most of the {len(distinct)} arms that meet the "
            "constraints; a cheaper one is recommended only when it is shown to lose less than "
            f"the margin {decision.margin.describe()} against every arm that costs more."
        ]
    against = []
    for test in claim.tests:
        text = f"vs {test.against} ({_cost(decision, test.against)}): {_difference(test)}"
        if test.ci is not None and test.ci[0] > 0:
            text += (
                f", so {name} is significantly worse (this comparison alone), but by less "
                f"than the margin {num(test.margin)} accepted for the saving"
            )
        against.append(text)
    return [
        f"{name} is shown to lose less than the margin {decision.margin.describe()} in {metric} "
        "against every arm that costs more or whose cost is unknown (one-sided tests at "
        f"{decision.alpha:g}, Holm-adjusted p = {num(claim.p_holm, 4)} over "
        f"{len(decision.choice.claims)} arm(s)): " + "; ".join(against) + "."
    ]


def reasons(decision: Decision) -> list[str]:
    metric = decision.inputs.metric
    choice, standing = decision.choice, decision.standing
    lines: list[str] = []
    if not decision.feasible:
        lines.append("No arm is shown to meet every constraint, so none is recommended.")
        lines.extend(_why_not(s) for s in standing.values())
        return lines
    if choice.arm is None:
        lines.extend(_undecided(decision))
    else:
        chosen = standing[choice.arm]
        passed = "; ".join(c.message for c in chosen.checks)
        lines.append(
            f"Recommend {chosen.name}: {quality_text(chosen, metric)}, "
            f"{_cost(decision, chosen.name)} at {decision.inputs.volume:,} requests. "
            + (f"It meets every constraint: {passed}." if passed else "No constraints are set.")
        )
        lines.extend(_justify_chosen(decision, chosen.name))
        chosen_cost = chosen.monthly_usd
        for s in sorted(decision.feasible, key=lambda s: s.monthly_usd or 0.0):
            if s.name == chosen.name or s.monthly_usd is None or chosen_cost is None:
                continue
            if s.monthly_usd <= chosen_cost and s.name not in choice.same_system:
                lines.append(_why_not_cheaper(decision, s.name))
        lines.extend(_same_system(decision, name) for name in choice.same_system)
        if decision.arms[chosen.name].get("uses_llm") is False:
            lines.append(_no_llm_needed(decision, chosen.name))
    lines.extend(_unknown_costs(decision))
    lines.extend(_why_not(s) for s in standing.values() if s.verdict != "ALLOW")
    return lines


def _undecided(decision: Decision) -> list[str]:
    choice = decision.choice
    leading = choice.leading
    assert leading is not None
    lines = [
        "No arm is recommended yet: none of the arms that meet the constraints is both shown "
        f"to lose less than the margin {decision.margin.describe()} against every arm that "
        "costs more or whose cost is unknown, and not outscored by an arm that costs no more."
    ]
    for s in sorted(decision.feasible, key=lambda s: -(s.quality or 0.0)):
        if s.name in choice.claims and not choice.claims[s.name].met:
            claim = choice.claims[s.name]
            why = _open_test(decision, claim.weakest, claim.p_value, claim.p_holm)
            head = "scores highest" if s.name == leading else "scores"
            lines.append(
                f"{s.name} {head} ({quality_text(s, decision.inputs.metric)}, "
                f"{_cost(decision, s.name)}), but {why}."
            )
        elif s.name in choice.same_system:
            lines.append(_same_system(decision, s.name))
        elif s.name in choice.dominated:
            lines.append(
                f"{s.name} ({_cost(decision, s.name)}) scores lower than "
                f"{choice.dominated[s.name]}, which costs no more, so it is not recommended "
                "either."
            )
    return lines


def _unknown_costs(decision: Decision) -> list[str]:
    lines = []
    for s in decision.feasible:
        if s.monthly_usd is not None:
            continue
        basis = ((decision.arms[s.name].get("cost") or {}).get("basis") or {}).get("per_request")
        note = (basis or {}).get("note") or "no throughput or price was measured"
        lines.append(
            f"{s.name}: cost unknown ({note}), so it is never called cheaper or dearer than "
            "another arm; it must show it loses less than the margin against every other arm "
            "to be recommended, and every other arm against it."
        )
    return lines


def _no_llm_needed(decision: Decision, name: str) -> str:
    """Said plainly when the recommended arm runs no language model at all."""
    embedding = decision.arms[name].get("embedding") or {}
    how = embedding.get("method") or "a classifier"
    on = embedding.get("embedder") or "sentence-embedding"
    leading = decision.choice.leading
    if leading == name:
        tail = "It scores highest of the arms that meet the constraints, LLM arms included."
    else:
        tail = (
            f"{leading} scores higher, but {name} is shown to lose less than the margin against "
            "it and costs less."
        )
    return (
        f"You do not need an LLM for this task: {name} answers with {how} over {on} "
        f"embeddings of the training examples, with no prompt and no generation. {tail}"
    )


def _same_system(decision: Decision, name: str) -> str:
    original = decision.choice.same_system[name]
    return (
        f"{name}'s prompt search kept {original}'s prompt as written, so it is {original} "
        f"with the search's cost on top ({_cost(decision, name)}, {original}: "
        f"{_cost(decision, original)}); {original} stands in for it."
    )


def _why_not(s: ArmStanding) -> str:
    label = "Rejected" if s.verdict == "REJECT" else "Inconclusive"
    return f"{label}: {s.name}, " + "; ".join(c.message for c in s.blockers()) + "."
