"""`tvp gate`: exit codes, JUnit content (failure vs error) and the GitHub step summary, for
passing and failing policies over the fixture run folder."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tunevsprompt.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "run-support-bot"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(FIXTURE, target)
    return target


def gate(run_dir: Path, *flags: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["gate", str(run_dir), *flags], env=env)
    return result.exit_code, result.output


def cases(run_dir: Path) -> dict[str, ET.Element]:
    root = ET.parse(run_dir / "junit.xml").getroot()
    return {c.get("name", ""): c for c in root.iter("testcase")}


def edit(run_dir: Path, change: Any) -> None:
    path = run_dir / "results.json"
    results = json.loads(path.read_text())
    change(results)
    path.write_text(json.dumps(results))


def drop_latency_gate(results: dict[str, Any]) -> None:
    results["policy"]["gates"].pop("max_p95_ms")


def test_the_runs_own_gates_on_a_run_folder_from_schema_1(run_dir: Path) -> None:
    # The fixture was written by schema 1.0: its p95 has no interval, so a p95 bar cannot
    # be shown to hold until `tvp report` computes one, and 20 timed requests cannot bound
    # a p95 even then.
    code, output = gate(run_dir)
    assert code == 1, output
    assert "not demonstrated" in output and "tvp report RUN_DIR" in output
    assert CliRunner().invoke(main, ["report", str(run_dir)]).exit_code == 0
    upgraded = json.loads((run_dir / "results.json").read_text())
    assert upgraded["schema_version"] == "2.0" and upgraded["upgraded_from"] == "1.0"
    latency = upgraded["arms"]["lora"]["latency_ms"]
    assert latency["n"] == 20 and latency["p95_ci95"][1] is None
    assert latency["p50_ci95"][0] < latency["p50"] < latency["p50_ci95"][1]
    code, output = gate(run_dir, "--arm", "lora")
    assert code == 1 and "at least 72 timed requests" in output

    edit(run_dir, drop_latency_gate)
    code, output = gate(run_dir, "--arm", "lora")
    assert code == 0, output
    assert "gates passed" in output
    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    assert set(cases(run_dir)) == {"quality"}
    assert all(c.get("classname") == "tvp.gate.lora" for c in cases(run_dir).values())


def test_a_failing_policy_exits_1_with_junit_failures(run_dir: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code, output = gate(
        run_dir,
        "--arm",
        "zero-shot",
        "--min-quality",
        "0.5",
        "--require-recommendation",
        "soft-prompt",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert code == 1, output
    found = cases(run_dir)
    failure = found["quality"].find("failure")
    assert failure is not None and "below the bar 0.5" in failure.get("message", "")
    assert found["recommendation"].find("failure") is not None
    # 1,934 ms is below 2,000 ms, but no interval shows it: not demonstrated.
    latency_failure = found["p95_latency"].find("failure")
    assert latency_failure is not None and "not demonstrated" in latency_failure.get("message", "")
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "tvp gate: FAILED" in text and "❌ fail" in text
    assert len(text.encode()) < 1024 * 1024


def test_a_ci_straddling_the_bar_is_not_demonstrated(run_dir: Path) -> None:
    # lora's accuracy is 0.292 [0.214, 0.364]: a bar of 0.3 is neither met nor missed.
    code, output = gate(run_dir, "--min-quality", "0.3")
    assert code == 1
    assert "not demonstrated" in output


def test_a_missing_figure_is_a_junit_error_not_a_failure(run_dir: Path) -> None:
    edit(run_dir, drop_latency_gate)
    edit(run_dir, lambda r: r["arms"]["lora"].pop("forgetting"))
    code, _ = gate(run_dir, "--arm", "lora", "--max-forgetting", "10%")
    assert code == 1
    case = cases(run_dir)["forgetting.max_relative"]
    assert case.find("error") is not None and case.find("failure") is None
    code, output = gate(run_dir, "--arm", "soft-prompt", "--max-forgetting", "10%")
    assert code == 0, output  # 7.6% [4.8%, 9.9%] of the base: within 10%
    code, output = gate(run_dir, "--arm", "soft-prompt", "--max-forgetting", "1.0")
    assert code == 1  # +2.26 perplexity [1.45, 2.98] exceeds 1.0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--arm", "no-such-arm", "--min-quality", "0.1"], "not an arm of this run"),
        (["--max-forgetting", "lots"], "--max-forgetting"),
    ],
)
def test_usage_errors_exit_2(run_dir: Path, flags: list[str], message: str) -> None:
    code, output = gate(run_dir, *flags)
    assert code == 2 and message in output
    assert not (run_dir / "junit.xml").exists()


def test_no_gates_and_no_run_folder_are_usage_errors(run_dir: Path, tmp_path: Path) -> None:
    edit(run_dir, lambda r: r["policy"].update(gates=None))
    code, output = gate(run_dir)
    assert code == 2 and "no gates to check" in output
    code, output = gate(tmp_path / "nowhere")
    assert code == 2 and "results.json not found" in output
