"""Forgetting, measured: every probe runs once on the base model and once on each arm that
changes the weights, on identical items; the arm's forgetting is the change versus base,
with a paired bootstrap CI over the items."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from tunevsprompt.arms.capabilities import ProbedArm
from tunevsprompt.errors import RunError, SuiteError
from tunevsprompt.forgetting.config import ForgettingConfig, ProbeConfig
from tunevsprompt.forgetting.probes import (
    Indices,
    MultipleChoiceProbe,
    PerplexityProbe,
    Probe,
    ProbeRun,
    SuiteProbe,
)
from tunevsprompt.forgetting.sources import (
    SOURCE_NOTES,
    ProbeSourceError,
    builtin_available,
    read_probe_data,
    source_fingerprint,
)
from tunevsprompt.generation.base import Generator
from tunevsprompt.measure.stats import statistic_ci
from tunevsprompt.suite.probe_suites import PROBE_ARM_HINT, probe_suite_arm

if TYPE_CHECKING:
    from tunevsprompt.arms.base import ArmConfig, RunContext
    from tunevsprompt.suite.loader import LoadedSuite

UNCHANGED_REASON = "this arm does not change the model's weights, so it cannot forget"


class ForgettingMeter:
    """Builds the suite's probes on first use, probes the base model once, then each arm that
    changes the weights."""

    def __init__(self, loaded: LoadedSuite, ctx: RunContext, log: Callable[[str], None]):
        self.loaded = loaded
        self.config: ForgettingConfig = loaded.suite.forgetting_config()
        self.explicit = loaded.suite.forgetting is not None
        self.ctx = ctx
        self.log = log
        self._probes: list[Probe] | None = None
        self.skipped: dict[str, str] = {}
        self._base: dict[str, ProbeRun] = {}

    @property
    def active(self) -> bool:
        return self.config.enabled and bool(self.config.probes)

    @cached_property
    def identity(self) -> dict[str, Any]:
        """``forgetting_identity`` of this run's suite, hashed once per run."""
        return forgetting_identity(self.loaded)

    def for_arm(
        self, config: ArmConfig, arm: object
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The forgetting record of one arm and its probe rows: measured for an arm that
        changes the weights, zero by construction for the others."""
        if not config.changes_weights:
            return self.unchanged_record(config.forgetting_reason), []
        if not isinstance(arm, ProbedArm):
            raise RunError(
                f"arm {config.name} changes the model's weights but cannot be probed for "
                "forgetting (its arm type has no probe_generator)"
            )
        return self.measure(config.name, arm.probe_generator(), arm.probed_as())

    # -- records ----------------------------------------------------------------------

    def unchanged_record(self, reason: str | None = None) -> dict[str, Any]:
        """Prompting and RAG arms: zero by construction, and marked as such. The probes it
        stands for are filled in with the run's summary (``fill_unchanged``), from the probes
        that actually ran."""
        return {
            "by_construction": True,
            "reason": reason or UNCHANGED_REASON,
            "delta": 0.0,
            "ci95": [0.0, 0.0],
        }

    def measure(
        self, arm: str, generator: Generator, probed_as: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The arm's forgetting record and the per-item rows (base and tuned, side by side)."""
        if not self.active:
            reason = "forgetting probes are off in this suite (forgetting.enabled: false)"
            return {"by_construction": False, "measured": False, "reason": reason}, []
        probes = self.probes()
        records: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        for probe in probes:
            name = probe.config.name
            base = self._base_run(probe)
            self.log(f"{arm}: forgetting probe {name} on the tuned model")
            began = time.perf_counter()
            tuned = self._guarded(probe, generator)
            seconds = time.perf_counter() - began
            _check_paired(name, base, tuned)
            records[name] = {**self._compare(probe, base, tuned), "wall_s": round(seconds, 3)}
            for model, run in (("base", base), ("tuned", tuned)):
                rows.extend({"arm": arm, "probe": name, "model": model, **r} for r in run.rows)
        primary = self.config.primary_probe
        head = records.get(primary or "")
        if head is None and records:  # the primary probe was skipped
            primary, head = next(iter(records.items()))
        record: dict[str, Any] = {
            "by_construction": False,
            "measured": bool(records),
            "probed_as": probed_as,
            "primary": primary if head else None,
            "metric": head["metric"] if head else None,
            "delta": head["delta"] if head else None,
            "ci95": head["ci95"] if head else None,
            "change": head["change"] if head else None,
            "probes": records,
        }
        if self.skipped:
            record["skipped"] = dict(self.skipped)
        return record, rows

    # -- probes ------------------------------------------------------------------------

    def probes(self) -> list[Probe]:
        if self._probes is None:
            self._probes = []
            for config in self.config.probes:
                if not self.explicit and config.source.startswith("builtin:"):
                    missing = builtin_available(config.source)
                    if missing is not None:
                        self.skipped[config.name] = f"{missing.message}; {missing.hint}"
                        self.log(f"forgetting probe {config.name} skipped: {missing.message}")
                        continue
                self._probes.append(self._build(config))
        return self._probes

    def _build(self, config: ProbeConfig) -> Probe:
        try:
            return build_probe(config, self.loaded, self.ctx)
        except ProbeSourceError as error:
            index = self.config.probes.index(config)
            loc = ("forgetting", "probes", index, "source")
            raise SuiteError([self.loaded.problem(loc, error.message, error.hint)]) from None

    def _base_run(self, probe: Probe) -> ProbeRun:
        name = probe.config.name
        if name not in self._base:
            self.log(f"forgetting probe {name} on the base model")
            self._base[name] = self._guarded(probe, self.ctx.generator)
        return self._base[name]

    def _guarded(self, probe: Probe, generator: Generator) -> ProbeRun:
        try:
            return probe.run(generator)
        except (RunError, ProbeSourceError):
            raise
        except Exception as error:  # a model that cannot run this probe
            raise RunError(f"forgetting probe {probe.config.name}: {error}") from error

    def _compare(self, probe: Probe, base: ProbeRun, tuned: ProbeRun) -> dict[str, Any]:
        n, n_boot, seed = base.n, self.config.bootstrap_samples, self.ctx.seed
        every = np.arange(n)
        figures: dict[str, dict[str, Any]] = {}
        for metric in probe.metrics:

            def base_on(idx: Indices, m: str = metric) -> float:
                return probe.metric(base, m, idx)

            def delta_on(idx: Indices, m: str = metric) -> float:
                return probe.metric(tuned, m, idx) - probe.metric(base, m, idx)

            base_value, value = base_on(every), probe.metric(tuned, metric, every)
            delta = value - base_value
            # Same seed, same resampled item rows: the delta's CI is paired.
            ci = statistic_ci(delta_on, n, n_boot, seed)
            figures[metric] = {
                "base": round(base_value, 6),
                "base_ci95": _rounded(statistic_ci(base_on, n, n_boot, seed)),
                "value": round(value, 6),
                "delta": round(delta, 6),
                "ci95": _rounded(ci),
                "relative_delta": round(delta / base_value, 6) if base_value else None,
                "change": _change(ci, probe.higher_is_better),
            }
        headline = probe.metrics[0]
        return {
            **probe.description,
            "metric": headline,
            "higher_is_better": probe.higher_is_better,
            "n": n,
            **figures[headline],
            "metrics": figures,
        }


def _rounded(ci: tuple[float, float]) -> list[float]:
    return [round(ci[0], 6), round(ci[1], 6)]


def _change(ci: tuple[float, float], higher_is_better: bool) -> str:
    """worse / better when the CI of the delta excludes zero, else none detected."""
    lo, hi = ci
    if lo > 0:
        return "better" if higher_is_better else "worse"
    if hi < 0:
        return "worse" if higher_is_better else "better"
    return "none detected"


def _check_paired(name: str, base: ProbeRun, tuned: ProbeRun) -> None:
    """Base and tuned must have seen the very same items, in the same order."""
    if [r["prompt"] for r in base.rows] != [r["prompt"] for r in tuned.rows]:
        raise RunError(f"forgetting probe {name}: base and tuned models saw different items")


def build_probe(config: ProbeConfig, loaded: LoadedSuite, ctx: RunContext) -> Probe:
    """The probe for one config entry; ``ProbeSourceError`` when its data cannot be read."""
    if config.kind == "suite":
        return _suite_probe(config, loaded, ctx)
    note = SOURCE_NOTES.get(config.source, config.source)
    data = read_probe_data(config, loaded.folder, ctx.seed)
    if isinstance(data, str):
        return PerplexityProbe(config, data, note)
    return MultipleChoiceProbe(config, data, note)


def _suite_probe(config: ProbeConfig, loaded: LoadedSuite, ctx: RunContext) -> SuiteProbe:
    from tunevsprompt.arms.base import TaskInfo
    from tunevsprompt.arms.prompting import PromptingArm
    from tunevsprompt.arms.registry import get_arm_type
    from tunevsprompt.measure.evaluate import score_predictions
    from tunevsprompt.suite.loader import load_suite
    from tunevsprompt.task.data import load_task_data

    other = load_suite(loaded.folder / config.source, check_probes=False)
    try:
        arm_config = probe_suite_arm(other, config.arm)
    except ValueError as error:
        raise ProbeSourceError(str(error), PROBE_ARM_HINT) from None
    data = load_task_data(other, config.n)
    task = other.suite.task
    primary = other.suite.primary_metric()
    metric = "accuracy" if task.type == "classification" else primary
    info = TaskInfo(task.type, task.instruction, data.labels, primary, task.target_field)
    probe_ctx = replace(
        ctx,
        task=info,
        dev=data.dev,
        data_root=other.folder,
        variant=f"@probe-{config.name}",
    )
    arm = get_arm_type(arm_config.type)(arm_config)
    if not isinstance(arm, PromptingArm):
        message = f"arm {arm_config.name!r} of {other.shown_path} does not answer with a prompt"
        raise ProbeSourceError(message, PROBE_ARM_HINT)
    arm.prepare(data.train, probe_ctx)

    def scorer(examples: Any, predictions: list[Any]) -> list[dict[str, float]]:
        _, per_example = score_predictions(task.type, examples, predictions, primary, 100, 0)
        return per_example

    def prompt_text(example: Any) -> str:
        prompt = arm.prompts_for([example])[0]
        return "\n\n".join(f"{m.role}: {m.content}" for m in prompt)

    return SuiteProbe(
        config,
        data.test,
        metric,
        arm.predict_with,
        prompt_text,
        scorer,
        {
            "source_note": f"suite {other.suite.name}, arm {arm_config.name}, {len(data.test)} "
            "test examples",
            "suite": other.suite.name,
            "arm": arm_config.name,
            "task": task.type,
        },
        arm_config.batch_size,
    )


BASE_KEYS = (
    "kind",
    "source",
    "source_note",
    "metric",
    "higher_is_better",
    "n",
    "base",
    "base_ci95",
)


def forgetting_summary(config: ForgettingConfig, arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run-level forgetting block: each probe with the base model's score and CI (so a
    reader sees whether the probe can detect anything at this n), and which arms were
    probed or are unchanged by construction."""
    probed = {
        name: record["forgetting"]
        for name, record in arms.items()
        if record.get("forgetting", {}).get("measured", False)
    }
    probes: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for forgetting in probed.values():
        for name, figure in forgetting.get("probes", {}).items():
            if name not in probes:
                kept = {k: figure[k] for k in BASE_KEYS if k in figure}
                extra = {k: figure[k] for k in ("chance", "options", "window") if k in figure}
                probes[name] = {**kept, **extra}
        skipped.update(forgetting.get("skipped", {}))
    unchanged = [
        name
        for name, record in arms.items()
        if record.get("forgetting", {}).get("by_construction", False)
    ]
    # The primary probe the arms actually report (another one when it was skipped).
    used = [f["primary"] for f in probed.values() if f.get("primary")]
    return {
        "enabled": config.enabled,
        "primary": used[0] if used else config.primary_probe,
        "probed_arms": list(probed),
        "unchanged_arms": unchanged,
        "probes": probes,
        "skipped": skipped,
    }


def fill_unchanged(arms: dict[str, dict[str, Any]], summary: dict[str, Any]) -> None:
    """Give each unchanged arm a zero, by construction, for every probe that ran."""
    for record in arms.values():
        forgetting = record.get("forgetting")
        if forgetting and forgetting.get("by_construction"):
            forgetting["primary"] = summary["primary"] if summary["probes"] else None
            forgetting["probes"] = {
                name: {"delta": 0.0, "ci95": [0.0, 0.0], "by_construction": True}
                for name in summary["probes"]
            }


def forgetting_identity(loaded: LoadedSuite) -> dict[str, Any]:
    """The probes' settings and the identity of the data they read (for a probe suite, its
    file and its data files), so a finished arm is reused only while they are unchanged."""
    from tunevsprompt.runfolder.store import path_digest
    from tunevsprompt.suite.loader import load_suite

    config = loaded.suite.forgetting_config()
    data: dict[str, Any] = {}
    for probe in config.probes:
        data[probe.name] = source_fingerprint(probe.source, loaded.folder)
        if probe.kind == "suite" and data[probe.name] is not None:
            other = load_suite(loaded.folder / probe.source, check_probes=False)
            raw = other.suite.task.data
            data[f"{probe.name}:data"] = {
                key: path_digest(other.data_path(("task", "data", key)))
                for key in ("train", "dev", "test", "dataset")
                if getattr(raw, key) is not None and not str(getattr(raw, key)).startswith("hub:")
            }
    return {"config": config.model_dump(mode="json"), "data": data}
