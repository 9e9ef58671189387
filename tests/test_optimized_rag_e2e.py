"""The optimized-prompt arm searching a rag arm's prompt on the Northwind help-center data
(generation, token F1, the packaged SmolLM2 and MiniLM): candidates are instructions with a
number of retrieved passages in the rag arm's layout, the rag arm as written is a finalist,
and the winner answers the test split with its passages, recorded like the rag arm's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import SilentObserver
from tunevsprompt.runner import RunOptions, run_compare
from tunevsprompt.suite.loader import load_suite

pytestmark = pytest.mark.slow

NORTHWIND = Path(__file__).resolve().parents[1] / "suites" / "data" / "northwind-help"
BUDGET = 48

SUITE = f"""\
name: northwind-search
task:
  type: generation
  data:
    train: questions/train.jsonl
    test: questions/test.jsonl
    dev_fraction: 0.5
  input_field: question
  target_field: answer
  id_field: id
  instruction: >-
    You answer customer questions for Northwind Bank. Reply with the short answer only.
arms:
  - name: rag
    type: rag
    decide: generate
    max_new_tokens: 16
    corpus:
      path: docs
      chunk_size: 96
      chunk_overlap: 16
    top_k: 3
    context_tokens: 384
    gold_field: doc
    context_instruction: Use the passages below the question to answer it.
    template: "Question: {{input}}\\n\\nPassages:\\n{{context}}\\n\\nQuestion: {{input}}"
  - name: optimized
    type: optimized-prompt
    decide: generate
    max_new_tokens: 16
    start_from: [rag]
    top_k: [1, 3]
    proposals: 1
    reflections: 0
    k: [0]
    strategies: [random]
    minibatch: 3
    budget:
      model_calls: {BUDGET}
    proposer:
      max_new_tokens: 32
metrics:
  primary: token_f1
  bootstrap_samples: 200
sampling:
  seed: 0
  test_max: 8
latency:
  sample: 0
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("northwind-search")
    shutil.copytree(NORTHWIND / "docs", folder / "docs")
    shutil.copytree(NORTHWIND / "questions", folder / "questions")
    (folder / "suite.yaml").write_text(SUITE, encoding="utf-8")
    options = RunOptions(out=folder / "run", cache_dir=folder / "cache", device="cpu")
    run_dir = run_compare(load_suite(folder / "suite.yaml"), options, SilentObserver())
    return run_dir, json.loads((run_dir / "results.json").read_text(encoding="utf-8"))


def test_the_search_tries_instructions_with_each_number_of_passages(
    run: tuple[Path, dict[str, Any]],
) -> None:
    _, results = run
    search = results["arms"]["optimized"]["search"]
    assert search["spent"]["model_calls"] <= BUDGET
    passages = {(c["origin"], c["passages"]) for c in search["candidates"]}
    assert {("suite", 1), ("proposed:1", 1), ("proposed:1", 3), ("suite", 0)} <= passages
    # The rag arm as written is the task's instruction with its 3 passages: one candidate,
    # always in the final, so the winner is never worse on dev.
    rag = next(c for c in search["candidates"] if c["origin"] == "arm:rag")
    assert rag["passages"] == 3 and rag["finalist"]
    assert search["winner"]["dev"]["value"] >= rag["dev"]["value"]


def test_the_winner_answers_with_the_rag_arms_passages_and_exports_its_layout(
    run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from tunevsprompt.cli import main

    run_dir, results = run
    arm = results["arms"]["optimized"]
    winner = arm["search"]["winner"]
    out = tmp_path / "prompt"
    done = CliRunner().invoke(main, ["export", str(run_dir), str(out), "--arm", "optimized"])
    assert done.exit_code == 0, done.output
    prompt = json.loads((out / "prompt.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").open(encoding="utf-8")]
    mine = [r for r in rows if r["arm"] == "optimized"]
    assert len(mine) == 8
    # Without passages no candidate answers these invented facts: a passage layout wins.
    assert winner["passages"] >= 1
    assert arm["retrieval"]["top_k"] == winner["passages"]
    assert arm["retrieval"]["hit_at_k"] is not None
    assert all(r["context"]["included"] for r in mine)
    assert "{context}" in prompt["messages"][-1]["content"]
    assert prompt["retrieved_passages"]["k"] == winner["passages"]
    assert prompt["messages"][0]["content"].startswith(winner["instruction"])
    # Retrieval is timed afresh on the test split (the search's retrievals are forgotten).
    assert arm["retrieval"]["embed_ms"] is not None
