"""`--executor ray` on a local Ray instance: the same results as the local executor for
deterministic arms, a unit whose worker dies is retried, and a rerun reuses finished units."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import SilentObserver
from tunevsprompt.execution.ray_cluster import RayExecutor, UnitTask, run_unit
from tunevsprompt.execution.units import UnitResult
from tunevsprompt.runner import RunOptions, run_compare
from tunevsprompt.suite.loader import load_suite

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # Workers import this module to run the crashing unit below: ship it by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        # Short: Ray's socket paths must stay under the 107-byte limit.
        _temp_dir=tempfile.mkdtemp(prefix="tvp-ray-", dir="/tmp"),
    )
    yield
    ray.shutdown()


def _figures(run: Path) -> dict[str, Any]:
    results = json.loads((run / "results.json").read_text())
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return {
        "quality": {n: a["quality"] for n, a in results["arms"].items()},
        "metrics": {n: a["metrics"] for n, a in results["arms"].items()},
        "predictions": sorted((r["arm"], r["id"], r["prediction"]) for r in rows),
        "comparisons": [(c["arms"], c["difference"], c["p_value"]) for c in results["comparisons"]],
        # Not the costs or the recommendation: they rest on measured speed, which two workers
        # sharing two cores change.
    }


def test_ray_gives_the_local_executors_figures_and_reuses_finished_units(
    local_ray: None, five_intent_dir: Path, tmp_path: Path
) -> None:
    loaded = load_suite(five_intent_dir / "suite-nolatency.yaml")
    cache = tmp_path / "cache"
    local = run_compare(
        loaded, RunOptions(out=tmp_path / "local", cache_dir=cache, limit=10), SilentObserver()
    )
    # Another cache, so the Ray workers compute every answer themselves.
    options = RunOptions(out=tmp_path / "ray", cache_dir=tmp_path / "ray-cache", limit=10)
    remote = run_compare(loaded, options, SilentObserver(), executor=RayExecutor())
    assert _figures(remote) == _figures(local)
    results = json.loads((remote / "results.json").read_text())
    assert results["manifest"]["model"]["id"] == loaded.suite.model.id
    assert {a["cache"]["computed"] for a in results["arms"].values()} == {10}
    assert sorted(p.name for p in (remote / "parts").iterdir()) == [
        "few-shot.json",
        "zero-shot.json",
    ]

    seen: list[bool] = []

    class Recorder(SilentObserver):
        def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
            seen.append(reused)

    run_compare(loaded, options, Recorder(), executor=RayExecutor())
    assert seen == [True, True]


def crash_once(task: UnitTask, events: Any) -> UnitResult:
    """The first attempt's worker process dies (as on a lost node); the retry runs the unit."""
    marker = task.run_dir.parent / f"crashed-{task.unit.label}"
    if not marker.exists():
        marker.write_text("x")
        os._exit(1)
    return run_unit(task, events)


def test_a_unit_whose_worker_dies_is_retried_and_the_run_completes(
    local_ray: None, five_intent_dir: Path, tmp_path: Path
) -> None:
    loaded = load_suite(five_intent_dir / "suite-nolatency.yaml").select_arms(["zero-shot"])
    options = RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache", limit=6)
    run = run_compare(loaded, options, SilentObserver(), executor=RayExecutor(unit=crash_once))
    assert (tmp_path / "crashed-zero-shot").exists()
    results = json.loads((run / "results.json").read_text())
    assert results["arms"]["zero-shot"]["n"] == 6
    failing = RayExecutor(unit=crash_once, max_retries=0)
    (tmp_path / "again").mkdir()
    with pytest.raises(Exception, match="zero-shot"):
        run_compare(
            loaded,
            RunOptions(out=tmp_path / "again" / "run", cache_dir=tmp_path / "cache", limit=6),
            SilentObserver(),
            executor=failing,
        )


def test_the_cli_runs_ray_and_refuses_an_address_without_it(
    local_ray: None, five_intent_dir: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from tunevsprompt.cli import main

    suite = str(five_intent_dir / "suite-nolatency.yaml")
    wrong = CliRunner().invoke(main, ["compare", suite, "--ray-address", "auto"])
    assert wrong.exit_code == 2 and "--executor ray" in wrong.output
    args = ["compare", suite, "--arms", "zero-shot", "--limit", "4", "--executor", "ray"]
    args += ["--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "ray: 1 units on 1 node(s)" in result.output
    assert (
        json.loads((tmp_path / "run" / "results.json").read_text())["arms"]["zero-shot"]["n"] == 4
    )


class Units(SilentObserver):
    """Keeps the unit events the driver relays from the workers."""

    def __init__(self) -> None:
        self.started: set[str] = set()
        self.advanced_by: dict[str, int] = {}
        self.finished: dict[str, bool] = {}

    def unit_started(self, unit: str, total: int) -> None:
        self.started.add(unit)

    def advanced(self, unit: str, count: int) -> None:
        self.advanced_by[unit] = self.advanced_by.get(unit, 0) + count

    def unit_finished(self, unit: str, reused: bool) -> None:
        self.finished[unit] = reused


CURVES = """\
  - name: few-shot
    type: few-shot
    k: 5
    decide: rank
    seeds: [0, 1]
    train_sizes: [5, all]
"""


def test_each_seed_and_curve_size_is_its_own_unit_and_a_rerun_redoes_only_a_lost_one(
    local_ray: None, five_intent_dir: Path, tmp_path: Path
) -> None:
    from helpers import write_suite

    loaded = write_suite(five_intent_dir, "ray-curves", CURVES).select_arms(["few-shot"])
    local = run_compare(
        loaded,
        RunOptions(out=tmp_path / "local", cache_dir=tmp_path / "c1", limit=6, train_limit=20),
        SilentObserver(),
    )
    options = RunOptions(out=tmp_path / "ray", cache_dir=tmp_path / "c2", limit=6, train_limit=20)
    units = Units()
    remote = run_compare(loaded, options, units, executor=RayExecutor())
    labels = {"few-shot", "few-shot@seed1", "few-shot@n5"}
    assert units.finished == dict.fromkeys(labels, False)
    # Progress came from the workers, per unit.
    assert units.started == labels and units.advanced_by == dict.fromkeys(labels, 6)
    assert sorted(p.name for p in (remote / "parts").iterdir()) == sorted(
        f"{label}.json" for label in labels
    )

    def curves(run: Path) -> dict[str, Any]:
        arm = json.loads((run / "results.json").read_text())["arms"]["few-shot"]
        return {"seeds": arm["seeds"], "curve": arm["learning_curve"], "quality": arm["quality"]}

    assert curves(remote) == curves(local)
    assert [p["train_size"] for p in curves(remote)["curve"]] == [5, 20]

    (remote / "parts" / "few-shot@seed1.json").unlink()
    again = Units()
    run_compare(loaded, options, again, executor=RayExecutor())
    assert again.finished == {"few-shot": True, "few-shot@n5": True, "few-shot@seed1": False}
    assert curves(remote) == curves(local)


def test_a_sweep_runs_its_trials_as_parallel_units_then_the_winner(
    local_ray: None, five_intent_dir: Path, tmp_path: Path
) -> None:
    from helpers import write_suite
    from test_sweep_e2e import SWEPT_LORA

    loaded = write_suite(
        five_intent_dir, "ray-sweep", SWEPT_LORA.format(values="[1.0e-12, 0.005]")
    ).select_arms(["lora"])
    options = RunOptions(
        out=tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache", limit=5, train_limit=40
    )
    units = Units()
    run = run_compare(loaded, options, units, executor=RayExecutor())
    assert units.finished == {"lora@trial0": False, "lora@trial1": False, "lora": False}
    lora = json.loads((run / "results.json").read_text())["arms"]["lora"]
    trials = lora["sweep"]["trials"]
    best = lora["sweep"]["best_trial"]
    assert trials[best]["dev"]["value"] == max(t["dev"]["value"] for t in trials)
    assert lora["config"]["learning_rate"] == trials[best]["params"]["learning_rate"]
    # The headline unit (another worker) reused the winning trial's adapter from the cache.
    assert lora["training"]["reused"] is True
    assert lora["adapter"]["sha256"] == trials[best]["adapter"]["sha256"]


SEARCH_SUITE = """\
  - name: optimized
    type: optimized-prompt
    decide: rank
    start_from: [zero-shot]
    proposals: 1
    reflections: 1
    label_descriptions: false
    k: [0, 2]
    strategies: [stratified, random]
    minibatch: 4
    budget:
      model_calls: 60
    proposer:
      max_new_tokens: 32
"""


def test_a_prompt_search_on_ray_workers_chooses_the_local_winner(
    local_ray: None, five_intent_dir: Path, tmp_path: Path
) -> None:
    """The optimized-prompt arm alone (--arms; its hand-written start is still found): on
    Ray its candidates are scored by a pool of workers, each with its own model, and the
    search takes the local search's path to the same winner."""
    from helpers import BANKING_TASK, UNTIMED_RUN, ZERO_SHOT_ARMS

    (five_intent_dir / "search.yaml").write_text(
        "name: search-on-ray\n" + BANKING_TASK + ZERO_SHOT_ARMS + SEARCH_SUITE + UNTIMED_RUN,
        encoding="utf-8",
    )
    loaded = load_suite(five_intent_dir / "search.yaml").select_arms(["optimized"])

    def search(where: str, executor: RayExecutor | None, observer: SilentObserver) -> Any:
        options = RunOptions(out=tmp_path / where, cache_dir=tmp_path / f"{where}-cache", limit=8)
        run = run_compare(loaded, options, observer, executor=executor)
        return json.loads((run / "results.json").read_text())["arms"]["optimized"]["search"]

    class Messages(SilentObserver):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def message(self, text: str) -> None:
            self.lines.append(text)

    local = search("local", None, SilentObserver())
    seen = Messages()
    remote = search("ray", RayExecutor(job_workers=2), seen)
    assert remote["winner"] == local["winner"]
    assert remote["candidates"] == local["candidates"]
    assert remote["trajectory"] == local["trajectory"]
    assert remote["spent"]["model_calls"] == local["spent"]["model_calls"] <= 60
    assert remote["spent"]["replayed"] == 0
    loads = [line for line in seen.lines if "loading model" in line]
    assert len(loads) == 3, loads  # the unit (proposer, test split) and two search workers
