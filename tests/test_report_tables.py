"""summary.csv, samples.csv and costs.xlsx: read back, checked against results.json and the
cost model, the workbook recomputed by an independent formula engine (`formulas`)."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tunevsprompt.decide.config import ApiPrice, PricingConfig
from tunevsprompt.decide.costs import arm_cost, monthly_usd
from tunevsprompt.report.spreadsheet import write_costs_xlsx
from tunevsprompt.report.tables import (
    SUMMARY_COLUMNS,
    neutralise,
    summary_rows,
    write_samples_csv,
    write_summary_csv,
)
from tunevsprompt.runfolder.results import Results

RUN = Path(__file__).parent / "fixtures" / "run-support-bot"
PAYLOADS = ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RUN / "results.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def samples() -> list[dict[str, Any]]:
    lines = (RUN / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def typed(data: dict[str, Any]) -> Results:
    """The reports read results.json through its model."""
    return Results.model_validate(data)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def blank_or_float(text: str) -> float | None:
    return None if text == "" else float(text)


def load(path: Path, cached: bool) -> Any:
    import openpyxl

    return openpyxl.load_workbook(path, data_only=cached)


def header_index(sheet: Any) -> dict[str, int]:
    return {cell.value: cell.column for cell in sheet[1]}


def recompute(path: Path, changes: dict[tuple[str, str], float] | None = None) -> Any:
    """Every cell of the workbook as `formulas` computes it, after setting ``changes``
    ({(sheet, "B13"): value}). Returns a lookup (sheet, "A1") -> value."""
    import formulas

    model = formulas.ExcelModel().loads(str(path)).finish()
    inputs = {
        f"'[{path.name}]{sheet.upper()}'!{ref}": v for (sheet, ref), v in (changes or {}).items()
    }
    solution = model.calculate(inputs=inputs)
    values = {}
    for key, ranges in solution.items():
        book_sheet, _, ref = str(key).rpartition("!")
        sheet = book_sheet.rstrip("'").rpartition("]")[2].lower()
        values[sheet, ref] = ranges.value[0][0] if hasattr(ranges, "value") else ranges
    return lambda sheet, ref: values[sheet, ref]


def costs_row(sheet: Any, arm: str) -> int:
    return next(row[0].row for row in sheet.iter_rows(min_row=2) if row[0].value == arm)


def test_neutralise_guards_formula_triggers_only() -> None:
    for payload in PAYLOADS:
        assert neutralise(payload) == "'" + payload
    assert neutralise("card arrival") == "card arrival"
    assert neutralise("a=b") == "a=b"
    assert neutralise(-2) == -2
    assert neutralise(-0.5) == -0.5
    assert neutralise(None) is None
    assert neutralise(True) is True


def test_summary_csv_matches_results(tmp_path: Path, results: dict[str, Any]) -> None:
    path = tmp_path / "summary.csv"
    write_summary_csv(path, typed(results))
    rows = read_csv(path)
    assert list(rows[0]) == list(SUMMARY_COLUMNS)
    assert [row["arm"] for row in rows] == list(results["arms"])
    for row in rows:
        arm = results["arms"][row["arm"]]
        assert row["type"] == arm["type"]
        assert row["metric"] == results["task"]["primary_metric"]
        assert float(row["quality"]) == arm["quality"]["value"]
        assert [float(row["ci_low"]), float(row["ci_high"])] == arm["quality"]["ci95"]
        assert float(row["p95_ms"]) == arm["latency_ms"]["p95"]
        assert float(row["throughput_eps"]) == arm["throughput_eps"]
        for key in ("per_1k_requests_usd", "monthly_usd", "one_time_usd"):
            assert float(row[key]) == arm["cost"][key]
        assert int(row["decision_volume"]) == results["policy"]["decision_volume"]
        assert blank_or_float(row["training_wall_s"]) == arm.get("training", {}).get("wall_s")
        assert row["forgetting_probe"] == "prose"
        assert float(row["forgetting_delta"]) == arm["forgetting"]["delta"]
        assert float(row["forgetting_ci_high"]) == arm["forgetting"]["ci95"][1]
        assert row["verdict"] == results["recommendation"]["verdicts"][row["arm"]]
        assert row["recommended"] == str(row["arm"] == results["recommendation"]["arm"])


def test_samples_csv_is_tidy(tmp_path: Path, samples: list[dict[str, Any]]) -> None:
    path = tmp_path / "samples.csv"
    write_samples_csv(path, samples)
    rows = read_csv(path)
    assert len(rows) == len(samples) == 462
    assert list(rows[0])[-1] == "score_accuracy"
    by_key = {(row["arm"], row["id"]): row for row in rows}
    assert len(by_key) == len(samples)
    for sample in samples:
        row = by_key[sample["arm"], sample["id"]]
        assert row["input"] == neutralise(sample["input"])
        assert (row["target"], row["prediction"]) == (sample["target"], sample["prediction"])
        assert row["raw_output"] == sample["raw_output"]
        assert row["correct"] == str(sample["correct"])
        assert blank_or_float(row["latency_ms"]) == sample["latency_ms"]
        assert int(row["input_tokens"]) == sample["tokens"]["input"]
        assert int(row["output_tokens"]) == sample["tokens"]["output"]
        assert float(row["score_accuracy"]) == sample["scores"]["accuracy"]


def test_samples_csv_unions_metrics_and_tolerates_gaps(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    write_samples_csv(
        path,
        [
            {"arm": "a", "id": 1, "input": "x", "target": ["y", "z"], "scores": {"rougeL": 0.5}},
            {"arm": "b", "id": 2, "input": {"q": "x"}, "scores": {"exact": 1.0}},
        ],
    )
    first, second = read_csv(path)
    assert first["score_rougeL"] == "0.5" and first["score_exact"] == ""
    assert second["score_exact"] == "1.0" and second["latency_ms"] == ""
    assert json.loads(first["target"]) == ["y", "z"]
    assert json.loads(second["input"]) == {"q": "x"}


def test_formula_injection_is_neutralised_in_csv(tmp_path: Path) -> None:
    samples = [
        {"arm": payload, "id": i, "input": payload, "target": payload, "raw_output": payload}
        for i, payload in enumerate(PAYLOADS)
    ]
    write_samples_csv(tmp_path / "samples.csv", samples)
    for row, payload in zip(read_csv(tmp_path / "samples.csv"), PAYLOADS, strict=True):
        for key in ("arm", "input", "target", "raw_output"):
            assert row[key] == "'" + payload
    results = {
        "schema_version": "2.0",
        "arms": {p: {"type": p} for p in PAYLOADS},
        "recommendation": {"arm": "+1"},
    }
    write_summary_csv(tmp_path / "summary.csv", typed(results))
    rows = read_csv(tmp_path / "summary.csv")
    assert [row["arm"] for row in rows] == ["'" + p for p in PAYLOADS]
    assert [row["recommended"] for row in rows] == [str(p == "+1") for p in PAYLOADS]


def test_formula_injection_is_neutralised_in_xlsx(tmp_path: Path, results: dict[str, Any]) -> None:
    hostile = copy.deepcopy(results)
    hostile["arms"] = {}
    for payload in PAYLOADS:
        arm = copy.deepcopy(results["arms"]["lora"])
        arm["type"] = arm["forgetting"]["primary"] = payload
        arm["cost"]["basis"]["one_time"]["what"] = payload
        hostile["arms"][payload] = arm
    hostile["recommendation"]["verdicts"] = {p: p for p in PAYLOADS}
    path = tmp_path / "costs.xlsx"
    write_costs_xlsx(path, typed(hostile))
    book = load(path, cached=False)
    seen = 0
    for sheet in book:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                # openpyxl leaves a carriage return in its OOXML escape, _x000D_
                text = str(cell.value).replace("_x000D_", "\r")
                if text.lstrip("'") in PAYLOADS:
                    assert cell.data_type == "s"
                    assert text.startswith("'"), (sheet.title, cell.coordinate)
                    seen += 1
    # per arm: arm, type, probe, verdict on `summary`; arm, one-time what on `costs`
    assert seen == 6 * len(PAYLOADS)


def test_xlsx_formulas_reference_assumptions(tmp_path: Path, results: dict[str, Any]) -> None:
    path = tmp_path / "costs.xlsx"
    write_costs_xlsx(path, typed(results))
    book = load(path, cached=False)
    assert book.sheetnames == ["summary", "costs", "assumptions"]
    names = {name: book.defined_names[name].attr_text for name in book.defined_names}
    for name in ("cpu_usd_per_hour", "utilisation", "amortise_months", "decision_volume"):
        assert names[name].startswith("assumptions!$B$")
    assumptions = book["assumptions"]
    volume_ref = names["decision_volume"].split("!")[1].replace("$", "")
    assert assumptions[volume_ref].value == results["policy"]["decision_volume"]
    costs, summary = book["costs"], book["summary"]
    columns = header_index(costs)
    assert costs.freeze_panes == "B2" and summary.freeze_panes == "B2"
    for arm in results["arms"]:
        row = costs_row(costs, arm)
        per_1k = costs.cell(row, columns["per_1k_requests_usd"]).value
        assert "utilisation" in per_1k and per_1k.startswith("=1000*")
        assert costs.cell(row, columns["serving_usd_per_hour"]).value == "=cpu_usd_per_hour"
        monthly = costs.cell(row, columns["monthly_usd @ decision_volume"])
        assert "amortise_months" in monthly.value and "decision_volume" in monthly.value
        assert "$" in monthly.number_format
        assert isinstance(costs.cell(row, columns["compute_s_per_request"]).value, float)
        assert summary.cell(row, header_index(summary)["monthly_usd"]).value.startswith("=costs!")


def python_figures(arm: dict[str, Any], volume: float) -> dict[str, float]:
    """The cost model's unrounded figures (results.json rounds the headline ones)."""
    basis = arm["cost"]["basis"]
    once, per_1k = basis["one_time"]["usd"], basis["per_request"]["usd"] * 1000
    return {
        "one_time_usd": once,
        "per_1k_requests_usd": per_1k,
        "monthly": monthly_usd(once, per_1k, basis["amortise_months"], volume),
    }


def test_xlsx_cached_and_recomputed_values_match_cost_model(
    tmp_path: Path, results: dict[str, Any]
) -> None:
    path = tmp_path / "costs.xlsx"
    write_costs_xlsx(path, typed(results))
    cached, costs = load(path, cached=True), load(path, cached=False)["costs"]
    columns = header_index(costs)
    cell = recompute(path)
    volume_ref = load(path, False).defined_names["decision_volume"].attr_text.split("!")[1]
    moved = recompute(path, {("assumptions", volume_ref.replace("$", "")): 1_000_000})
    months = results["policy"]["pricing"]["amortise_months"]
    for name, arm in results["arms"].items():
        row = costs_row(costs, name)
        figures = python_figures(arm, 100_000)
        cost = arm["cost"]
        for key, column in (
            ("per_1k_requests_usd", "per_1k_requests_usd"),
            ("one_time_usd", "one_time_usd"),
            ("monthly_usd", "monthly_usd @ decision_volume"),
        ):
            ref = f"{costs.cell(row, columns[column]).column_letter}{row}"
            value = cached["costs"][ref].value
            # results.json rounds to 6 decimals, hence the absolute slack
            assert value == pytest.approx(cost[key], rel=1e-6, abs=1e-6)
            figure = figures["monthly" if key == "monthly_usd" else key]
            assert value == pytest.approx(figure, rel=1e-9, abs=1e-12)
            assert cell("costs", ref) == pytest.approx(figure, rel=1e-9, abs=1e-12)
        for index, volume in enumerate(results["policy"]["pricing"]["monthly_requests"], 1):
            column = columns[f"monthly_usd @ priced_volume_{index}"]
            ref = f"{costs.cell(row, column).column_letter}{row}"
            assert cell("costs", ref) == pytest.approx(
                cost["monthly_by_volume"][str(volume)], rel=1e-6, abs=1e-6
            )
        at_million = monthly_usd(
            figures["one_time_usd"], figures["per_1k_requests_usd"], months, 1_000_000
        )
        monthly_ref = f"{costs.cell(row, columns['monthly_usd @ decision_volume']).column_letter}"
        assert moved("costs", f"{monthly_ref}{row}") == pytest.approx(at_million, rel=1e-9)
        summary_monthly = (
            f"{costs.cell(1, header_index(cached['summary'])['monthly_usd']).column_letter}{row}"
        )
        assert moved("summary", summary_monthly) == pytest.approx(at_million, rel=1e-9)
        assert cell("summary", summary_monthly) == pytest.approx(figures["monthly"], rel=1e-9)


def hand_results() -> dict[str, Any]:
    """A GPU run: a LoRA arm trained for an hour on the H100, a RAG arm whose index was built
    on the CPU, and a hosted-API arm, priced by the real cost model."""
    pricing = PricingConfig(
        api={"gpt-x": ApiPrice(input_usd_per_mtok=2.0, output_usd_per_mtok=8.0)}
    )
    manifest = {"device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3"}
    records: dict[str, dict[str, Any]] = {
        "lora": {"type": "lora", "throughput_eps": 2.0, "training": {"wall_s": 3600.0}},
        "rag": {
            "type": "rag",
            "throughput_eps": 4.0,
            "retrieval": {"embed_s": 30.0, "index_build_s": 6.0, "embedder": {"device": "cpu"}},
        },
        "api": {
            "type": "zero-shot",
            "api": {"model": "gpt-x"},
            "throughput_eps": 5.0,
            "tokens": {"input_mean": 100.0, "output_mean": 10.0},
        },
    }
    records["lora"]["training"]["device"] = "cuda:0"
    for record in records.values():
        record["cost"] = arm_cost(record, manifest, pricing, 100_000)
        record["quality"] = {"metric": "accuracy", "value": 0.5, "ci95": [0.4, 0.6]}
    return {
        "schema_version": "2.0",
        "task": {"primary_metric": "accuracy"},
        "arms": records,
        "policy": {"pricing": pricing.model_dump(), "decision_volume": 100_000},
        "recommendation": {"arm": "api", "verdicts": dict.fromkeys(records, "ALLOW")},
    }


# Worked by hand: 1000 requests x seconds / utilisation x $/hour / 3600; tokens x $/Mtok.
HAND = {
    "lora": {"per_1k": 1000 * 0.5 / 0.5 * 3.0 / 3600, "one_time": 3600 / 3600 * 3.0},
    "rag": {"per_1k": 1000 * 0.25 / 0.5 * 3.0 / 3600, "one_time": 36 / 3600 * 0.1},
    "api": {"per_1k": 1000 * (100 * 2.0 + 10 * 8.0) / 1e6, "one_time": 0.0},
}


def test_hand_computed_costs_gpu_and_api(tmp_path: Path) -> None:
    results = hand_results()
    assert HAND["lora"]["per_1k"] == pytest.approx(0.833333, abs=1e-6)
    assert HAND["api"]["per_1k"] == pytest.approx(0.28)
    path = tmp_path / "costs.xlsx"
    write_costs_xlsx(path, typed(results))
    book = load(path, cached=False)
    costs, columns = book["costs"], header_index(book["costs"])
    names = {name: book.defined_names[name].attr_text for name in book.defined_names}
    h100 = names["gpu_usd_per_hour_H100"].split("!")[1].replace("$", "")
    cell = recompute(path)
    pricier = recompute(path, {("assumptions", h100): 6.0})
    for arm, expected in HAND.items():
        cost = results["arms"][arm]["cost"]
        assert cost["per_1k_requests_usd"] == pytest.approx(expected["per_1k"], abs=1e-6)
        assert cost["one_time_usd"] == pytest.approx(expected["one_time"], abs=1e-6)
        monthly = expected["one_time"] / 12 + 100 * expected["per_1k"]
        assert cost["monthly_usd"] == pytest.approx(monthly, abs=1e-6)
        row = costs_row(costs, arm)

        def ref(column: str, row: int = row) -> str:
            return f"{costs.cell(row, columns[column]).column_letter}{row}"

        assert cell("costs", ref("per_1k_requests_usd")) == pytest.approx(expected["per_1k"])
        assert cell("costs", ref("one_time_usd")) == pytest.approx(expected["one_time"])
        assert cell("costs", ref("monthly_usd @ decision_volume")) == pytest.approx(monthly)
        doubled = 1 if arm == "api" else 2  # the API arm pays per token, not per GPU-hour
        assert pricier("costs", ref("per_1k_requests_usd")) == pytest.approx(
            doubled * expected["per_1k"]
        )
    api_row = costs_row(costs, "api")
    assert costs.cell(api_row, columns["input_usd_per_mtok"]).value == (
        "=api_gpt_x_input_usd_per_mtok"
    )
    assert costs.cell(costs_row(costs, "rag"), columns["one_time_usd_per_hour"]).value == (
        "=cpu_usd_per_hour"
    )
    lora_once = f"{costs.cell(1, columns['one_time_usd']).column_letter}{costs_row(costs, 'lora')}"
    assert pricier("costs", lora_once) == pytest.approx(6.0)


def test_older_run_folders_give_blanks(tmp_path: Path, results: dict[str, Any]) -> None:
    old = {
        "schema_version": "1.0",
        "task": {"primary_metric": "accuracy"},
        "arms": {"zero-shot": {"type": "zero-shot", "quality": {"value": 0.4}, "tokens": {}}},
    }
    write_summary_csv(tmp_path / "summary.csv", typed(old))
    (row,) = read_csv(tmp_path / "summary.csv")
    assert row["quality"] == "0.4" and row["metric"] == "accuracy"
    assert row["monthly_usd"] == row["p95_ms"] == row["verdict"] == row["forgetting_delta"] == ""
    assert row["recommended"] == "False"
    write_costs_xlsx(tmp_path / "old.xlsx", typed(old))
    summary = load(tmp_path / "old.xlsx", cached=False)["summary"]
    assert summary["J2"].value is None and summary["D2"].value == 0.4
    empty = typed({"schema_version": "1.0", "arms": {}})
    assert summary_rows(empty) == []
    write_costs_xlsx(tmp_path / "empty.xlsx", empty)

    # No policy block: the prices come from each arm's cost basis, and still recompute.
    no_policy = {k: v for k, v in results.items() if k not in ("policy", "recommendation")}
    path = tmp_path / "no-policy.xlsx"
    write_costs_xlsx(path, typed(no_policy))
    costs = load(path, cached=False)["costs"]
    monthly_col = header_index(costs)["monthly_usd @ decision_volume"]
    cell = recompute(path)
    for name, arm in results["arms"].items():
        row = costs_row(costs, name)
        ref = f"{costs.cell(row, monthly_col).column_letter}{row}"
        assert cell("costs", ref) == pytest.approx(arm["cost"]["monthly_usd"], abs=1e-6)
