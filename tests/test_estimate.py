"""`tvp compare --dry-run` and the estimate every run starts with: the counted work of each
arm (no model), its pricing, the run clock, and on a real tiny run an estimate within a
factor of 2 of the measured time."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import LORA, REPO, write_suite
from tunevsprompt.cli import main
from tunevsprompt.cli.console import PLAIN_WIDTH, RunClock
from tunevsprompt.estimate.calibrate import Costs
from tunevsprompt.estimate.plan import arm_seconds, duration
from tunevsprompt.estimate.work import count_work
from tunevsprompt.execution.base import PARTS_DIR, RunOptions
from tunevsprompt.suite.loader import load_suite
from tunevsprompt.task.data import load_task_data

DEMO = REPO / "suites" / "demo.yaml"


def demo_work(run_dir: Path | None = None, options: RunOptions | None = None):  # type: ignore[no-untyped-def]
    loaded = load_suite(DEMO)
    return count_work(loaded, load_task_data(loaded, None, None), run_dir, options or RunOptions())


def test_work_is_counted_from_the_suite_and_its_data() -> None:
    work = demo_work()
    arms = {a.name: a for a in work.arms}
    assert (work.n_train, work.n_test) == (200, 100)
    timed = 20 + 2  # latency sample + warmup, once per arm
    zero_shot = arms["zero-shot"]
    assert (zero_shot.scored_prompts, zero_shot.headline_prompts) == (100, timed)
    assert not zero_shot.plain_prompt and zero_shot.prompt_chars == 0
    assert arms["few-shot-similar"].prompt_chars == pytest.approx(10 * work.mean_demo_chars)
    assert arms["rag"].plain_prompt  # show_labels: false
    assert arms["optimized-prompt"].scored_prompts == 100 + 100  # test + the search's budget
    # LoRA: 200 examples in batches of 8 for 2 epochs; dev loss every epoch on 30 examples.
    lora = arms["lora"]
    assert (lora.train_steps, lora.train_batch) == (50, 8)
    assert lora.dev_loss_examples == 2 * 30
    assert (lora.scored_prompts, lora.headline_prompts) == (100, timed + 16)  # + integrity
    assert [p.name for p in lora.probes] == ["prose", "trivia"]
    assert not arms["embed-knn"].probes and not arms["zero-shot"].probes
    # SetFit: 5 rounds x 2 pairs per example, 16 pairs (32 texts) a step: 2000 / 16 steps.
    assert arms["setfit"].encoder_train_steps == math.ceil(2000 / 16)
    assert arms["encoder-finetune"].encoder_train_steps == 8 * math.ceil(200 / 32)
    assert work.needs_llm and work.needs_encoder and work.trains_llm and not work.generates
    assert [p.name for p in work.base_probes] == ["prose", "trivia"]
    assert all(a.unknown is None and a.passes == 1 and not a.reused for a in work.arms)


def write_part(run_dir: Path, label: str, key: str, record: dict | None = None) -> None:  # type: ignore[type-arg]
    (run_dir / PARTS_DIR).mkdir(exist_ok=True)
    part = {"key": key, "record": record or {}}
    (run_dir / PARTS_DIR / f"{label}.json").write_text(json.dumps(part))


def test_only_parts_a_rerun_would_reuse_count_as_reused(tmp_path: Path) -> None:
    from tunevsprompt.execution.part_key import part_key
    from tunevsprompt.execution.units import Unit
    from tunevsprompt.forgetting.measure import forgetting_identity

    loaded = load_suite(DEMO)
    options = RunOptions()
    config = next(a for a in loaded.arms if a.name == "lora")
    key = part_key(loaded, options, config, Unit("lora", "head", 0), forgetting_identity(loaded))
    write_part(tmp_path, "lora", key)
    write_part(tmp_path, "soft-prompt", "a key from other settings")
    arms = {a.name: a for a in demo_work(tmp_path, options).arms}
    assert arms["lora"].reused and not arms["lora"].probes
    assert arms["lora"].reused_passes == 1
    assert not arms["soft-prompt"].reused  # its settings changed: it runs again
    assert arm_seconds(arms["lora"], Costs(rank_s=1.0)) == 0.0
    # --no-cache reruns everything, and so does another --limit (a different key).
    assert not {a.name: a for a in demo_work(tmp_path, RunOptions(use_cache=False)).arms}[
        "lora"
    ].reused
    assert not {a.name: a for a in demo_work(tmp_path, RunOptions(limit=50)).arms}["lora"].reused


def test_a_swept_arm_reuses_its_trials_then_passes_with_the_winners_settings(
    tmp_path: Path,
) -> None:
    from tunevsprompt.execution.part_key import part_key
    from tunevsprompt.execution.units import arm_units, effective_config, sweep_trials
    from tunevsprompt.forgetting.measure import forgetting_identity

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        DEMO.read_text().replace(
            "    integrity_sample: 16\n  - name: soft-prompt",
            "    integrity_sample: 16\n    sweep:\n      params:\n"
            "        learning_rate: [0.001, 0.002]\n  - name: soft-prompt",
        )
    )
    shutil.copytree(REPO / "suites/data/banking77-10", tmp_path / "data/banking77-10")
    loaded = load_suite(suite)
    options, identity = RunOptions(), forgetting_identity(loaded)
    config = next(a for a in loaded.arms if a.name == "lora")
    trials = sweep_trials(config, 0)
    assert [t.params for t in trials] == [{"learning_rate": 0.001}, {"learning_rate": 0.002}]

    def count():  # type: ignore[no-untyped-def]
        data = load_task_data(loaded, None, None)
        return {a.name: a for a in count_work(loaded, data, tmp_path, options).arms}["lora"]

    assert (count().passes, count().reused_passes) == (3, 0)  # two trials, the headline
    for trial, dev in zip(trials, (0.5, 0.7), strict=True):
        key = part_key(loaded, options, effective_config(config, trial.params), trial, identity)
        write_part(tmp_path, trial.label, key, {"dev": {"value": dev}})
    assert (count().passes, count().reused_passes) == (1, 2)  # the trials are reused
    head = arm_units(config, 0, 200, {"learning_rate": 0.002})[0]  # the winner's settings
    key = part_key(loaded, options, effective_config(config, head.params), head, identity)
    write_part(tmp_path, "lora", key)
    assert count().reused


def test_a_generation_task_is_priced_as_generating() -> None:
    loaded = load_suite(REPO / "suites" / "northwind-help.yaml")
    data = load_task_data(loaded, None, None)
    arms = {a.name: a for a in count_work(loaded, data, None, RunOptions()).arms}
    assert all(a.generate_tokens > 0 for a in arms.values() if a.local_llm)
    assert count_work(loaded, data, None, RunOptions()).generates


def test_pricing_adds_each_kind_of_work() -> None:
    arms = {a.name: a for a in demo_work().arms}
    costs = Costs(
        rank_s=0.2,
        rank_plain_s=0.1,
        rank_per_char_s=0.001,
        train_example_s=0.3,
        nll_token_s=0.01,
        choice_question_s=0.05,
        embed_text_s=0.01,
        encoder_train_text_s=0.03,
        llm_load_s=2.0,
    )
    assert arm_seconds(arms["zero-shot"], costs) == pytest.approx(122 * 0.2)
    similar = 122 * (0.2 + 0.001 * arms["few-shot-similar"].prompt_chars) + 300 * 0.01
    assert arm_seconds(arms["few-shot-similar"], costs) == pytest.approx(similar)
    lora = 138 * 0.1 + 50 * 8 * 0.3 + 60 * 0.3 / 3 + 2.0 + 2048 * 0.01 + 40 * 0.05
    assert arm_seconds(arms["lora"], costs) == pytest.approx(lora)
    setfit = 125 * 32 * 0.03 + arms["setfit"].encoder_texts * 0.01  # timed: embedded too
    assert arm_seconds(arms["setfit"], costs) == pytest.approx(setfit)
    # A second seed repeats the per-pass work, not the timed requests or the probes.
    lora_work = arms["lora"]
    lora_work.passes = 2
    twice = lora + 100 * 0.1 + 50 * 8 * 0.3 + 60 * 0.3 / 3 + 2.0
    assert arm_seconds(lora_work, costs) == pytest.approx(twice)


def test_durations_read_naturally() -> None:
    assert [duration(s) for s in (0.2, 42, 90, 125, 900, 7200, None)] == [
        "1 s",
        "42 s",
        "1.5 min",
        "2.1 min",
        "15 min",
        "2.0 h",
        "unknown",
    ]


def test_run_clock_rescales_by_the_finished_arms() -> None:
    clock = RunClock({"a": 10.0, "b": 30.0}, fixed_s=3.0)
    clock.begin()
    assert clock.left() == pytest.approx(43.0, abs=0.5)
    clock.last -= 20.0  # arm a took twice its estimate
    clock.finished("a")
    assert clock.scale() == pytest.approx(2.0, rel=0.05)
    assert clock.left() == pytest.approx(63.0, rel=0.05)
    assert "1 of 2 estimated arms done" in clock.text()
    # One arm whose estimate was an upper bound (it took a fifth of it) does not shrink the
    # estimates of the rest: the median ratio, not the total, rescales.
    for name, estimate, took in (("c", 10.0, 2.0), ("d", 10.0, 11.0)):
        clock.estimates[name], clock.took[name] = estimate, took
        clock.done.append(name)
    assert clock.scale() == pytest.approx(1.1, rel=0.02)  # ratios 2.0, 0.2, 1.1
    clock.took["a"] = 10.0
    assert clock.scale() == pytest.approx(1.0)  # ratios 1.0, 0.2, 1.1

    clock.last -= 30.0
    clock.finished("not-estimated")  # its 30 s are its own, not the next arm's
    assert clock.done == ["a", "c", "d"] and "not-estimated" not in clock.took
    assert time.monotonic() - clock.last < 1.0
    clock.finished("b")
    assert clock.left() == pytest.approx(3.0, abs=0.5)  # only the reports are left
    clock.last -= 10.0
    assert clock.left() == 0.0


@pytest.mark.slow
def test_estimate_is_within_a_factor_of_two_of_the_run(
    five_intent_dir: Path, tmp_path: Path
) -> None:
    from tunevsprompt.estimate.run import estimate_run
    from tunevsprompt.runner import SilentObserver, run_compare

    encoder = "  - name: embed-linear\n    type: embed-linear\n"
    loaded = write_suite(five_intent_dir, "estimate", LORA.format(extra="") + encoder, latency=3)
    options = RunOptions(
        limit=15, train_limit=60, out=tmp_path / "run", device="cpu", cache_dir=tmp_path / "c"
    )
    where = ["--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c")]
    dry = CliRunner().invoke(
        main,
        ["compare", str(loaded.path), "--dry-run", "--limit", "15", "--train-limit", "60", *where],
    )
    assert dry.exit_code == 0, dry.output
    assert "total about" in dry.output and "lora" in dry.output
    assert max(len(line) for line in dry.output.splitlines()) <= PLAIN_WIDTH
    assert not (tmp_path / "run" / "results.json").exists()  # a dry run runs nothing

    start = time.perf_counter()
    plan, model = estimate_run(loaded, options, lambda _text: None)
    run_compare(loaded, options, SilentObserver(), lambda _l, _o: model)
    measured = time.perf_counter() - start - plan.costs.calibration_s
    ratio = measured / plan.total_s
    print(f"estimated {plan.total_s:.1f} s, measured {measured:.1f} s, ratio {ratio:.2f}")
    assert 0.5 <= ratio <= 2.0, (measured, plan.total_s, plan.lines())
