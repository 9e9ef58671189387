"""What the human-readable reports show, computed once from results.json: arm order and
colours, monthly cost at a volume, the per-arm summary, and the number formats. Shared by the
charts, report.html and report.md so the three agree. Every key a run folder may lack (older
runs, features switched off) reads as None here, never as an error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tunevsprompt.decide.config import PricingConfig
from tunevsprompt.decide.costs import monthly_usd
from tunevsprompt.decide.fmt import usd, volume

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


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pair(value: object) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and None not in value:
        return float(value[0]), float(value[1])
    return None


def arm_names(results: Mapping[str, Any]) -> list[str]:
    """results.json's arm order, the order of every table and chart."""
    return list(mapping(results.get("arms")))


def arm_colours(results: Mapping[str, Any]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(arm_names(results))}


def decision_volume(results: Mapping[str, Any]) -> float | None:
    """Monthly requests the recommendation was made at."""
    policy, recommendation = mapping(results.get("policy")), mapping(results.get("recommendation"))
    for value in (policy.get("decision_volume"), recommendation.get("volume")):
        if value is not None:
            return float(value)
    for record in mapping(results.get("arms")).values():
        volume = mapping(mapping(record).get("cost")).get("volume")
        if volume is not None:
            return float(volume)
    return None


def amortise_months(results: Mapping[str, Any], cost: Mapping[str, Any]) -> float:
    months = mapping(mapping(results.get("policy")).get("pricing")).get("amortise_months")
    if months is None:
        months = mapping(cost.get("basis")).get("amortise_months")
    return float(months) if months else DEFAULT_AMORTISE_MONTHS


def monthly_cost(results: Mapping[str, Any], arm: str, volume: float) -> float | None:
    """One-time cost spread over the amortisation period plus the per-request cost."""
    cost = mapping(mapping(mapping(results.get("arms")).get(arm)).get("cost"))
    per_1k = cost.get("per_1k_requests_usd")
    if per_1k is None:
        return None
    one_time = float(cost.get("one_time_usd") or 0.0)
    return monthly_usd(one_time, float(per_1k), amortise_months(results, cost), volume)


def quality(record: Mapping[str, Any]) -> tuple[float, tuple[float, float] | None] | None:
    figure = mapping(record.get("quality"))
    if figure.get("value") is None:
        return None
    return float(figure["value"]), pair(figure.get("ci95"))


def forgetting_headline(record: Mapping[str, Any]) -> str:
    """The primary probe's delta in one cell: what tuning cost the model elsewhere."""
    g = mapping(record.get("forgetting"))
    if not g:
        return "–"
    if g.get("by_construction"):
        return "0 (by construction)"
    if not g.get("measured") or g.get("delta") is None:
        return "not measured"
    ci = pair(g.get("ci95"))
    bracket = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
    label = " ".join(str(x) for x in (g.get("primary"), g.get("metric")) if x)
    change = f" ({g['change']})" if g.get("change") else ""
    return f"{label} {float(g['delta']):+.3f}{bracket}{change}".strip()


def arm_summary(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per arm: quality, latency, throughput, cost, forgetting, verdict."""
    volume = decision_volume(results)
    verdicts = mapping(mapping(results.get("recommendation")).get("verdicts"))
    rows = []
    for name, raw in mapping(results.get("arms")).items():
        record = mapping(raw)
        latency, cost = mapping(record.get("latency_ms")), mapping(record.get("cost"))
        rows.append(
            {
                "name": name,
                "type": record.get("type"),
                "quality": ci(mapping(record.get("quality"))),
                "quality_note": quality_note(record),
                "p95_ci": latency_p95(record),
                "p50": latency.get("p50"),
                "p95": latency.get("p95"),
                "throughput": record.get("throughput_eps"),
                "per_1k": cost.get("per_1k_requests_usd"),
                "monthly": None if volume is None else monthly_cost(results, name, volume),
                "one_time": cost.get("one_time_usd"),
                "by_volume": dict(mapping(cost.get("monthly_by_volume"))),
                "forgetting": forgetting_headline(record),
                "verdict": verdicts.get(name),
            }
        )
    return rows


def recommendation(results: Mapping[str, Any]) -> dict[str, Any] | None:
    rec = mapping(results.get("recommendation"))
    if not rec:
        return None
    rule = mapping(rec.get("rule"))
    status = rec.get("status") or ("recommended" if rec.get("arm") else "no-feasible-arm")
    return {
        "arm": rec.get("arm"),
        "status": status,
        "leading": rec.get("leading"),
        "volume": rec.get("volume"),
        "metric": rec.get("metric"),
        "margin": rule.get("margin"),
        "verdicts": dict(mapping(rec.get("verdicts"))),
        "checks": {k: list(v or []) for k, v in mapping(rec.get("checks")).items()},
        "reasons": [str(x) for x in rec.get("reasons") or []],
        "flip_conditions": [str(x) for x in rec.get("flip_conditions") or []],
        "tests": [noninferiority_row(mapping(t), rec) for t in rec.get("tests") or []],
        "by_volume": dict(mapping(rec.get("by_volume"))),
        "warnings": [str(x) for x in rec.get("warnings") or []],
    }


def noninferiority_row(test: Mapping[str, Any], rec: Mapping[str, Any]) -> dict[str, Any]:
    """One comparison the rule made: does `arm` lose less than the margin against `against`?"""
    claims = {mapping(c).get("arm"): mapping(c) for c in rec.get("claims") or []}
    claim = claims.get(test.get("arm"), {})
    return {
        "arm": test.get("arm"),
        "against": test.get("against"),
        "difference": test.get("difference"),
        "ci95": pair(test.get("ci95")),
        "margin": test.get("margin"),
        "method": test.get("method"),
        "p_value": test.get("p_value"),
        "p_holm": claim.get("p_holm"),
        "within": test.get("within_margin"),
        "met": claim.get("met"),
        "n_needed": test.get("n_needed"),
    }


def comparisons(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    keys = ("metric", "n", "difference", "test", "p_value", "p_holm", "mde", "verdict")
    rows = []
    for raw in results.get("comparisons") or []:
        c = mapping(raw)
        arms = [str(a) for a in c.get("arms") or []]
        rows.append({"pair": " vs ".join(arms), **{k: c.get(k) for k in keys}})
        rows[-1]["ci95"] = pair(c.get("ci95"))
        rows[-1]["method"] = c.get("method") or "percentile bootstrap"
        rows[-1]["design_effect"] = c.get("design_effect")
    return rows


def quality_note(record: Mapping[str, Any]) -> str:
    """How the headline interval was made, and the per-seed range when there are seeds."""
    figure = mapping(record.get("quality"))
    parts = []
    if figure.get("method"):
        parts.append(str(figure["method"]))
    seeds = mapping(figure.get("seeds"))
    span = pair(seeds.get("range"))
    if span is not None:
        parts.append(f"{seeds.get('n')} seeds: {span[0]:.3f}–{span[1]:.3f}")
    if figure.get("design_effect") is not None:
        parts.append(f"design effect {float(figure['design_effect']):.2f}")
    return "; ".join(parts)


def latency_p95(record: Mapping[str, Any]) -> str:
    """p95 ms with its order-statistic interval ("–" for a side n cannot bound)."""
    latency = mapping(record.get("latency_ms"))
    if latency.get("p95") is None:
        return "–"
    text = f"{float(latency['p95']):,.0f}"
    bounds = latency.get("p95_ci95")
    if isinstance(bounds, list | tuple) and len(bounds) == 2:
        low, high = (f"{float(b):,.0f}" if b is not None else "–" for b in bounds)
        text += f" [{low}, {high}]"
    return text


def break_even(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    keys = ("volume", "cheaper_below", "cheaper_above", "cheaper_always", "note")
    return [
        {
            "pair": " vs ".join(str(a) for a in mapping(b).get("arms") or []),
            **{k: mapping(b).get(k) for k in keys},
        }
        for b in results.get("break_even") or []
    ]


def pricing(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """policy.pricing as label/value rows: the assumptions every cost figure rests on."""
    policy = mapping(results.get("policy"))
    p = mapping(policy.get("pricing"))
    if not p:
        return []
    rows: list[tuple[str, str]] = []
    gpu = mapping(p.get("gpu_usd_per_hour"))
    if gpu:
        rows.append(("GPU $/hour", ", ".join(f"{k} {usd(v)}" for k, v in gpu.items())))
    if p.get("cpu_usd_per_hour") is not None:
        rows.append(("CPU $/hour", usd(p["cpu_usd_per_hour"])))
    api = mapping(p.get("api"))
    rows.append(("API prices", "; ".join(f"{k}: {text(v)}" for k, v in api.items()) or "none"))
    if p.get("monthly_requests"):
        rows.append(("monthly requests", ", ".join(volume(v) for v in p["monthly_requests"])))
    if p.get("amortise_months") is not None:
        rows.append(("one-time costs spread over", f"{num(p['amortise_months'], 0)} months"))
    if p.get("utilisation") is not None:
        rows.append(("serving utilisation", pct(p["utilisation"])))
    if policy.get("decision_volume") is not None:
        rows.append(("decision volume", f"{volume(policy['decision_volume'])} requests/month"))
    return rows


# -- number formats, used as template filters --------------------------------------------


def num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ci(figure: Mapping[str, Any] | None) -> str:
    """A figure {value, ci95} as "value [low, high]"."""
    if not figure or figure.get("value") is None:
        return "–"
    bounds = pair(figure.get("ci95"))
    if bounds is None:
        return f"{figure['value']:.3f}"
    return f"{figure['value']:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def pvalue(value: Any) -> str:
    if value is None:
        return "–"
    v = float(value)
    return f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def signed(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{float(value):+.{digits}f}"


def interval(value: tuple[float, float] | None, digits: int = 3) -> str:
    return "–" if value is None else f"[{value[0]:+.{digits}f}, {value[1]:+.{digits}f}]"


def text(value: Any) -> str:
    """Any JSON value as display text (inputs of multi-field tasks are objects)."""
    if value is None:
        return "–"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


FILTERS = {
    "num": num,
    "quality_note": quality_note,
    "latency_p95": latency_p95,
    "ci": ci,
    "pct": pct,
    "usd": usd,
    "volume": volume,
    "pvalue": pvalue,
    "signed": signed,
    "interval": interval,
    "text": text,
}


def hosted_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Arms on hosted endpoints, with what their requests met."""
    rows = []
    for name, record in (results.get("arms") or {}).items():
        api = (record or {}).get("api")
        if not api:
            continue
        rows.append(
            {
                "name": name,
                "model": api.get("model"),
                "base_url": api.get("base_url"),
                "requests": api.get("requests"),
                "retries": api.get("retries"),
                "rate_limited": api.get("rate_limited"),
                "errors": record.get("errors"),
                "error_rate": record.get("error_rate"),
                "error_kinds": ", ".join(
                    f"{k} ×{n}" for k, n in (api.get("error_kinds") or {}).items()
                ),
            }
        )
    return rows


def sweep_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trial of every swept arm, the chosen one marked."""
    rows = []
    for name, record in mapping(results.get("arms")).items():
        sweep = mapping(mapping(record).get("sweep"))
        for trial in sweep.get("trials") or []:
            training = mapping(trial.get("training"))
            rows.append(
                {
                    "arm": name,
                    "trial": trial.get("trial"),
                    "params": ", ".join(f"{k}={v}" for k, v in (trial.get("params") or {}).items()),
                    "dev": trial.get("dev"),
                    "dev_examples": trial.get("dev_examples"),
                    "steps": training.get("steps"),
                    "wall_s": training.get("wall_s"),
                    "chosen": trial.get("trial") == sweep.get("best_trial"),
                    "diverged": bool(trial.get("diverged") or training.get("diverged_at_step")),
                }
            )
    return rows
