"""The CI gate: the suite's `gates:` (or command-line bars) checked against results.json.
A bar is passed only when it is demonstrated: a CI that straddles it fails the gate, a figure
missing from the run is a gate error. Writes JUnit XML (one testcase per gate) and a short
markdown verdict for GitHub's step summary."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tunevsprompt.decide.checks import Check, constraint_checks
from tunevsprompt.decide.config import ForgettingLimit, GatesConfig

GateStatus = Literal["pass", "fail", "error"]
# GitHub rejects a step summary over 1 MiB; ours stays far below it.
STEP_SUMMARY_LIMIT = 64 * 1024


class GateUsageError(Exception):
    """The gates cannot be applied to this run at all (exit 2)."""


@dataclass(frozen=True)
class GateResult:
    name: str
    status: GateStatus
    message: str


@dataclass(frozen=True)
class GateReport:
    arm: str | None
    results: list[GateResult]

    @property
    def passed(self) -> bool:
        return all(r.status == "pass" for r in self.results)

    @property
    def failures(self) -> int:
        return sum(r.status == "fail" for r in self.results)

    @property
    def errors(self) -> int:
        return sum(r.status == "error" for r in self.results)


def _from_check(check: Check) -> GateResult:
    if check.status == "missing":
        return GateResult(check.name, "error", check.message)
    if check.status == "inconclusive":
        return GateResult(check.name, "fail", f"not demonstrated: {check.message}")
    return GateResult(check.name, check.status, check.message)


def _has_bars(gates: GatesConfig) -> bool:
    bars = (
        gates.min_quality,
        gates.max_p95_ms,
        gates.max_forgetting,
        gates.max_error_rate,
        gates.max_parse_failure_rate,
        gates.min_class_recall,
        gates.max_ece,
    )
    return any(v is not None for v in bars)


def evaluate_gates(results: dict[str, Any], gates: GatesConfig) -> GateReport:
    """Apply ``gates`` to the arm they name (default: the recommended arm)."""
    arms: dict[str, Any] = results.get("arms") or {}
    recommendation = results.get("recommendation")
    recommended = recommendation.get("arm") if recommendation else None
    for key in ("arm", "require_recommendation"):
        name = getattr(gates, key)
        if name is not None and name not in arms:
            raise GateUsageError(
                f"gates.{key} names {name!r}, which is not an arm of this run "
                f"(arms: {', '.join(arms) or 'none'})"
            )
    outcomes: list[GateResult] = []
    if gates.require_recommendation is not None:
        outcomes.append(_recommendation_gate(recommendation, gates.require_recommendation))
    arm = gates.arm or recommended
    if _has_bars(gates):
        if arm is None:
            why = (
                "no arm was recommended and no gate arm is set (gates.arm or --arm)"
                if recommendation
                else "this run has no recommendation (rerun `tvp report RUN_DIR`) and no gate "
                "arm is set (gates.arm or --arm)"
            )
            outcomes.append(GateResult("arm", "error", why))
        else:
            outcomes.extend(_from_check(c) for c in constraint_checks(arms[arm], gates))
            for label, bar in (gates.min_class_recall or {}).items():
                outcomes.append(_class_recall_gate(results, arm, label, bar))
            if gates.max_ece is not None:
                outcomes.append(_ece_gate(results, arm, gates.max_ece))
    return GateReport(arm, outcomes)


def _ece_gate(results: dict[str, Any], arm: str, bar: float) -> GateResult:
    """Passed when the arm's calibration error is demonstrated below the bar: its
    interval's upper bound is under it."""
    calibrated = (results.get("explanations") or {}).get("calibration") or {}
    figures = calibrated.get(arm)
    if figures is None:
        return GateResult(
            "ece",
            "error",
            f"{arm} has no calibration figures: its answers carry no confidence (answers by "
            "generation), or the run folder predates them (`tvp report RUN_DIR`)",
        )
    ece = figures["ece"]
    low, high = ece["ci95"]
    shown = f"ECE {ece['value']:.3f} [{low:.3f}, {high:.3f}]"
    if high <= bar:
        return GateResult("ece", "pass", f"{shown} is within the bar {bar:g}")
    if low > bar:
        return GateResult("ece", "fail", f"{shown} is above the bar {bar:g}")
    return GateResult("ece", "fail", f"not demonstrated: {shown} straddles the bar {bar:g}")


def _class_recall_gate(results: dict[str, Any], arm: str, label: str, bar: float) -> GateResult:
    """Passed when the class's recall is demonstrated above the bar: its interval's lower
    bound clears it (the interval straddling it fails, as for min_quality)."""
    name = f"class_recall[{label}]"
    explained = results.get("explanations") or {}
    rows = (explained.get("per_class") or {}).get(arm)
    if rows is None:
        return GateResult(
            name,
            "error",
            "this run has no per-class figures (a generation task, or a run folder written "
            "before them: `tvp report RUN_DIR` computes them from samples.jsonl)",
        )
    row = next((r for r in rows if r["label"] == label), None)
    if row is None or not row["support"]:
        return GateResult(name, "error", f"the test split has no example of {label!r}")
    recall = row["recall"]
    low, high = recall["ci95"]
    shown = f"recall of {label!r} {recall['value']:.3f} [{low:.3f}, {high:.3f}] on {row['support']}"
    if low >= bar:
        return GateResult(name, "pass", f"{shown} examples clears the bar {bar:g}")
    if high < bar:
        return GateResult(name, "fail", f"{shown} examples is below the bar {bar:g}")
    return GateResult(
        name,
        "fail",
        f"not demonstrated: {shown} examples straddles the bar {bar:g} (more test examples "
        "of the class would settle it)",
    )


def _recommendation_gate(recommendation: dict[str, Any] | None, wanted: str) -> GateResult:
    name = "recommendation"
    if recommendation is None:
        return GateResult(name, "error", "this run has no recommendation (run `tvp report`)")
    chosen = recommendation.get("arm")
    if chosen == wanted:
        return GateResult(name, "pass", f"{wanted} is the recommended arm")
    if chosen is None and recommendation.get("status") == "undecided":
        leading = recommendation.get("leading")
        return GateResult(
            name,
            "fail",
            f"no arm is recommended yet ({leading} leads, but is not shown to lose less than "
            f"the margin against an arm that costs more or whose cost is unknown), so not "
            f"{wanted}",
        )
    shown = chosen if chosen is not None else "no arm"
    return GateResult(name, "fail", f"{shown} is recommended, not {wanted}")


def junit_xml(report: GateReport, suite: str) -> str:
    """One testsuite, one testcase per gate; a gate that failed is a <failure>, a gate that
    could not be evaluated is an <error>."""
    root = ET.Element("testsuites")
    node = ET.SubElement(
        root,
        "testsuite",
        name=f"tvp gate {suite}",
        tests=str(len(report.results)),
        failures=str(report.failures),
        errors=str(report.errors),
        skipped="0",
    )
    for result in report.results:
        case = ET.SubElement(
            node, "testcase", classname=f"tvp.gate.{report.arm or 'run'}", name=result.name
        )
        if result.status == "fail":
            ET.SubElement(
                case, "failure", message=result.message, type="GateFailed"
            ).text = result.message
        elif result.status == "error":
            ET.SubElement(
                case, "error", message=result.message, type="GateError"
            ).text = result.message
        else:
            ET.SubElement(case, "system-out").text = result.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def step_summary(report: GateReport, results: dict[str, Any]) -> str:
    """A short markdown verdict for $GITHUB_STEP_SUMMARY."""
    recommendation = results.get("recommendation") or {}
    icon = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error"}
    lines = [
        f"### tvp gate: {'PASSED' if report.passed else 'FAILED'} ({results.get('suite')}, "
        f"run {results.get('run_id')})",
        "",
        f"Recommended arm: **{recommendation.get('arm') or 'none'}**; gated arm: "
        f"**{report.arm or 'none'}**.",
        "",
        "| gate | result | detail |",
        "|---|---|---|",
        *(f"| {r.name} | {icon[r.status]} | {_cell(r.message)} |" for r in report.results),
        "",
    ]
    text = "\n".join(lines)
    if len(text.encode()) > STEP_SUMMARY_LIMIT:
        text = (
            text.encode()[: STEP_SUMMARY_LIMIT - 40].decode(errors="ignore") + "\n\n(truncated)\n"
        )
    return text


def publish(report: GateReport, results: dict[str, Any], junit_path: Path) -> None:
    """Write the JUnit file and, inside GitHub Actions, append to the step summary."""
    from tunevsprompt.runfolder.store import write_text_atomic

    write_text_atomic(junit_path, junit_xml(report, str(results.get("suite"))))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(step_summary(report, results))


def parse_class_recall_flags(values: tuple[str, ...]) -> dict[str, float] | None:
    """``--min-class-recall LABEL=BAR`` (repeatable) as {label: bar}."""
    bars: dict[str, float] = {}
    for value in values:
        label, sep, bar = value.rpartition("=")
        try:
            number = float(bar)
        except ValueError:
            number = -1.0
        if not sep or not label or not 0 <= number < 1:
            raise GateUsageError(
                f"--min-class-recall {value!r}: give LABEL=BAR with a bar in [0, 1), e.g. "
                "card_arrival=0.8"
            )
        bars[label] = number
    return bars or None


def parse_forgetting_flag(text: str) -> ForgettingLimit:
    """``--max-forgetting``: `10%` limits the loss to 10% of the base score, `3.5` to 3.5 in
    the probe's units (e.g. perplexity points)."""
    raw = text.strip()
    try:
        if raw.endswith("%"):
            return ForgettingLimit(max_relative=float(raw[:-1]) / 100.0)
        return ForgettingLimit(max_delta=float(raw))
    except ValueError as exc:
        raise GateUsageError(
            f"--max-forgetting {text!r}: give a non-negative number in the probe's units "
            "(e.g. 3.5) or a share of the base score (e.g. 10%)"
        ) from exc


def merge_gates(stored: GatesConfig | None, overrides: dict[str, Any]) -> GatesConfig:
    """The run's recorded gates with the command-line bars that were given laid over them."""
    base = stored.model_dump(exclude_none=True) if stored else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    if not (set(base) | set(given)) - {"arm"}:
        raise GateUsageError(
            "no gates to check: the run's suite has no `gates:` block; pass --min-quality, "
            "--max-p95-ms, --max-forgetting, --max-error-rate, --min-class-recall, --max-ece "
            "or --require-recommendation"
        )
    try:
        return GatesConfig.model_validate({**base, **given})
    except ValueError as exc:
        raise GateUsageError(f"invalid gates: {exc}") from exc
