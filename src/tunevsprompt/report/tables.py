"""summary.csv and samples.csv: the run folder as tidy tables, one row per arm and one row per
arm × test example, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tunevsprompt.runfolder.results import Results
from tunevsprompt.runfolder.results.decision import ArmCost, Policy, Recommendation
from tunevsprompt.runfolder.results.figures import LatencyFigures, QualityFigure
from tunevsprompt.runfolder.results.forgetting import ArmForgetting
from tunevsprompt.runfolder.results.run import Task

# A cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

SUMMARY_COLUMNS = (
    "arm",
    "type",
    "metric",
    "quality",
    "ci_low",
    "ci_high",
    "p50_ms",
    "p95_ms",
    "throughput_eps",
    "error_rate",
    "backend",
    "per_1k_requests_usd",
    "monthly_usd",
    "decision_volume",
    "one_time_usd",
    "training_wall_s",
    "forgetting_probe",
    "forgetting_delta",
    "forgetting_ci_low",
    "forgetting_ci_high",
    "verdict",
    "recommended",
)

SAMPLE_COLUMNS = (
    "arm",
    "id",
    "input",
    "target",
    "prediction",
    "raw_output",
    "correct",
    "confidence",
    "parse",
    "latency_ms",
    "input_tokens",
    "output_tokens",
)


def neutralise(value: object) -> object:
    """Formula-injection guard (OWASP "CSV Injection"): text that a spreadsheet would run as a
    formula gets a leading apostrophe, so it shows as the text it is. Numbers are untouched."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _mapping(value: object) -> Mapping[str, Any]:
    """A sample row's nested object (samples.jsonl is not typed), or an empty one."""
    return value if isinstance(value, Mapping) else {}


def _interval(value: list[float] | None) -> tuple[float | None, float | None]:
    return (value[0], value[1]) if value is not None else (None, None)


def summary_rows(results: Results) -> list[dict[str, object]]:
    """One row per arm, in results.json's order. Figures an older run folder lacks (cost,
    latency, forgetting, the recommendation) are None."""
    task = results.task or Task()
    policy = results.policy or Policy()
    recommendation = results.recommendation or Recommendation()
    verdicts = recommendation.verdicts or {}
    rows: list[dict[str, object]] = []
    for name, arm in results.arms.items():
        quality = arm.quality or QualityFigure()
        latency = arm.latency_ms or LatencyFigures()
        cost = arm.cost or ArmCost()
        forgetting = arm.forgetting or ArmForgetting()
        ci_low, ci_high = _interval(quality.ci95)
        forgetting_low, forgetting_high = _interval(forgetting.ci95)
        rows.append(
            {
                "arm": name,
                "type": arm.type,
                "metric": quality.metric or task.primary_metric,
                "quality": quality.value,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "p50_ms": latency.p50,
                "p95_ms": latency.p95,
                "throughput_eps": arm.throughput_eps,
                "error_rate": arm.error_rate,
                "backend": "openai" if arm.api else "local",
                "per_1k_requests_usd": cost.per_1k_requests_usd,
                "monthly_usd": cost.monthly_usd,
                "decision_volume": cost.volume or policy.decision_volume,
                "one_time_usd": cost.one_time_usd,
                "training_wall_s": arm.training.wall_s if arm.training else None,
                "forgetting_probe": forgetting.primary,
                "forgetting_delta": forgetting.delta,
                "forgetting_ci_low": forgetting_low,
                "forgetting_ci_high": forgetting_high,
                "verdict": verdicts.get(name),
                "recommended": recommendation.arm == name,
            }
        )
    return rows


def _cell(value: object) -> object:
    """A CSV cell: blanks for missing figures, JSON for structured values, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, Mapping | list | tuple):
        value = json.dumps(value, ensure_ascii=False)
    return neutralise(value)


def write_rows(path: Path, columns: Iterable[str], rows: Iterable[Mapping[str, object]]) -> None:
    """A CSV file of ``rows`` under ``columns``, each cell made safe (``_cell``)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(value) for key, value in row.items()})


def write_summary_csv(path: Path, results: Results) -> None:
    """summary.csv: one row per arm (see ``summary_rows``)."""
    write_rows(path, SUMMARY_COLUMNS, summary_rows(results))


def write_samples_csv(path: Path, samples: Iterable[Mapping[str, Any]]) -> None:
    """samples.csv: one row per arm × test example, one ``score_<metric>`` column per metric
    seen in any row (blank where a row lacks it)."""
    rows = list(samples)
    metrics: dict[str, None] = {}
    for sample in rows:
        metrics.update(dict.fromkeys(_mapping(sample.get("scores"))))
    columns = [*SAMPLE_COLUMNS, *(f"score_{metric}" for metric in metrics)]

    def tidy(sample: Mapping[str, Any]) -> dict[str, object]:
        tokens = _mapping(sample.get("tokens"))
        scores = _mapping(sample.get("scores"))
        row: dict[str, object] = {key: sample.get(key) for key in SAMPLE_COLUMNS}
        row["input_tokens"] = tokens.get("input")
        row["output_tokens"] = tokens.get("output")
        row.update({f"score_{metric}": scores.get(metric) for metric in metrics})
        return row

    write_rows(path, columns, (tidy(sample) for sample in rows))
