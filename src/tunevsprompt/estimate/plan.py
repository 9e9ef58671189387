"""The run's plan: the counted work of each arm priced with the costs measured here, as the
lines `tvp compare --dry-run` prints and the one line every run starts with."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunevsprompt.estimate.calibrate import Costs, calibrate_encoder, calibrate_llm
from tunevsprompt.estimate.work import PROSE_TOKENS, ArmWork, RunWork, count_work
from tunevsprompt.execution.base import RunOptions
from tunevsprompt.forgetting.config import ProbeConfig
from tunevsprompt.suite.loader import LoadedSuite
from tunevsprompt.task.data import TaskData

FIXED_S = 3.0
"""Reading the data, the decision and writing the reports (measured: 2-4 s on 2 CPU cores
for the demo suite)."""
TRIVIA_QUESTIONS = 120
SUITE_PROBE_EXAMPLES = 100


@dataclass
class ArmEstimate:
    work: ArmWork
    seconds: float | None
    """None: not estimated (see ``work.unknown``)."""


@dataclass
class RunPlan:
    suite: str
    device: str
    work: RunWork
    costs: Costs
    arms: list[ArmEstimate]
    fixed_s: float
    """Reading the data, the decision, the reports."""
    loads_s: float
    """Loading the models: spent while estimating, before the run proper."""

    @property
    def total_s(self) -> float:
        """The whole command's time, loading the models included."""
        return self.loads_s + self.remaining_s

    @property
    def remaining_s(self) -> float:
        """The time left once the estimate has loaded the models."""
        return self.fixed_s + sum(a.seconds or 0.0 for a in self.arms)

    def seconds_by_arm(self) -> dict[str, float]:
        return {a.work.name: a.seconds for a in self.arms if a.seconds is not None}

    def headline(self) -> str:
        """The one line every run starts with."""
        todo = [a for a in self.arms if not a.work.reused]
        reused = len(self.arms) - len(todo)
        again = f", {reused} reused from the run folder" if reused else ""
        unknown = [a.work.name for a in todo if a.seconds is None]
        not_estimated = f" (not estimated: {', '.join(unknown)})" if unknown else ""
        return (
            f"plan: {len(todo)} arms to run{again} on {self.work.n_test} test examples, about "
            f"{duration(self.remaining_s)} on {self.device}{not_estimated} (per arm: --dry-run)"
        )

    def first_probed(self) -> ArmEstimate | None:
        """The first arm that runs forgetting probes: the base model's run with it."""
        return next((a for a in self.arms if a.work.probes and a.seconds is not None), None)

    def lines(self) -> list[str]:
        """The dry run's table: what each arm does and its estimate."""
        w = self.work
        out = [
            f"{self.suite}: {len(self.arms)} arms; {w.n_train} train, {w.n_dev} dev, "
            f"{w.n_test} test examples; device {self.device}",
            f"{'arm':<18}{'what runs':<62}{'estimate':>12}",
        ]
        for arm in self.arms:
            estimate = "reused" if arm.work.reused else duration(arm.seconds)
            what = describe(arm.work)
            if arm is self.first_probed() and w.base_probes:
                what += " (+ the base model's)"
            out.append(f"{arm.work.name[:17]:<18}{what[:61]:<62}{estimate:>12}")
        out.append(
            f"total about {duration(self.total_s)} with loading the models and writing the "
            f"reports (calibrated here in {self.costs.calibration_s:.0f} s)."
        )
        out.append(
            "Predictions already in the cache make a run faster than this; arms marked "
            "reused cost nothing."
        )
        return out


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def describe(work: ArmWork) -> str:
    if work.unknown:
        return work.unknown
    parts = []
    if work.local_llm:
        answer = f"generate ≤{work.generate_tokens} tokens" if work.generate_tokens else "rank"
        most = "at most " if work.type == "optimized-prompt" else ""
        parts.append(f"{most}{work.scored_prompts} prompts ({answer})")
    if work.train_steps:
        parts.append(f"{work.train_steps} steps × {work.train_batch}")
    if work.encoder_train_steps:
        parts.append(f"{work.encoder_train_steps} encoder steps")
    if work.encoder_texts:
        parts.append(f"{work.encoder_texts} texts embedded")
    if work.probes:
        parts.append(f"probes: {', '.join(p.name for p in work.probes)}")
    if work.passes > 1:
        parts.append(f"{work.passes} passes")
    if work.reused_passes:
        parts.append(f"{work.reused_passes} reused")
    return ", ".join(parts)


def probe_seconds(probe: ProbeConfig, costs: Costs) -> float:
    if probe.kind == "perplexity":
        return (probe.max_tokens or PROSE_TOKENS) * costs.nll_token_s
    if probe.kind == "multiple-choice":
        return (probe.n or TRIVIA_QUESTIONS) * costs.choice_question_s
    return (probe.n or SUITE_PROBE_EXAMPLES) * costs.rank_s


def arm_seconds(work: ArmWork, costs: Costs) -> float | None:
    if work.reused:
        return 0.0
    if work.unknown:
        return None
    per_prompt = (costs.rank_plain_s if work.plain_prompt else costs.rank_s) + (
        work.prompt_chars * costs.rank_per_char_s + work.generate_tokens * costs.decode_token_s
    )
    one_pass = work.scored_prompts * per_prompt
    one_pass += work.train_steps * work.train_batch * costs.train_example_s
    one_pass += work.dev_loss_examples * costs.train_example_s / 3
    one_pass += work.encoder_texts * costs.embed_text_s
    one_pass += work.encoder_train_steps * work.encoder_train_batch * costs.encoder_train_text_s
    if work.train_steps:
        one_pass += costs.llm_load_s  # a trainable copy of the model
    once = work.headline_prompts * per_prompt if work.head_runs else 0.0
    probes = sum(probe_seconds(p, costs) for p in work.probes)
    return work.passes * (one_pass + work.fixed_s) + once + probes


def plan_run(
    loaded: LoadedSuite,
    data: TaskData,
    run_dir: Path | None,
    options: RunOptions,
    device: str,
    load_generator: Callable[[], Any],
    say: Callable[[str], None],
) -> tuple[RunPlan, Any]:
    """Count the work, calibrate the suite's model (loaded here, and only when an arm runs
    it on this machine) and the sentence encoder, and price each arm; the base model's
    probes go with the first probed arm, which runs them. Returns the plan and the loaded
    model, for the run to reuse (None when none was loaded)."""
    work = count_work(loaded, data, run_dir, options)
    costs = Costs()
    generator = None
    if work.needs_llm:
        say(
            "estimating the run: loading the model (converted once, on first use: about "
            "30 s) and timing a few passes"
        )
        start = time.perf_counter()
        generator = load_generator()
        costs.llm_load_s = time.perf_counter() - start
        device = str(generator.device)
        calibrate_llm(
            generator, data, loaded.suite.task.instruction, work.generates, work.trains_llm, costs
        )
    if work.needs_encoder:
        calibrate_encoder(data, device, costs)
    arms = [ArmEstimate(a, arm_seconds(a, costs)) for a in work.arms]
    loads = costs.llm_load_s + costs.encoder_load_s
    plan = RunPlan(loaded.suite.name, device, work, costs, arms, FIXED_S, loads)
    first_probed = plan.first_probed()
    if first_probed is not None and first_probed.seconds is not None:
        first_probed.seconds += sum(probe_seconds(p, costs) for p in work.base_probes)
    return plan, generator
