"""The decision path on a real run: `tvp compare` on the packaged model writes the
comparisons, costs, recommendation and every report; the suite's gates set the exit code
(unless --no-gate); `tvp report` and `tvp gate` work from the run folder alone."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from tunevsprompt.cli import main
from tunevsprompt.runfolder.versions import RESULTS_SCHEMA_VERSION

pytestmark = pytest.mark.slow

GATES = """\
decision:
  min_quality: 0.2
  max_p95_ms: 60000
gates:
  arm: few-shot
  min_quality: 0.95
"""


def test_compare_writes_the_decision_and_applies_the_gates(
    five_intent_dir: Path, tmp_path: Path
) -> None:
    suite = five_intent_dir / "suite-gated.yaml"
    suite.write_text((five_intent_dir / "suite.yaml").read_text() + GATES)
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = ["compare", str(suite), "--arms", "zero-shot,few-shot", "--limit", "10"]
    args += ["--out", str(out), "--cache-dir", str(cache)]
    runner = CliRunner()
    gated = runner.invoke(main, args)
    # No 135M model answers 5 intents well enough for a CI lower bound of 0.95 on 10 examples.
    assert gated.exit_code == 1, gated.output
    assert "gates FAILED" in gated.output
    failure = ET.parse(out / "junit.xml").getroot().find(".//testcase[@name='quality']/failure")
    assert failure is not None

    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == RESULTS_SCHEMA_VERSION
    (pair,) = results["comparisons"]
    assert pair["arms"] == ["zero-shot", "few-shot"] and pair["n"] == 10
    assert pair["test"] == "tango-score" and 0 <= pair["p_holm"] <= 1
    for record in results["arms"].values():
        cost = record["cost"]
        assert cost["per_1k_requests_usd"] > 0 and cost["monthly_usd"] > 0
        assert cost["basis"]["per_request"]["device"] == "cpu"
    recommendation = results["recommendation"]
    assert set(recommendation["verdicts"]) == {"zero-shot", "few-shot"}
    assert recommendation["reasons"]
    assert results["policy"]["gates"] == {"arm": "few-shot", "min_quality": 0.95}
    for name in ("report.html", "report.md", "summary.csv", "samples.csv", "costs.xlsx"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "charts" / "quality.svg").exists()

    resumed = runner.invoke(main, [*args, "--no-gate"])
    assert resumed.exit_code == 0, resumed.output
    assert runner.invoke(main, ["gate", str(out)]).exit_code == 1
    passing = runner.invoke(main, ["gate", str(out), "--min-quality", "0.0"])
    assert passing.exit_code == 0, passing.output

    (out / "report.html").unlink()
    rendered = runner.invoke(main, ["report", str(out)])
    assert rendered.exit_code == 0, rendered.output
    assert "<svg" in (out / "report.html").read_text()
    assert json.loads((out / "results.json").read_text())["comparisons"] == results["comparisons"]
