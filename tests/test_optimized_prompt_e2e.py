"""The optimized-prompt arm end to end on the packaged SmolLM2 (5 Banking77 intents): the
packaged model proposes instructions and label descriptions, the search races candidates
on dev within its budget, the winner answers the test split, and a second run resumes the
search from its state without one model call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import BANKING_TASK, FIVE_INTENTS, SilentObserver, banking_rows, subset, write_csv
from tunevsprompt.runner import RunOptions, run_compare
from tunevsprompt.suite.loader import load_suite

pytestmark = pytest.mark.slow

BUDGET = 150

SUITE = (
    "name: optimized-prompt\n"
    + BANKING_TASK
    + f"""\
arms:
  - name: zero-shot
    type: zero-shot
    decide: rank
  - name: few-shot
    type: few-shot
    k: 2
    decide: rank
  - name: optimized
    type: optimized-prompt
    decide: rank
    start_from: [zero-shot, few-shot]
    proposals: 2
    reflections: 1
    k: [0, 2]
    strategies: [stratified, similar, bootstrapped]
    minibatch: 6
    budget:
      model_calls: {BUDGET}
    proposer:
      max_new_tokens: 48
sampling:
  seed: 0
latency:
  sample: 0
metrics:
  bootstrap_samples: 500
"""
)


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("optimized-prompt")
    write_csv(folder / "data" / "train.csv", subset(banking_rows("train"), FIVE_INTENTS, 24, 1))
    write_csv(folder / "data" / "test.csv", subset(banking_rows("test"), FIVE_INTENTS, 4, 2))
    (folder / "suite.yaml").write_text(SUITE, encoding="utf-8")
    return folder


def compare(suite_dir: Path, out: str) -> tuple[Path, dict[str, Any]]:
    options = RunOptions(out=suite_dir / out, cache_dir=suite_dir / "cache", device="cpu")
    run = run_compare(load_suite(suite_dir / "suite.yaml"), options, SilentObserver())
    return run, json.loads((run / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def first_run(suite_dir: Path) -> tuple[Path, dict[str, Any]]:
    return compare(suite_dir, "run")


def test_the_search_stays_in_budget_and_never_loses_to_its_hand_written_start(
    first_run: tuple[Path, dict[str, Any]],
) -> None:
    _, results = first_run
    search = results["arms"]["optimized"]["search"]
    assert search["spent"]["model_calls"] <= BUDGET
    assert search["spent"]["proposer_calls"] >= 2 + 5  # proposals and label descriptions
    assert search["method"] == "successive halving"
    assert search["proposer"] == {"backend": "local", "model": None, "provider": None}
    assert search["spent"]["tokens"]["input"] > search["spent"]["model_calls"]
    assert search["spent"]["proposer_tokens"]["output"] > 0
    by_origin = {c["origin"]: c for c in search["candidates"]}
    assert {"suite", "arm:zero-shot", "arm:few-shot", "proposed:1"} <= set(by_origin)
    winner = search["winner"]
    for name in ("arm:zero-shot", "arm:few-shot"):
        hand = by_origin[name]
        assert hand["finalist"] and hand["dev"]["n"] == search["final_n"]
        assert winner["dev"]["value"] >= hand["dev"]["value"]
    assert winner["dev"]["n"] == search["final_n"]
    assert winner["dev"]["ci95"][0] <= winner["dev"]["value"] <= winner["dev"]["ci95"][1]
    # The leader's right answers on training examples, as a demonstration set.
    booted = [c for c in search["candidates"] if c["demonstrations"]["strategy"] == "bootstrapped"]
    assert len(booted) == 1 and booted[0]["demonstrations"]["k"] >= 1


def test_the_winner_is_written_verbatim_and_answers_the_test_split(
    first_run: tuple[Path, dict[str, Any]],
) -> None:
    run, results = first_run
    prompt = json.loads((run / "prompts" / "optimized.json").read_text(encoding="utf-8"))
    winner = results["arms"]["optimized"]["search"]["winner"]
    assert prompt["instruction"] == winner["instruction"] and prompt["arm"] == "optimized"
    assert prompt["demonstrations"] == winner["demonstrations"]
    rows = [json.loads(line) for line in (run / "samples.jsonl").open(encoding="utf-8")]
    mine = [r for r in rows if r["arm"] == "optimized"]
    assert len(mine) == 20 and all(r["prediction"] in FIVE_INTENTS for r in mine)
    assert results["arms"]["optimized"]["n"] == 20


def test_the_search_scored_no_test_example(
    suite_dir: Path, first_run: tuple[Path, dict[str, Any]]
) -> None:
    run, _ = first_run
    test_ids = {json.loads(line)["id"] for line in (run / "samples.jsonl").open(encoding="utf-8")}
    states = list((suite_dir / "cache" / "prompt-search").glob("*.json"))
    assert len(states) == 1
    scored = {
        example_id
        for rows in json.loads(states[0].read_text(encoding="utf-8"))["scores"].values()
        for example_id in rows
    }
    assert scored and not scored & test_ids


def test_a_second_run_replays_the_search_without_a_model_call(
    suite_dir: Path, first_run: tuple[Path, dict[str, Any]]
) -> None:
    _, first = first_run
    _, second = compare(suite_dir, "again")
    before, after = first["arms"]["optimized"]["search"], second["arms"]["optimized"]["search"]
    assert after["spent"]["replayed"] == after["spent"]["model_calls"]
    assert after["chosen"] == before["chosen"]
    assert after["candidates"] == before["candidates"]


def test_the_search_is_a_one_time_cost_and_the_report_shows_the_winner(
    first_run: tuple[Path, dict[str, Any]],
) -> None:
    run, results = first_run
    arm = results["arms"]["optimized"]
    one_time = arm["cost"]["basis"]["one_time"]
    assert one_time["what"] == "prompt search"
    assert one_time["seconds"] == pytest.approx(arm["search"]["spent"]["seconds"], rel=1e-6)
    assert arm["cost"]["one_time_usd"] > 0
    report = (run / "report.md").read_text(encoding="utf-8")
    section = report.split("## Prompt search: optimized", 1)[1].split("\n## ", 1)[0]
    assert arm["search"]["winner"]["instruction"] in section
    assert "test − dev:" in section
    steps = arm["search"]["trajectory"]
    assert steps[-1]["calls"] == arm["search"]["spent"]["model_calls"]
    assert [s["calls"] for s in steps] == sorted(s["calls"] for s in steps)
    assert (run / "charts" / "prompt-search-optimized.svg").is_file()
    assert 'id="chart-prompt-search-optimized"' in (run / "report.html").read_text()
    assert section.count("\n| ") == len(arm["search"]["candidates"]) + 1  # header + rows


def test_export_writes_the_winning_prompt_ready_to_use(
    tmp_path: Path, first_run: tuple[Path, dict[str, Any]]
) -> None:
    from click.testing import CliRunner

    from tunevsprompt.cli import main
    from tunevsprompt.task.labels import LabelSet

    run, results = first_run
    out = tmp_path / "prompt"
    done = CliRunner().invoke(main, ["export", str(run), str(out), "--arm", "optimized"])
    assert done.exit_code == 0, done.output
    prompt = json.loads((out / "prompt.json").read_text(encoding="utf-8"))
    messages = prompt["messages"]
    winner = results["arms"]["optimized"]["search"]["winner"]
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith(winner["instruction"])
    assert messages[-1] == {"role": "user", "content": "{input}"}
    assert sorted(prompt["labels"]) == sorted(LabelSet(FIVE_INTENTS).shown())
    text = (out / "prompt.txt").read_text(encoding="utf-8")
    assert text.startswith("SYSTEM:\n" + winner["instruction"]) and text.endswith("{input}\n")
    refused = CliRunner().invoke(main, ["export", str(run), str(out), "--arm", "optimized"])
    assert refused.exit_code == 2 and "not empty" in refused.output
