"""Constraint checks on one arm's results.json record, shared by the recommendation and the CI
gate. Each is held against an interval: a bar is passed when the whole 95% interval clears
it, failed when the whole interval misses it, and inconclusive ("not demonstrated") when the
interval straddles it or the sample cannot bound the figure at all. Quality uses the arm's
interval, latency an order-statistic interval of the p95, the share of unparsed answers
Clopper–Pearson. The error rate is this run's own count of failed requests (a health check
of the run, not an estimate), held against the observed share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from tunevsprompt.decide.config import Constraints, ForgettingLimit
from tunevsprompt.decide.fmt import num, usd
from tunevsprompt.measure.stats import CI_LEVEL, clopper_pearson, samples_to_bound_quantile

Status = Literal["pass", "fail", "inconclusive", "missing"]


@dataclass(frozen=True)
class Check:
    """One bar applied to one arm."""

    name: str
    status: Status
    observed: float | None
    limit: float
    message: str
    bound: float | None = None
    """The figure held against the limit: the CI bound on the limit's side, or the point
    figure when there is no CI."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("observed", "bound"):
            if data[key] is not None:
                data[key] = round(float(data[key]), 6)
        return data


def _interval(low: float, high: float, limit: float, upper_bound: bool) -> Status:
    """Status of a CI against a bar: an upper bound (`≤ limit`) or a lower bound (`≥ limit`)."""
    if upper_bound:
        return "pass" if high <= limit else "fail" if low > limit else "inconclusive"
    return "pass" if low >= limit else "fail" if high < limit else "inconclusive"


def quality_check(record: dict[str, Any], min_quality: float) -> Check:
    quality = record.get("quality") or {}
    value, ci = quality.get("value"), quality.get("ci95")
    metric = quality.get("metric", "quality")
    if value is None:
        return Check("quality", "missing", None, min_quality, f"{metric} was not measured")
    low, high = (float(ci[0]), float(ci[1])) if ci else (float(value), float(value))
    status = _interval(low, high, min_quality, upper_bound=False)
    shown = f"{metric} {num(value)} [{num(low)}, {num(high)}]"
    message = {
        "pass": f"{shown} clears the bar {num(min_quality)} (CI lower bound)",
        "fail": f"{shown} is below the bar {num(min_quality)} (even the CI upper bound)",
        "inconclusive": f"{shown} straddles the bar {num(min_quality)}; more test examples "
        "would decide",
    }[status]
    return Check("quality", status, float(value), min_quality, message, low)


def latency_check(record: dict[str, Any], max_p95_ms: float) -> Check:
    """Held against the upper bound of the p95's order-statistic interval: too few timed
    requests cannot bound a p95 at all, and then the bar is not demonstrated."""
    latency = record.get("latency_ms") or {}
    p95 = latency.get("p95")
    if p95 is None:
        return Check(
            "p95_latency", "missing", None, max_p95_ms, "latency was not measured (latency.sample)"
        )
    if "p95_ci95" not in latency:
        return Check(
            "p95_latency",
            "inconclusive",
            float(p95),
            max_p95_ms,
            f"p95 latency {num(p95)} ms has no interval in this run folder (written before "
            "schema 2.0): `tvp report RUN_DIR` computes it from the per-request times in "
            "samples.jsonl (which this folder needs)",
        )
    low, high = latency.get("p95_ci95") or (None, None)
    timed = latency.get("n")
    shown = (
        f"p95 latency {num(p95)} ms [{num(low)}, {num(high)}] from {timed or '?'} timed requests"
    )
    if high is not None and high <= max_p95_ms:
        status: Status = "pass"
        message = f"{shown} is within the limit {num(max_p95_ms)} ms (upper bound)"
    elif low is not None and low > max_p95_ms:
        status, message = (
            "fail",
            f"{shown} is over the limit {num(max_p95_ms)} ms (even the lower bound)",
        )
    elif high is None:
        needed = samples_to_bound_quantile(0.95, CI_LEVEL)
        status = "inconclusive"
        message = (
            f"{shown} cannot show it is within {num(max_p95_ms)} ms: bounding a p95 takes at "
            f"least {needed} timed requests (latency.sample)"
        )
    else:
        status = "inconclusive"
        message = (
            f"{shown} straddles the limit {num(max_p95_ms)} ms; more timed requests would decide"
        )
    return Check("p95_latency", status, float(p95), max_p95_ms, message, high)


def _loss(probe: dict[str, Any]) -> tuple[float, float, float]:
    """The loss (worsening) and its CI, in the probe's own direction."""
    delta = float(probe["delta"])
    low, high = probe.get("ci95") or (delta, delta)
    if probe.get("higher_is_better", True):
        return -delta, -float(high), -float(low)
    return delta, float(low), float(high)


def forgetting_checks(record: dict[str, Any], limit: ForgettingLimit) -> list[Check]:
    forgetting = record.get("forgetting") or {}
    name = limit.probe or forgetting.get("primary")
    pairs = (("max_delta", limit.max_delta), ("max_relative", limit.max_relative))
    bars = [(kind, bar) for kind, bar in pairs if bar is not None]
    if forgetting.get("by_construction"):
        reason = "its weights are unchanged, so it cannot forget"
        return [Check(f"forgetting.{kind}", "pass", 0.0, bar, reason) for kind, bar in bars]
    probe = (forgetting.get("probes") or {}).get(name or "")
    if not probe or probe.get("delta") is None:
        why = f"forgetting probe {name!r} was not measured for this arm"
        return [Check(f"forgetting.{kind}", "missing", None, bar, why) for kind, bar in bars]
    loss, low, high = _loss(probe)
    checks = []
    for kind, bar in bars:
        scale = abs(float(probe["base"])) if kind == "max_relative" else 1.0
        if scale == 0:
            checks.append(Check(f"forgetting.{kind}", "missing", None, bar, "base score is 0"))
            continue
        observed, lo, hi = loss / scale, low / scale, high / scale
        status = _interval(lo, hi, bar, upper_bound=True)
        unit = " of the base" if kind == "max_relative" else ""
        shown = (
            f"{name} {probe.get('metric', '')} loss {num(observed)}{unit} [{num(lo)}, {num(hi)}]"
        )
        verb = {"pass": "is within", "fail": "exceeds", "inconclusive": "straddles"}[status]
        message = f"{shown} {verb} the limit {num(bar)}{unit}"
        checks.append(Check(f"forgetting.{kind}", status, observed, bar, message, hi))
    return checks


def _rate_check(name: str, what: str, count: int, n: int, limit: float) -> Check:
    """A share of requests held against a bar on its Clopper–Pearson interval."""
    if n <= 0:
        return Check(name, "missing", None, limit, f"no requests counted for the {what} rate")
    rate = count / n
    low, high = clopper_pearson(count, n, CI_LEVEL)
    status = _interval(low, high, limit, upper_bound=True)
    shown = f"{count} of {n} {what} ({num(rate)} [{num(low)}, {num(high)}])"
    message = {
        "pass": f"{shown} is within the limit {num(limit)} (upper bound)",
        "fail": f"{shown} is over the limit {num(limit)} (even the lower bound)",
        "inconclusive": f"{shown} straddles the limit {num(limit)}; more test examples "
        "would decide",
    }[status]
    return Check(name, status, rate, limit, message, high)


def error_rate_check(record: dict[str, Any], max_error_rate: float) -> Check:
    """This run's failed requests (after retries; a rerun asks them again): a health check
    of the run, held against the observed share, so that a limit of 0 means none failed."""
    rate = record.get("error_rate")
    if rate is None:
        # Records from before error counting: every request answered.
        rate = 0.0
    errors, n = int(record.get("errors") or 0), int(record.get("n") or 0)
    status: Status = "pass" if rate <= max_error_rate else "fail"
    relation = "within" if status == "pass" else "over"
    message = (
        f"{errors} of {n} requests failed ({num(rate)}), {relation} the limit {num(max_error_rate)}"
    )
    return Check("error_rate", status, float(rate), max_error_rate, message, float(rate))


def parse_failure_check(record: dict[str, Any], max_rate: float) -> Check:
    n = int(record.get("n") or 0)
    rate = record.get("parse_failure_rate")
    if rate is None:
        return Check("parse_failures", "missing", None, max_rate, "parse failures were not counted")
    return _rate_check("parse_failures", "answers unparsed", round(float(rate) * n), n, max_rate)


def seeds_check(record: dict[str, Any], min_seeds: int) -> Check | None:
    """Arms that train weights (those with an adapter) must have run this many seeds."""
    if not record.get("adapter"):
        return None
    ran = len((record.get("seeds") or {}).get("values") or []) or 1
    if ran >= min_seeds:
        return Check(
            "seeds", "pass", ran, min_seeds, f"{ran} training seeds (at least {min_seeds})"
        )
    return Check(
        "seeds",
        "fail",
        ran,
        min_seeds,
        f"trained with {ran} seed(s), fewer than decision.min_seeds {min_seeds}: give the arm "
        f"`seeds:` with {min_seeds} values",
    )


def cost_check(monthly_usd: float | None, max_monthly_usd: float, volume: int) -> Check:
    if monthly_usd is None:
        return Check("monthly_cost", "missing", None, max_monthly_usd, "cost unknown")
    status: Status = "pass" if monthly_usd <= max_monthly_usd else "fail"
    relation = "within" if status == "pass" else "over"
    message = (
        f"{usd(monthly_usd)}/month at {volume:,} requests is {relation} the budget "
        f"{usd(max_monthly_usd)}"
    )
    return Check("monthly_cost", status, monthly_usd, max_monthly_usd, message, monthly_usd)


def constraint_checks(record: dict[str, Any], bars: Constraints) -> list[Check]:
    """The quality, latency, forgetting, error-rate and parse-failure bars that are set."""
    checks = []
    if bars.min_quality is not None:
        checks.append(quality_check(record, bars.min_quality))
    if bars.max_p95_ms is not None:
        checks.append(latency_check(record, bars.max_p95_ms))
    if bars.max_forgetting is not None:
        checks.extend(forgetting_checks(record, bars.max_forgetting))
    if bars.max_error_rate is not None:
        checks.append(error_rate_check(record, bars.max_error_rate))
    if bars.max_parse_failure_rate is not None:
        checks.append(parse_failure_check(record, bars.max_parse_failure_rate))
    return checks
