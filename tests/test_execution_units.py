"""The units of a run (pure logic, no model): sweep trials, load-time sweep errors, and the
schedule that orders units and merges them into one record per arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import LORA, ZERO_SHOT_ARMS, write_suite
from tunevsprompt.arms.sweep import SweepConfig, best_trial, trial_params
from tunevsprompt.errors import RunError, SuiteError
from tunevsprompt.execution.units import Schedule, Unit, UnitResult


def _lora(five_intent_dir: Path, extra: str, name: str = "sweep") -> Any:
    loaded = write_suite(five_intent_dir, name, LORA.format(extra=extra))
    return next(a for a in loaded.arms if a.name == "lora")


def test_a_grid_tries_every_combination_in_order(five_intent_dir: Path) -> None:
    lora = _lora(
        five_intent_dir,
        "    sweep:\n      params:\n        learning_rate: [0.001, 0.01]\n        r: [4, 8]\n",
    )
    assert trial_params(lora, lora.sweep) == [
        {"learning_rate": 0.001, "r": 4},
        {"learning_rate": 0.001, "r": 8},
        {"learning_rate": 0.01, "r": 4},
        {"learning_rate": 0.01, "r": 8},
    ]


def test_random_search_is_seeded_bounded_and_rounds_integer_settings(
    five_intent_dir: Path,
) -> None:
    lora = _lora(
        five_intent_dir,
        "    sweep:\n      method: random\n      trials: 12\n      params:\n"
        "        learning_rate: {low: 0.0001, high: 0.01, log: true}\n"
        "        r: {low: 2, high: 32}\n        epochs: [1, 2]\n",
    )
    trials = trial_params(lora, lora.sweep)
    assert trials == trial_params(lora, lora.sweep)
    assert 1 < len(trials) <= 12
    assert all(1e-4 <= t["learning_rate"] <= 1e-2 for t in trials)
    assert all(isinstance(t["r"], int) and 2 <= t["r"] <= 32 for t in trials)
    assert {t["epochs"] for t in trials} <= {1, 2}
    # Log-uniform: draws spread over the decades, not bunched near the top.
    assert min(t["learning_rate"] for t in trials) < 1e-3
    other = SweepConfig.model_validate({**lora.sweep.model_dump(), "seed": 1})
    assert trial_params(lora, other) != trials


@pytest.mark.parametrize(
    ("sweep", "where", "says"),
    [
        ("      params:\n        batch_size: [4, 8]\n", "sweep.params.batch_size", "can vary"),
        ("      params:\n        r: [4, 0]\n", "sweep.params.r", "greater than or equal to 1"),
        (
            "      params:\n        learning_rate: {low: 0.001, high: 0.01}\n",
            "sweep.params.learning_rate",
            "a grid needs a list",
        ),
        (
            "      method: random\n      params:\n        r: [4, 8]\n",
            "sweep.trials",
            "needs the number of trials",
        ),
        ("      params:\n        dev_limit: [10, 20]\n", "sweep.params.dev_limit", "can vary"),
    ],
)
def test_a_sweep_that_cannot_run_is_refused_at_load_time_naming_its_key(
    five_intent_dir: Path, sweep: str, where: str, says: str
) -> None:
    with pytest.raises(SuiteError) as error:
        _lora(five_intent_dir, "    sweep:\n" + sweep, name="bad-sweep")
    text = str(error.value.problems[0].render())
    assert f"arms[1].{where}" in text and says in text and "bad-sweep.yaml" in text


def test_a_sweep_on_a_prompting_arm_is_an_unknown_key(five_intent_dir: Path) -> None:
    arms = ZERO_SHOT_ARMS.replace("decide: rank", "decide: rank\n    sweep: {params: {k: [1]}}")
    with pytest.raises(SuiteError, match="sweep"):
        write_suite(five_intent_dir, "sweep-prompting", arms.removeprefix("arms:\n"))


def test_best_trial_is_the_highest_dev_score_and_the_first_on_a_tie() -> None:
    assert best_trial([0.5, 0.7, 0.7, 0.1]) == 1
    assert best_trial([0.2]) == 0


def _finish(schedule: Schedule, unit: Unit, value: float) -> str | None:
    quality = {"metric": "accuracy", "value": value, "ci95": [value - 0.1, value + 0.1]}
    if unit.kind == "trial":
        record: dict[str, Any] = {"trial": unit.trial, "params": unit.params, "dev": quality}
    elif unit.kind == "head":
        record = {"quality": quality, "training": {"train_examples": 40, "steps": 3}}
    elif unit.kind == "seed":
        record = {"seed": unit.seed, "quality": quality, "n_train": 40, "training": None}
    else:
        record = {"train_size": unit.size, "quality": quality, "n_train": unit.size}
    return schedule.finish(UnitResult(unit, record, samples=[{"arm": unit.arm}]))


def test_a_swept_arm_waits_for_its_trials_then_runs_every_pass_with_the_winner(
    five_intent_dir: Path,
) -> None:
    loaded = write_suite(
        five_intent_dir,
        "scheduled",
        LORA.format(
            extra="    seeds: [0, 1]\n    train_sizes: [10, all]\n"
            "    sweep:\n      params:\n        learning_rate: [0.001, 0.01, 0.1]\n"
        ),
    )
    schedule = Schedule(list(loaded.arms), 0, 40)
    assert schedule.total == 1 + 3 + 3
    first = schedule.take()
    assert [u.label for u in first] == ["zero-shot", "lora@trial0", "lora@trial1", "lora@trial2"]
    assert schedule.take() == []
    assert _finish(schedule, first[0], 0.3) == "zero-shot"
    for unit, dev in zip(first[1:], [0.5, 0.8, 0.8], strict=True):
        _finish(schedule, unit, dev)
    then = schedule.take()
    assert [u.label for u in then] == ["lora", "lora@seed1", "lora@n10"]
    assert all(u.params == {"learning_rate": 0.01} for u in then)
    finished = [_finish(schedule, u, v) for u, v in zip(then, [0.6, 0.4, 0.2], strict=True)]
    assert finished == [None, None, "lora"] and schedule.complete
    record = schedule.outcome("lora").record
    assert record["config"]["learning_rate"] == 0.01 and record["config"]["sweep"] is None
    sweep = record["sweep"]
    assert sweep["best_trial"] == 1 and sweep["chosen"] == {"learning_rate": 0.01}
    assert [t["dev"]["value"] for t in sweep["trials"]] == [0.5, 0.8, 0.8]
    assert sweep["space"] == {"learning_rate": [0.001, 0.01, 0.1]}
    assert [p["seed"] for p in record["seeds"]["per_seed"]] == [0, 1]
    assert record["seeds"]["mean"] == pytest.approx(0.5)
    assert [p["train_size"] for p in record["learning_curve"]] == [10, 40]
    assert schedule.outcome("lora").samples == [{"arm": "lora"}]


def test_ray_units_ask_for_a_gpu_to_train_a_share_to_generate_none_for_endpoints(
    five_intent_dir: Path,
) -> None:
    from tunevsprompt.execution.ray_cluster import unit_gpus

    arms = LORA.format(extra="") + (
        "  - name: hosted\n    type: zero-shot\n    backend: openai\n    model: m\n"
        "    base_url: http://127.0.0.1:9/v1\n"
    )
    configs = {a.name: a for a in write_suite(five_intent_dir, "gpus", arms).arms}
    assert unit_gpus(configs["lora"], 4, 1.0, 0.25) == 1.0
    assert unit_gpus(configs["zero-shot"], 4, 1.0, 0.25) == 0.25
    assert unit_gpus(configs["hosted"], 4, 1.0, 0.25) == 0.0
    assert unit_gpus(configs["lora"], 0, 1.0, 0.25) == 0.0
    assert unit_gpus(configs["lora"], 0.5, 1.0, 0.25) == 0.5


def test_a_diverged_trial_is_never_chosen_and_all_diverged_is_an_error(
    five_intent_dir: Path,
) -> None:
    loaded = write_suite(
        five_intent_dir,
        "diverging",
        LORA.format(extra="    sweep:\n      params:\n        learning_rate: [0.001, 10.0]\n"),
    ).select_arms(["lora"])

    def trial(unit: Unit, dev: float | None) -> UnitResult:
        quality = {"metric": "accuracy", "value": dev, "ci95": [0, 1]} if dev is not None else None
        record = {"trial": unit.trial, "params": unit.params, "dev": quality}
        return UnitResult(unit, record if dev is not None else {**record, "diverged": "nan"})

    schedule = Schedule(list(loaded.arms), 0, 40)
    low, high = schedule.take()
    schedule.finish(trial(high, None))
    schedule.finish(trial(low, 0.1))
    assert [u.params for u in schedule.take()] == [{"learning_rate": 0.001}]

    failing = Schedule(list(loaded.arms), 0, 40)
    low, high = failing.take()
    failing.finish(trial(low, None))
    with pytest.raises(RunError, match="every trial of its sweep diverged"):
        failing.finish(trial(high, None))
