"""Forgetting probes for real: the packaged model, the LoRA adapter of conftest's
``tuned_run`` (tuned on a 5-intent Banking77 subset until its train loss is near zero), and
every probe kind (general prose perplexity, built-in trivia, another suite's eval set).
Tuning damages general text; the probe must see it, pair base and tuned on identical items,
and mark the prompting arm as unchanged by construction.

The LoRA arm below has the tuning run's training settings and data, so it reuses that run's
adapter by training key instead of training one of its own."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from helpers import BANKING_TASK, LORA, UNTIMED_RUN, ZERO_SHOT_ARMS, SilentObserver
from tunevsprompt.runner import FORGETTING_SAMPLES, RunOptions, run_compare
from tunevsprompt.suite.loader import load_suite

pytestmark = pytest.mark.slow

SUITE = (
    "name: forgetting-probe\n"
    + BANKING_TASK
    + ZERO_SHOT_ARMS
    # Only keys that leave the trained weights alone may differ from tuned_run's LoRA.
    + LORA.format(extra="    integrity_sample: 8\n    measure_unmerged_latency: false\n")
    + """\
forgetting:
  primary: prose
  bootstrap_samples: 500
  probes:
    - name: prose
      kind: perplexity
      source: builtin:prose
      max_tokens: 1536
      window: 128
    - name: trivia
      kind: multiple-choice
      source: builtin:trivia
      n: 12
    - name: earlier-task
      kind: suite
      source: earlier-task.yaml
      n: 5
"""
    + UNTIMED_RUN
)

# The same data under another instruction, with the labels listed: a stand-in for a task the
# model did before tuning.
EARLIER_TASK = (
    "name: earlier-task\n"
    + BANKING_TASK.replace(
        "Name the intent of this bank customer's message.",
        "Which of these topics is the customer writing about?",
    )
    + """\
arms:
  - name: listed
    type: zero-shot
    decide: rank
    show_labels: true
"""
)


@pytest.fixture(scope="module")
def probed_run(
    five_intent_dir: Path,
    tuned_run: Path,
    tuning_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    (five_intent_dir / "earlier-task.yaml").write_text(EARLIER_TASK)
    path = five_intent_dir / "forgetting.yaml"
    path.write_text(SUITE)
    out = tmp_path_factory.mktemp("forgetting-run") / "run"
    cache = tmp_path_factory.mktemp("forgetting-cache")
    # The tuning run's trained adapters, not its predictions: everything else is computed here.
    shutil.copytree(tuning_cache / "training", cache / "training")
    options = RunOptions(out=out, device="cpu", cache_dir=cache, limit=5)
    run = run_compare(load_suite(path), options, SilentObserver())
    lora = read(run)["arms"]["lora"]
    assert lora["training"]["reused"] is True, "no longer tuned_run's adapter: it was retrained"
    assert lora["adapter"]["sha256"] == read(tuned_run)["arms"]["lora"]["adapter"]["sha256"]
    return run


def read(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


def test_hard_tuning_raises_general_text_perplexity(probed_run: Path) -> None:
    forgetting = read(probed_run)["arms"]["lora"]["forgetting"]
    prose = forgetting["probes"]["prose"]
    assert prose["metric"] == "perplexity" and prose["higher_is_better"] is False
    assert prose["n"] == 12  # 1536 tokens in windows of 128
    assert prose["value"] > prose["base"]
    assert prose["ci95"][0] > 0, f"no measurable perplexity increase: {prose}"
    assert prose["change"] == "worse"
    assert forgetting["primary"] == "prose"
    assert forgetting["delta"] == prose["delta"] and forgetting["ci95"] == prose["ci95"]
    assert forgetting["probed_as"].startswith("LoRA adapter merged")


def test_every_probe_kind_reports_base_after_delta_and_ci(probed_run: Path) -> None:
    results = read(probed_run)
    probes = results["arms"]["lora"]["forgetting"]["probes"]
    assert set(probes) == {"prose", "trivia", "earlier-task"}
    for name, figure in probes.items():
        lo, hi = figure["ci95"]
        assert lo <= figure["delta"] <= hi, name
        assert figure["delta"] == pytest.approx(figure["value"] - figure["base"], abs=1e-5)
        blo, bhi = figure["base_ci95"]
        assert blo <= figure["base"] <= bhi, name
    trivia = probes["trivia"]
    assert trivia["n"] == 12 and trivia["metric"] == "acc"
    assert set(trivia["metrics"]) == {"acc", "acc_norm"}
    assert probes["earlier-task"]["n"] == 5 and probes["earlier-task"]["metric"] == "accuracy"
    summary = results["forgetting"]
    assert summary["probed_arms"] == ["lora"] and summary["unchanged_arms"] == ["zero-shot"]
    assert summary["probes"]["trivia"]["chance"] == pytest.approx(0.25)
    assert summary["probes"]["prose"]["base"] == probes["prose"]["base"]


def test_prompting_arm_is_unchanged_by_construction(probed_run: Path) -> None:
    forgetting = read(probed_run)["arms"]["zero-shot"]["forgetting"]
    assert forgetting["by_construction"] is True
    assert forgetting["delta"] == 0.0 and forgetting["ci95"] == [0.0, 0.0]
    assert set(forgetting["probes"]) == {"prose", "trivia", "earlier-task"}


def test_base_and_tuned_saw_identical_prompts(probed_run: Path) -> None:
    rows = [json.loads(line) for line in (probed_run / FORGETTING_SAMPLES).open()]
    prompts: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        assert row["arm"] == "lora"
        prompts[(row["probe"], row["model"])][row["item"]].append(row["prompt"])
    for probe in ("prose", "trivia", "earlier-task"):
        base, tuned = prompts[(probe, "base")], prompts[(probe, "tuned")]
        assert base and base == tuned, probe
    trivia = [r for r in rows if r["probe"] == "trivia" and r["model"] == "base"]
    assert all(len(r["choices"]) == 4 and 0 <= r["answer"] < 4 for r in trivia)
    # Same items scored differently: the tuned model's numbers are its own.
    nll = {r["model"]: r["nll"] for r in rows if r["probe"] == "prose" and r["item"] == "window-0"}
    assert nll["base"] != nll["tuned"]


def test_report_has_the_forgetting_table(probed_run: Path) -> None:
    report = (probed_run / "report.md").read_text()
    assert "## Forgetting" in report
    assert "| lora | prose (primary) |" in report
    assert "| zero-shot | all | – | – | 0 (by construction) |" in report
