"""What a run will do, counted from the suite and its data before any model loads: for each
arm the prompts it scores, the extra prompt text they carry, its training steps and dev
evaluations, its forgetting probes, and which of its passes this run folder already holds
(a rerun reuses those whole). ``estimate.plan`` prices these counts with measured costs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.arms.embedding import EmbeddingArmConfig
from tunevsprompt.arms.encoder.config import EncoderTuningConfig, SetFitConfig
from tunevsprompt.arms.prompt_search.config import OptimizedPromptConfig
from tunevsprompt.arms.prompting import FewShotConfig, PromptingConfig
from tunevsprompt.arms.rag import RagConfig
from tunevsprompt.arms.training_keys import TrainingKeys
from tunevsprompt.arms.tuning_config import TuningConfig
from tunevsprompt.execution.base import RunOptions
from tunevsprompt.execution.part_key import finished_record
from tunevsprompt.execution.units import Unit, arm_units, sweep_trials, winning_trial
from tunevsprompt.forgetting.config import ProbeConfig
from tunevsprompt.forgetting.measure import forgetting_identity
from tunevsprompt.generation.endpoint import is_hosted
from tunevsprompt.suite.loader import LoadedSuite
from tunevsprompt.task.data import TaskData
from tunevsprompt.training.loop import plan_steps

CHARS_PER_TOKEN = 4.0
PROSE_TOKENS = 4096
"""Tokens of the built-in prose probe text used when a probe sets no max_tokens (its
length with the packaged tokenizer, rounded down)."""


@dataclass
class ArmWork:
    """The work of one arm. ``passes`` counts the passes still to run (the headline pass,
    further seeds, learning-curve sizes, sweep trials); the per-pass figures below are
    spent once per pass, the ``headline_prompts`` once."""

    name: str
    type: str
    passes: int
    reused_passes: int = 0
    head_runs: bool = True
    local_llm: bool = False
    plain_prompt: bool = False
    """The prompt lists no labels (tuned arms, ``show_labels: false``)."""
    prompt_chars: float = 0.0
    """Characters each prompt carries that change from input to input (similar
    demonstrations, retrieved passages); 0 when the prompt's extra text is shared."""
    generate_tokens: int = 0
    """New tokens per answer when the arm generates (0: it ranks labels)."""
    scored_prompts: int = 0
    """Per pass: test answers, dev evaluations, the prompt search's calls."""
    headline_prompts: int = 0
    """Timed requests (latency sample and warm-up) and the integrity sample."""
    train_steps: int = 0
    train_batch: int = 0
    dev_loss_examples: int = 0
    """Dev examples run forward for the dev loss, over all evaluations of a pass."""
    encoder_texts: int = 0
    encoder_train_steps: int = 0
    encoder_train_batch: int = 0
    fixed_s: float = 0.0
    """Seconds spent whatever the costs (a prompt search limited by time only)."""
    probes: list[ProbeConfig] = field(default_factory=list)
    unknown: str | None = None
    """Why the arm's time is not estimated (a hosted endpoint, a plugin arm type)."""

    @property
    def reused(self) -> bool:
        return self.passes == 0


@dataclass
class RunWork:
    arms: list[ArmWork]
    base_probes: list[ProbeConfig]
    """Probes run once on the base model (when an arm that runs changes the weights)."""
    n_train: int
    n_dev: int
    n_test: int
    mean_demo_chars: float

    @property
    def needs_llm(self) -> bool:
        return any(a.local_llm and not a.reused for a in self.arms)

    @property
    def trains_llm(self) -> bool:
        return any((a.train_steps or a.dev_loss_examples) and not a.reused for a in self.arms)

    @property
    def needs_encoder(self) -> bool:
        return any(a.encoder_texts and not a.reused for a in self.arms)

    @property
    def generates(self) -> bool:
        return any(a.generate_tokens and not a.reused for a in self.arms)


def count_work(
    loaded: LoadedSuite, data: TaskData, run_dir: Path | None, options: RunOptions
) -> RunWork:
    suite = loaded.suite
    sizes = len(data.train), len(data.dev), len(data.test)
    demos = [f"{e.input} {e.target}" for e in data.train] or [""]
    mean_demo = mean(len(t) for t in demos)
    timed = suite.latency_sample()
    timed += suite.latency.warmup if timed else 0
    forgetting = suite.forgetting_config()
    probes = list(forgetting.probes) if forgetting.enabled else []
    identity = forgetting_identity(loaded) if run_dir is not None else {}
    arms = []
    for config in loaded.arms:
        units, reused = _units(loaded, options, config, sizes[0], identity, run_dir)
        work = ArmWork(config.name, config.type, len(units) - len(reused), len(reused))
        work.head_runs = not any(u.kind == "head" for u in reused)
        _fill(work, config, sizes, min(timed, sizes[2]), mean_demo, suite.task.type)
        if config.changes_weights and work.local_llm:
            work.probes = probes if work.head_runs else []
        arms.append(work)
    probed = any(a.probes for a in arms)
    return RunWork(arms, probes if probed else [], *sizes, mean_demo)


def _units(
    loaded: LoadedSuite,
    options: RunOptions,
    config: ArmConfig,
    n_train: int,
    identity: dict[str, Any],
    run_dir: Path | None,
) -> tuple[list[Unit], list[Unit]]:
    """The arm's units as the run will schedule them, and those a rerun into ``run_dir``
    would reuse. A swept arm's other passes carry its winning trial's settings, known here
    only once every trial has finished."""
    seed = loaded.suite.sampling.seed

    def record(unit: Unit) -> dict[str, Any] | None:
        if run_dir is None:
            return None
        return finished_record(loaded, options, config, unit, identity, run_dir)

    trials = sweep_trials(config, seed)
    trial_records = [record(u) for u in trials]
    chosen: dict[str, Any] = {}
    if trials and all(r is not None for r in trial_records):
        done = [r for r in trial_records if r is not None]
        chosen = trials[winning_trial(config.name, done)].params
    passes = arm_units(config, seed, n_train, chosen)
    reused = [u for u, r in zip(trials, trial_records, strict=True) if r is not None]
    if not trials or chosen:
        reused += [u for u in passes if record(u) is not None]
    return trials + passes, reused


def _fill(
    work: ArmWork,
    config: ArmConfig,
    sizes: tuple[int, int, int],
    timed: int,
    demo: float,
    task_type: str,
) -> None:
    """The counts of one arm by its config's kind; other kinds are left unestimated."""
    n_train, n_dev, n_test = sizes
    if is_hosted(config):
        work.unknown = "answered by a hosted endpoint"
        return
    if isinstance(config, PromptingConfig):  # the tuning arms' configs too
        work.local_llm = True
        work.scored_prompts = n_test
        work.headline_prompts = timed
        work.plain_prompt = isinstance(config, TuningConfig) or not config.show_labels
        if config.decide_for(task_type) == "generate":
            work.generate_tokens = config.max_new_tokens
    if isinstance(config, FewShotConfig) and config.selection == "similar":
        work.prompt_chars = config.k * demo
        work.encoder_texts = n_train + n_test
    elif isinstance(config, RagConfig):
        chunk = config.corpus.chunk_size or 512
        work.prompt_chars = CHARS_PER_TOKEN * min(config.context_tokens, config.top_k * chunk)
        work.encoder_texts = n_test
    elif isinstance(config, OptimizedPromptConfig):
        counts = [k for k in config.k if isinstance(k, int)] or [8]
        work.prompt_chars = max(counts) * demo
        work.scored_prompts += config.budget.model_calls or 0
        if config.budget.model_calls is None:
            work.fixed_s = config.budget.seconds or 0.0
        work.encoder_texts = n_train + n_test
    elif isinstance(config, TuningConfig):
        _fill_tuning(work, config, sizes)
    elif isinstance(config, EmbeddingArmConfig):
        work.encoder_texts = n_train + n_test + timed
    elif isinstance(config, EncoderTuningConfig):
        pairs = isinstance(config, SetFitConfig)
        items = n_train * 2 * config.pair_rounds if isinstance(config, SetFitConfig) else n_train
        steps = _steps(config, math.ceil(items / config.train_batch_size))
        work.encoder_train_steps = steps
        work.encoder_train_batch = (
            (2 if pairs else 1) * config.train_batch_size * config.gradient_accumulation
        )
        dev = min(config.dev_limit, n_dev)
        work.encoder_texts = n_train + n_test + timed + _dev_evaluations(config, steps) * dev
    elif not isinstance(config, PromptingConfig):
        work.unknown = f"no estimate for arm type {config.type!r}"


def _steps(config: TrainingKeys, n_batches: int) -> int:
    return plan_steps(n_batches, config.training_settings(0))[1]


def _dev_evaluations(config: TrainingKeys, steps: int) -> int:
    if config.eval_every_steps:
        return max(1, steps // config.eval_every_steps)
    return max(1, math.ceil(config.epochs)) if config.max_steps is None else 1


def _fill_tuning(work: ArmWork, config: TuningConfig, sizes: tuple[int, int, int]) -> None:
    n_train, n_dev, n_test = sizes
    steps = _steps(config, math.ceil(n_train / config.train_batch_size))
    work.train_steps = steps
    work.train_batch = config.train_batch_size * config.gradient_accumulation
    dev = min(config.dev_limit, n_dev)
    evaluations = _dev_evaluations(config, steps)
    if config.select_on == "primary":
        work.scored_prompts += evaluations * dev
    else:
        work.dev_loss_examples = evaluations * dev
    work.headline_prompts += min(config.integrity_sample, n_test)
