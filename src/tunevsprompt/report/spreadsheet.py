"""costs.xlsx: the cost model as a live workbook. `assumptions` holds the prices and volumes as
named input cells, `costs` the measured inputs per arm with formulas over those names, and
`summary` one row per arm whose cost cells point at `costs`. Change a price or the volume in
Excel or LibreOffice and every total moves. Each formula carries its computed value too, so
viewers that never recalculate still show the right number."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunevsprompt.report.tables import SUMMARY_COLUMNS, neutralise, summary_rows
from tunevsprompt.report.view import pricing_policy
from tunevsprompt.runfolder.results import ArmRecord, Results
from tunevsprompt.runfolder.results.decision import (
    ArmCost,
    CostBasis,
    OneTimeBasis,
    PerRequestBasis,
)
from tunevsprompt.runfolder.results.figures import TokenFigures

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Formula:
    text: str
    value: float


Cell = float | int | str | bool | Formula | None


@dataclass(frozen=True)
class Column:
    key: str
    fmt: str  # a key of NUMBER_FORMATS, or "text"
    width: int = 14
    is_input: bool = False


# Inputs are shaded so a reader sees at once which cells to edit.
NUMBER_FORMATS = {
    "text": "@",
    "usd": '"$"#,##0.00',
    "usd_fine": '"$"#,##0.0000##',
    "count": "#,##0",
    "tokens": "#,##0.0",
    "seconds": "#,##0.000",
    "fine": "0.000000",
    "score": "0.000",
    "ms": "#,##0.0",
    "share": "0.0%",
    "months": "0.##",
    "general": "General",
}
INPUT_FILL = "#FFF2CC"
UNIT_FORMATS = {
    "USD/hour": "usd_fine",
    "USD/Mtok": "usd_fine",
    "share": "share",
    "months": "months",
    "requests/month": "count",
}


def _name(*parts: str) -> str:
    """A defined name: letters, digits and underscores (never a cell reference, as each one
    holds an underscore)."""
    return re.sub(r"\W", "_", "_".join(parts), flags=re.ASCII)


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class Assumptions:
    """The named input cells, in sheet order: name -> (value, unit, what it is)."""

    rows: dict[str, tuple[float, str, str]] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    api: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, name: str, value: object, unit: str, about: str) -> None:
        number = _num(value)
        if number is not None and name not in self.rows:
            self.rows[name] = (number, unit, about)

    def value(self, name: str | None) -> float | None:
        return self.rows[name][0] if name in self.rows else None


def _device_name(priced_as: object) -> str:
    return "cpu_usd_per_hour" if priced_as == "cpu" else _name("gpu_usd_per_hour", str(priced_as))


def _basis(record: ArmRecord) -> CostBasis:
    cost = record.cost
    return (cost.basis if cost else None) or CostBasis()


def _assumptions(results: Results) -> Assumptions:
    """The suite's pricing policy, with gaps (older run folders) filled from each arm's cost
    basis, which records the prices it used."""
    pricing = pricing_policy(results)
    bases = [_basis(arm) for arm in results.arms.values()]
    found = Assumptions()
    found.add("cpu_usd_per_hour", pricing.cpu_usd_per_hour, "USD/hour", "a CPU machine")
    for key, price in (pricing.gpu_usd_per_hour or {}).items():
        found.add(_device_name(key), price, "USD/hour", f"GPU matching {key}")
    for basis in bases:
        for part in (basis.one_time, basis.per_request):
            if part is not None and part.priced_as is not None:
                device = part.priced_as
                found.add(_device_name(device), part.usd_per_hour, "USD/hour", f"device {device}")
    utilisation = pricing.utilisation
    months = pricing.amortise_months
    for basis in bases:
        utilisation = utilisation or (basis.per_request.utilisation if basis.per_request else None)
        months = months or basis.amortise_months
    found.add("utilisation", utilisation, "share", "share of paid serving time spent serving")
    found.add("amortise_months", months, "months", "months one-time costs are spread over")
    policy, recommendation = results.policy, results.recommendation
    volume = (policy.decision_volume if policy else None) or (
        recommendation.volume if recommendation else None
    )
    volumes: list[float] = list(pricing.monthly_requests or [])
    for arm in results.arms.values():
        cost = arm.cost or ArmCost()
        volume = volume or cost.volume
        priced = cost.monthly_by_volume or {}
        volumes = volumes or sorted(int(v) for v in priced if str(v).isdigit())
    found.add("decision_volume", volume, "requests/month", "the volume the decision is made at")
    for index, requests in enumerate(volumes, start=1):
        found.add(f"priced_volume_{index}", requests, "requests/month", "a volume to price")
        if f"priced_volume_{index}" in found.rows:
            found.volumes.append(f"priced_volume_{index}")
    for basis in bases:
        per_request = basis.per_request or PerRequestBasis()
        model = str(per_request.model)
        if per_request.kind != "api-tokens" or model in found.api:
            continue
        names = (
            _name("api", model, "input_usd_per_mtok"),
            _name("api", model, "output_usd_per_mtok"),
        )
        if any(name in found.rows for name in names):
            names = (f"{names[0]}_{len(found.api) + 1}", f"{names[1]}_{len(found.api) + 1}")
        found.add(names[0], per_request.input_usd_per_mtok, "USD/Mtok", f"{model} input")
        found.add(names[1], per_request.output_usd_per_mtok, "USD/Mtok", f"{model} output")
        found.api[model] = names
    return found


def _cost_columns(assumptions: Assumptions) -> list[Column]:
    return [
        Column("arm", "text", 18),
        Column("per_request_kind", "text", 14),
        Column("compute_s_per_request", "fine", 12, True),
        Column("serving_priced_as", "text", 10),
        Column("serving_usd_per_hour", "usd_fine", 12),
        Column("input_tokens_per_request", "tokens", 12, True),
        Column("output_tokens_per_request", "tokens", 12, True),
        Column("input_usd_per_mtok", "usd_fine", 12),
        Column("output_usd_per_mtok", "usd_fine", 12),
        Column("per_1k_requests_usd", "usd_fine", 14),
        Column("one_time_what", "text", 16),
        Column("one_time_s", "seconds", 12, True),
        Column("one_time_priced_as", "text", 10),
        Column("one_time_usd_per_hour", "usd_fine", 12),
        Column("one_time_usd", "usd_fine", 14),
        Column("monthly_usd @ decision_volume", "usd", 16),
        *(Column(f"monthly_usd @ {name}", "usd", 16) for name in assumptions.volumes),
    ]


def _cost_row(
    name: str, record: ArmRecord, at: Callable[[str], str], assumptions: Assumptions
) -> dict[str, Cell]:
    """One arm's measured inputs and the formulas that price them. Compute-seconds per request
    are 1 / throughput, as the cost model priced them; one-time seconds are recovered unrounded
    from the priced figure where the price allows (the basis rounds them to the millisecond)."""
    tokens = record.tokens or TokenFigures()
    throughput = _num(record.throughput_eps)
    row: dict[str, Cell] = {
        "arm": name,
        "compute_s_per_request": 1.0 / throughput if throughput else None,
        "input_tokens_per_request": _num(tokens.input_mean),
        "output_tokens_per_request": _num(tokens.output_mean),
    }
    basis = record.cost.basis if record.cost else None
    if basis is None:
        return row
    per_request = basis.per_request or PerRequestBasis()
    one_time = basis.one_time or OneTimeBasis()
    util = assumptions.value("utilisation")
    per_1k: float | None = None
    row["per_request_kind"] = per_request.kind
    if per_request.kind == "api-tokens":
        names = assumptions.api.get(str(per_request.model), ("", ""))
        tokens_in = _num(per_request.input_tokens)
        tokens_out = _num(per_request.output_tokens)
        prices = assumptions.value(names[0]), assumptions.value(names[1])
        row.update(
            compute_s_per_request=None,
            input_tokens_per_request=tokens_in,
            output_tokens_per_request=tokens_out,
        )
        if tokens_in is not None and tokens_out is not None and None not in prices:
            price_in, price_out = float(prices[0] or 0), float(prices[1] or 0)
            row["input_usd_per_mtok"] = Formula(f"={names[0]}", price_in)
            row["output_usd_per_mtok"] = Formula(f"={names[1]}", price_out)
            per_1k = 1000.0 * (tokens_in * price_in + tokens_out * price_out) / 1e6
            row["per_1k_requests_usd"] = Formula(
                f"=1000*({at('input_tokens_per_request')}*{at('input_usd_per_mtok')}"
                f"+{at('output_tokens_per_request')}*{at('output_usd_per_mtok')})/1000000",
                per_1k,
            )
    else:
        device = _device_name(per_request.priced_as)
        rate = assumptions.value(device)
        seconds = _num(row["compute_s_per_request"]) or _num(per_request.compute_s_per_request)
        row["compute_s_per_request"] = seconds
        row["serving_priced_as"] = per_request.priced_as
        if rate is not None:
            row["serving_usd_per_hour"] = Formula(f"={device}", rate)
        if rate is not None and util and seconds is not None:
            per_1k = 1000.0 * seconds / util * rate / SECONDS_PER_HOUR
            row["per_1k_requests_usd"] = Formula(
                f"=1000*{at('compute_s_per_request')}/utilisation"
                f"*{at('serving_usd_per_hour')}/3600",
                per_1k,
            )
    device = _device_name(one_time.priced_as)
    rate = assumptions.value(device)
    usd, seconds = _num(one_time.usd), _num(one_time.seconds)
    if usd is not None and rate:
        seconds = usd / rate * SECONDS_PER_HOUR
    row.update(
        one_time_what=one_time.what,
        one_time_s=seconds,
        one_time_priced_as=one_time.priced_as,
    )
    if rate is None or seconds is None:
        return row
    once = seconds / SECONDS_PER_HOUR * rate
    row["one_time_usd_per_hour"] = Formula(f"={device}", rate)
    row["one_time_usd"] = Formula(f"={at('one_time_s')}/3600*{at('one_time_usd_per_hour')}", once)
    months = assumptions.value("amortise_months")
    if per_1k is None or not months:
        return row
    for volume in ("decision_volume", *assumptions.volumes):
        requests = assumptions.value(volume)
        if requests is not None:
            row[f"monthly_usd @ {volume}"] = Formula(
                f"={at('one_time_usd')}/amortise_months+{volume}/1000*{at('per_1k_requests_usd')}",
                once / months + requests / 1000.0 * per_1k,
            )
    return row


def _summary_row(
    row: dict[str, object], costs: dict[str, Cell], cost_at: Callable[[str], str]
) -> dict[str, Cell]:
    """The summary's cost cells point at the arm's row of `costs` (and the decision volume)."""
    cells: dict[str, Cell] = {
        key: value if isinstance(value, int | float | str | bool) else None
        for key, value in row.items()
    }
    links = {
        "per_1k_requests_usd": "per_1k_requests_usd",
        "monthly_usd": "monthly_usd @ decision_volume",
        "one_time_usd": "one_time_usd",
    }
    for key, source in links.items():
        linked = costs.get(source)
        if isinstance(linked, Formula):
            cells[key] = Formula(f"=costs!{cost_at(source)}", linked.value)
    monthly = costs.get("monthly_usd @ decision_volume")
    volume = _num(row.get("decision_volume"))
    if isinstance(monthly, Formula) and volume is not None:
        cells["decision_volume"] = Formula("=decision_volume", volume)
    return cells


SUMMARY_FORMATS = {
    "quality": "score",
    "ci_low": "score",
    "ci_high": "score",
    "p50_ms": "ms",
    "p95_ms": "ms",
    "throughput_eps": "score",
    "per_1k_requests_usd": "usd_fine",
    "monthly_usd": "usd",
    "decision_volume": "count",
    "one_time_usd": "usd_fine",
    "training_wall_s": "seconds",
    "forgetting_delta": "score",
    "forgetting_ci_low": "score",
    "forgetting_ci_high": "score",
}


def write_costs_xlsx(path: Path, results: Results) -> None:
    """costs.xlsx with the sheets `summary`, `costs` and `assumptions` (see the module doc)."""
    import xlsxwriter
    from xlsxwriter.utility import xl_col_to_name

    workbook = xlsxwriter.Workbook(
        str(path), {"strings_to_formulas": False, "strings_to_urls": False}
    )
    formats: dict[tuple[str, bool], Any] = {}

    def fmt(kind: str, is_input: bool = False) -> Any:
        if (kind, is_input) not in formats:
            spec: dict[str, Any] = {"num_format": NUMBER_FORMATS[kind]}
            if is_input:
                spec["bg_color"] = INPUT_FILL
            formats[kind, is_input] = workbook.add_format(spec)
        return formats[kind, is_input]

    header = workbook.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})

    def sheet(
        title: str, columns: list[Column], rows: list[dict[str, Cell]], value_kinds: list[str]
    ) -> None:
        """``value_kinds``: per row, the number format of its `value` cell (assumptions)."""
        worksheet = workbook.add_worksheet(title)
        for col, column in enumerate(columns):
            worksheet.set_column(col, col, column.width)
            worksheet.write_string(0, col, str(neutralise(column.key)), header)
        for r, row in enumerate(rows, start=1):
            for col, column in enumerate(columns):
                kind = value_kinds[r - 1] if column.key == "value" else column.fmt
                value, cell_fmt = row.get(column.key), fmt(kind, column.is_input)
                if isinstance(value, Formula):
                    worksheet.write_formula(r, col, value.text, cell_fmt, value.value)
                elif isinstance(value, bool):
                    worksheet.write_boolean(r, col, value, cell_fmt)
                elif isinstance(value, int | float):
                    worksheet.write_number(r, col, value, cell_fmt)
                elif isinstance(value, str):
                    worksheet.write_string(r, col, str(neutralise(value)), cell_fmt)
        worksheet.freeze_panes(1, 1 if title != "assumptions" else 0)

    def locator(columns: list[Column], excel_row: int) -> Callable[[str], str]:
        letters = {c.key: xl_col_to_name(i) for i, c in enumerate(columns)}
        return lambda key: f"${letters[key]}${excel_row}"

    assumptions = _assumptions(results)
    cost_columns = _cost_columns(assumptions)
    cost_rows = [
        _cost_row(name, record, locator(cost_columns, index), assumptions)
        for index, (name, record) in enumerate(results.arms.items(), start=2)
    ]
    summary_columns = [
        Column(key, SUMMARY_FORMATS.get(key, "text" if key != "recommended" else "general"))
        for key in SUMMARY_COLUMNS
    ]
    summary = [
        _summary_row(row, costs, locator(cost_columns, index))
        for index, (row, costs) in enumerate(
            zip(summary_rows(results), cost_rows, strict=True), start=2
        )
    ]
    sheet("summary", summary_columns, summary, [])
    sheet("costs", cost_columns, cost_rows, [])
    assumption_rows: list[dict[str, Cell]] = []
    for excel_row, (name, (value, unit, about)) in enumerate(assumptions.rows.items(), start=2):
        workbook.define_name(name, f"=assumptions!$B${excel_row}")
        assumption_rows.append({"assumption": name, "value": value, "unit": unit, "about": about})
    sheet(
        "assumptions",
        [
            Column("assumption", "text", 34),
            Column("value", "general", 14, True),
            Column("unit", "text", 16),
            Column("about", "text", 44),
        ],
        assumption_rows,
        [
            UNIT_FORMATS.get(unit, "general")
            for unit, _ in (r[1:] for r in assumptions.rows.values())
        ],
    )
    workbook.close()
