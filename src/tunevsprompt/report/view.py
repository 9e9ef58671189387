"""What the human-readable reports show, computed once from the typed results
(``runfolder.results.Results``): arm order and colours, monthly cost at a volume, the per-arm
summary, and the template filters (the number formats are ``decide.fmt``'s). Shared by the
charts, report.html and report.md so the three agree. Every key a run folder may lack (older
runs, features switched off) is None in the model, never an error."""

from __future__ import annotations

from typing import Any

from tunevsprompt.decide import fmt
from tunevsprompt.decide.config import PricingConfig
from tunevsprompt.decide.costs import monthly_usd
from tunevsprompt.runfolder.results import ArmRecord, Results
from tunevsprompt.runfolder.results.decision import (
    ArmCost,
    NonInferiorityTest,
    PricingRecord,
    Recommendation,
)
from tunevsprompt.runfolder.results.figures import LatencyFigures, QualityFigure

# matplotlib's tab10, fixed here so an arm keeps its colour in every chart of a report.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
DEFAULT_AMORTISE_MONTHS = float(PricingConfig.model_fields["amortise_months"].default)


def arm_names(results: Results) -> list[str]:
    """results.json's arm order, the order of every table and chart."""
    return list(results.arms)


def arm_colours(results: Results) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(arm_names(results))}


def decision_volume(results: Results) -> float | None:
    """Monthly requests the recommendation was made at."""
    policy, rec = results.policy, results.recommendation
    for value in (policy.decision_volume if policy else None, rec.volume if rec else None):
        if value is not None:
            return float(value)
    for record in results.arms.values():
        if record.cost is not None and record.cost.volume is not None:
            return float(record.cost.volume)
    return None


def pricing_policy(results: Results) -> PricingRecord:
    """policy.pricing, empty when the run folder has none."""
    policy = results.policy
    return (policy.pricing if policy else None) or PricingRecord()


def amortise_months(results: Results, cost: ArmCost) -> float:
    months = pricing_policy(results).amortise_months
    if months is None and cost.basis is not None:
        months = cost.basis.amortise_months
    return float(months) if months else DEFAULT_AMORTISE_MONTHS


def monthly_cost(results: Results, arm: str, volume: float) -> float | None:
    """One-time cost spread over the amortisation period plus the per-request cost."""
    record = results.arms.get(arm)
    cost = (record.cost if record else None) or ArmCost()
    if cost.per_1k_requests_usd is None:
        return None
    one_time = float(cost.one_time_usd or 0.0)
    months = amortise_months(results, cost)
    return monthly_usd(one_time, float(cost.per_1k_requests_usd), months, volume)


def quality(figure: QualityFigure | None) -> tuple[float, tuple[float, float] | None] | None:
    """A headline figure's value and interval, for the charts."""
    if figure is None or figure.value is None:
        return None
    return float(figure.value), fmt.bounds(figure.ci95)


def forgetting_headline(record: ArmRecord) -> str:
    """The primary probe's delta in one cell: what tuning cost the model elsewhere."""
    g = record.forgetting
    if g is None:
        return fmt.MISSING
    if g.by_construction:
        return "0 (by construction)"
    if not g.measured or g.delta is None:
        return "not measured"
    ci = fmt.bounds(g.ci95)
    bracket = f" {fmt.interval(ci)}" if ci else ""
    label = " ".join(str(x) for x in (g.primary, g.metric) if x)
    change = f" ({g.change})" if g.change else ""
    return f"{label} {fmt.signed(g.delta)}{bracket}{change}".strip()


def arm_summary(results: Results) -> list[dict[str, Any]]:
    """One row per arm: quality, latency, throughput, cost, forgetting, verdict."""
    volume = decision_volume(results)
    rec = results.recommendation
    verdicts = (rec.verdicts if rec else None) or {}
    rows = []
    for name, record in results.arms.items():
        latency = record.latency_ms or LatencyFigures()
        cost = record.cost or ArmCost()
        rows.append(
            {
                "name": name,
                "type": record.type,
                "quality": fmt.estimate(record.quality),
                "quality_note": quality_note(record),
                "p95_ci": latency_p95(record),
                "p50": latency.p50,
                "p95": latency.p95,
                "throughput": record.throughput_eps,
                "per_1k": cost.per_1k_requests_usd,
                "monthly": None if volume is None else monthly_cost(results, name, volume),
                "one_time": cost.one_time_usd,
                "by_volume": dict(cost.monthly_by_volume or {}),
                "forgetting": forgetting_headline(record),
                "verdict": verdicts.get(name),
            }
        )
    return rows


def recommendation(results: Results) -> dict[str, Any] | None:
    rec = results.recommendation
    if rec is None:
        return None
    status = rec.status or ("recommended" if rec.arm else "no-feasible-arm")
    return {
        "arm": rec.arm,
        "status": status,
        "leading": rec.leading,
        "volume": rec.volume,
        "metric": rec.metric,
        "margin": rec.rule.margin if rec.rule else None,
        "verdicts": dict(rec.verdicts or {}),
        "checks": {k: list(v or []) for k, v in (rec.checks or {}).items()},
        "reasons": list(rec.reasons or []),
        "flip_conditions": list(rec.flip_conditions or []),
        "tests": [noninferiority_row(t, rec) for t in rec.tests or []],
        "by_volume": dict(rec.by_volume or {}),
        "warnings": list(rec.warnings or []),
    }


def noninferiority_row(test: NonInferiorityTest, rec: Recommendation) -> dict[str, Any]:
    """One comparison the rule made: does `arm` lose less than the margin against `against`?"""
    claims = {c.arm: c for c in rec.claims or []}
    claim = claims.get(test.arm)
    return {
        "arm": test.arm,
        "against": test.against,
        "difference": test.difference,
        "ci95": fmt.bounds(test.ci95),
        "margin": test.margin,
        "method": test.method,
        "p_value": test.p_value,
        "p_holm": claim.p_holm if claim else None,
        "within": test.within_margin,
        "met": claim.met if claim else None,
        "n_needed": test.n_needed,
    }


def comparisons(results: Results) -> list[dict[str, Any]]:
    rows = []
    for c in results.comparisons or []:
        rows.append(
            {
                "pair": " vs ".join(c.arms or []),
                "metric": c.metric,
                "n": c.n,
                "difference": c.difference,
                "test": c.test,
                "p_value": c.p_value,
                "p_holm": c.p_holm,
                "mde": c.mde,
                "verdict": c.verdict,
                "ci95": fmt.bounds(c.ci95),
                "method": c.method or "percentile bootstrap",
                "design_effect": c.design_effect,
            }
        )
    return rows


def quality_note(record: ArmRecord) -> str:
    """How the headline interval was made, and the per-seed range when there are seeds."""
    figure = record.quality or QualityFigure()
    parts = []
    if figure.method:
        parts.append(figure.method)
    seeds = figure.seeds
    span = fmt.bounds(seeds.range) if seeds else None
    if seeds is not None and span is not None:
        parts.append(f"{seeds.n} seeds: {span[0]:.3f}–{span[1]:.3f}")
    if figure.design_effect is not None:
        parts.append(f"design effect {float(figure.design_effect):.2f}")
    return "; ".join(parts)


def latency_p95(record: ArmRecord) -> str:
    """p95 ms with its order-statistic interval ("–" for a side n cannot bound)."""
    latency = record.latency_ms
    if latency is None or latency.p95 is None:
        return fmt.MISSING
    text = f"{float(latency.p95):,.0f}"
    if latency.p95_ci95 is not None:
        low, high = (f"{float(b):,.0f}" if b is not None else "–" for b in latency.p95_ci95)
        text += f" [{low}, {high}]"
    return text


def break_even(results: Results) -> list[dict[str, Any]]:
    return [
        {
            "pair": " vs ".join(b.arms or []),
            "volume": b.volume,
            "cheaper_below": b.cheaper_below,
            "cheaper_above": b.cheaper_above,
            "cheaper_always": b.cheaper_always,
            "note": b.note,
        }
        for b in results.break_even or []
    ]


def pricing(results: Results) -> list[tuple[str, str]]:
    """policy.pricing as label/value rows: the assumptions every cost figure rests on."""
    policy = results.policy
    p = policy.pricing if policy else None
    if policy is None or p is None:
        return []
    rows: list[tuple[str, str]] = []
    if p.gpu_usd_per_hour:
        gpu = ", ".join(f"{k} {fmt.usd(v)}" for k, v in p.gpu_usd_per_hour.items())
        rows.append(("GPU $/hour", gpu))
    if p.cpu_usd_per_hour is not None:
        rows.append(("CPU $/hour", fmt.usd(p.cpu_usd_per_hour)))
    api = "; ".join(f"{k}: {fmt.text(v)}" for k, v in (p.api or {}).items())
    rows.append(("API prices", api or "none"))
    if p.monthly_requests:
        rows.append(("monthly requests", ", ".join(fmt.volume(v) for v in p.monthly_requests)))
    if p.amortise_months is not None:
        months = fmt.fixed(p.amortise_months, 0)
        rows.append(("one-time costs spread over", f"{months} months"))
    if p.utilisation is not None:
        rows.append(("serving utilisation", fmt.pct(p.utilisation)))
    if policy.decision_volume is not None:
        rows.append(("decision volume", f"{fmt.volume(policy.decision_volume)} requests/month"))
    return rows


FILTERS = {
    "fixed": fmt.fixed,
    "quality_note": quality_note,
    "latency_p95": latency_p95,
    "ci": fmt.estimate,
    "pct": fmt.pct,
    "usd": fmt.usd,
    "volume": fmt.volume,
    "pvalue": fmt.pvalue,
    "signed": fmt.signed,
    "interval": fmt.interval,
    "text": fmt.text,
}


def hosted_rows(results: Results) -> list[dict[str, Any]]:
    """Arms on hosted endpoints, with what their requests met."""
    rows = []
    for name, record in results.arms.items():
        api = record.api
        if api is None:
            continue
        rows.append(
            {
                "name": name,
                "model": api.model,
                "base_url": api.base_url,
                "requests": api.requests,
                "retries": api.retries,
                "rate_limited": api.rate_limited,
                "errors": record.errors,
                "error_rate": record.error_rate,
                "error_kinds": ", ".join(f"{k} ×{n}" for k, n in (api.error_kinds or {}).items()),
            }
        )
    return rows


def sweep_rows(results: Results) -> list[dict[str, Any]]:
    """Every trial of every swept arm, the chosen one marked."""
    rows = []
    for name, record in results.arms.items():
        sweep = record.sweep
        for trial in (sweep.trials if sweep else None) or []:
            training = trial.training
            rows.append(
                {
                    "arm": name,
                    "trial": trial.trial,
                    "params": ", ".join(f"{k}={v}" for k, v in (trial.params or {}).items()),
                    "dev": trial.dev,
                    "dev_examples": trial.dev_examples,
                    "steps": training.steps if training else None,
                    "wall_s": training.wall_s if training else None,
                    "chosen": sweep is not None and trial.trial == sweep.best_trial,
                    "diverged": bool(trial.diverged or (training and training.diverged_at_step)),
                }
            )
    return rows


def prompt_searches(results: Results) -> list[dict[str, Any]]:
    """Each optimized-prompt arm: the winner verbatim, its dev figure beside its test figure
    (the gap shows overfitting to dev), what the search spent, and every candidate."""
    out = []
    for name, record in results.arms.items():
        search = record.search
        if search is None or search.winner is None:
            continue
        winner = search.winner
        dev = winner.dev.value if winner.dev else None
        test = record.quality.value if record.quality else None
        ordered = sorted(
            search.candidates or [], key=lambda c: -(c.dev.value or 0.0) if c.dev else 1.0
        )
        candidates = [
            {
                "origin": c.origin,
                "instruction": c.instruction,
                "demonstrations": _shown_text(c),
                "described": bool(c.label_descriptions),
                "dev": c.dev,
                "finalist": bool(c.finalist),
                "chosen": c.id == search.chosen,
            }
            for c in ordered
        ]
        out.append(
            {
                "arm": name,
                "winner": winner,
                "demonstrations": _shown_text(winner),
                "dev": winner.dev,
                "test": record.quality,
                "gap": None if dev is None or test is None else float(test) - float(dev),
                "search": search,
                "candidates": candidates,
            }
        )
    return out


def _shown_text(candidate: Any) -> str:
    if candidate.passages:
        return f"{candidate.passages} retrieved passages (rag layout)"
    return _demos_text(candidate.demonstrations)


def _demos_text(demos: Any) -> str:
    if demos is None or not demos.k:
        return "none"
    ids = f": {', '.join(demos.ids)}" if demos.ids else " (retrieved per input)"
    return f"{demos.k} {demos.strategy}{ids}"
