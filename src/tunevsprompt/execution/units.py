"""Units of work and their order: which passes an arm needs, which can start now, and how
the finished ones become the arm's record (seeds, learning curve, sweep)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.arms.capabilities import LearnsFromExamples, Sweepable
from tunevsprompt.arms.sweep import SweepConfig, apply_params, best_trial, trial_params
from tunevsprompt.errors import RunError
from tunevsprompt.execution.base import ArmOutcome

UnitKind = Literal["head", "seed", "size", "trial"]


@dataclass(frozen=True)
class Unit:
    """One pass of one arm. ``params`` replaces training settings: a sweep trial's, or the
    winning trial's for the other passes of a swept arm."""

    arm: str
    kind: UnitKind
    seed: int
    size: int | None = None
    trial: int | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def variant(self) -> str:
        """Suffix naming this pass among the arm's (adapter folders, part files)."""
        if self.kind == "seed":
            return f"@seed{self.seed}"
        if self.kind == "size":
            return f"@n{self.size}"
        if self.kind == "trial":
            return f"@trial{self.trial}"
        return ""

    @property
    def label(self) -> str:
        return self.arm + self.variant


@dataclass
class UnitResult:
    """What a unit hands back. The headline pass carries the arm's samples and record; the
    other passes a summary record."""

    unit: Unit
    record: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    visible_texts: list[str] = field(default_factory=list)
    probe_samples: list[dict[str, Any]] = field(default_factory=list)
    reused: bool = False
    model: dict[str, Any] = field(default_factory=dict)
    """The manifest of the base model this unit's process loaded (empty if none)."""


def effective_config(config: ArmConfig, params: dict[str, Any]) -> ArmConfig:
    return apply_params(config, params) if params else config


def curve_sizes(sizes: Sequence[int | str] | None, n_train: int) -> list[int | None]:
    """Requested sizes as ints; None marks 'the whole split' (the headline pass)."""
    if not sizes:
        return []
    out: list[int | None] = []
    for size in sizes:
        value = None if size == "all" or int(size) >= n_train else int(size)
        if value not in out:
            out.append(value)
    return out


def _seeds(config: ArmConfig, suite_seed: int) -> list[int]:
    seeds = config.seeds if isinstance(config, LearnsFromExamples) else None
    return list(seeds or [suite_seed])


def _train_sizes(config: ArmConfig, n_train: int) -> list[int | None]:
    """The arm's learning-curve sizes (none unless its config ``LearnsFromExamples``)."""
    sizes = config.train_sizes if isinstance(config, LearnsFromExamples) else None
    return curve_sizes(sizes, n_train)


def arm_units(
    config: ArmConfig, suite_seed: int, n_train: int, params: dict[str, Any]
) -> list[Unit]:
    """The headline pass, then one per further seed and per learning-curve size."""
    seeds = _seeds(config, suite_seed)
    sizes = _train_sizes(config, n_train)
    units = [Unit(config.name, "head", seeds[0], params=params)]
    units += [Unit(config.name, "seed", s, params=params) for s in seeds[1:]]
    units += [
        Unit(config.name, "size", seeds[0], size=n, params=params) for n in sizes if n is not None
    ]
    return units


def _sweep_of(config: ArmConfig) -> SweepConfig | None:
    return config.sweep if isinstance(config, Sweepable) else None


def sweep_trials(config: ArmConfig, suite_seed: int) -> list[Unit]:
    """A swept arm's trial units, in order (none for an arm without a sweep)."""
    sweep = _sweep_of(config)
    if sweep is None:
        return []
    first_seed = _seeds(config, suite_seed)[0]
    return [
        Unit(config.name, "trial", first_seed, trial=i, params=p)
        for i, p in enumerate(trial_params(config, sweep))
    ]


class Schedule:
    """Hands out units as their inputs are ready: every unit at once, except that a swept
    arm's other passes wait for its trials (they use the winning settings)."""

    def __init__(self, arms: list[ArmConfig], suite_seed: int, n_train: int):
        self.arms = arms
        self.suite_seed, self.n_train = suite_seed, n_train
        self._ready: list[Unit] = []
        self._results: dict[str, dict[str, UnitResult]] = {a.name: {} for a in arms}
        self._expected: dict[str, int] = {}
        self._trials: dict[str, list[dict[str, Any]]] = {}
        self._chosen: dict[str, dict[str, Any]] = {}
        for config in arms:
            passes = arm_units(config, suite_seed, n_train, {})
            trials = sweep_trials(config, suite_seed)
            if not trials:
                self._ready += passes
                self._expected[config.name] = len(passes)
                continue
            self._trials[config.name] = [unit.params for unit in trials]
            self._ready += trials
            # The passes are handed out once the trials are done, with the winner's settings.
            self._expected[config.name] = len(trials) + len(passes)
        self.total = sum(self._expected.values())
        self.done = 0

    def take(self) -> list[Unit]:
        """The units that can start now (each handed out once)."""
        ready, self._ready = self._ready, []
        return ready

    def finish(self, result: UnitResult) -> str | None:
        """Record a finished unit; returns the arm's name when that completes the arm."""
        unit = result.unit
        results = self._results[unit.arm]
        results[unit.label] = result
        self.done += 1
        trials = self._trials.get(unit.arm)
        if unit.kind == "trial" and trials is not None:
            finished = [r for r in results.values() if r.unit.kind == "trial"]
            if len(finished) == len(trials):
                records = [results[f"{unit.arm}@trial{i}"].record for i in range(len(trials))]
                chosen = trials[winning_trial(unit.arm, records)]
                self._chosen[unit.arm] = chosen
                config = self._config(unit.arm)
                self._ready += arm_units(config, self.suite_seed, self.n_train, chosen)
        return unit.arm if len(results) == self._expected[unit.arm] else None

    @property
    def complete(self) -> bool:
        return self.done == self.total

    def _config(self, name: str) -> ArmConfig:
        return next(a for a in self.arms if a.name == name)

    def outcome(self, name: str) -> ArmOutcome:
        """The arm's record: the headline pass's, with the seed study, learning curve and
        sweep merged in from the other passes."""
        config = self._config(name)
        results = self._results[name]
        head = results[name]
        record = dict(head.record)
        chosen = self._chosen.get(name, {})
        record["config"] = effective_config(config, chosen).model_dump(mode="json")
        seeds = _seeds(config, self.suite_seed)
        seed_samples: list[dict[str, Any]] = []
        if len(seeds) > 1:
            per_seed = [{"seed": seeds[0], **summary(head.record)}]
            per_seed += [results[f"{name}@seed{s}"].record for s in seeds[1:]]
            record["seeds"] = seed_study(record["quality"]["metric"], seeds, per_seed)
            for s in seeds[1:]:
                seed_samples += results[f"{name}@seed{s}"].samples
        sizes = _train_sizes(config, self.n_train)
        if sizes:
            points = [
                {"train_size": self.n_train, **summary(head.record)}
                if size is None
                else results[f"{name}@n{size}"].record
                for size in sizes
            ]
            record["learning_curve"] = sorted(points, key=lambda p: int(p["train_size"]))
        sweep = _sweep_of(config)
        if sweep is not None:
            record["sweep"] = self._sweep_record(name, sweep, record["quality"]["metric"])
        return ArmOutcome(
            record, head.samples, head.visible_texts, head.probe_samples, seed_samples
        )

    def arm_reused(self, name: str) -> bool:
        return all(r.reused for r in self._results[name].values())

    def model_manifest(self) -> dict[str, Any]:
        for results in self._results.values():
            for result in results.values():
                if result.model.get("model"):
                    return result.model
        return {"device": None, "model": None}

    def _sweep_record(self, name: str, sweep: SweepConfig, metric: str) -> dict[str, Any]:
        trials = [
            self._results[name][f"{name}@trial{i}"].record for i in range(len(self._trials[name]))
        ]
        best = winning_trial(name, trials)
        return {
            "method": sweep.method,
            "seed": sweep.seed,
            "space": sweep.model_dump(mode="json")["params"],
            "selected_on": f"{metric} on the dev sample",
            "trials": trials,
            "best_trial": best,
            "chosen": self._chosen[name],
        }


def winning_trial(arm: str, trials: list[dict[str, Any]]) -> int:
    """The trial with the best dev score; trials that diverged have none."""
    scores = [float(t["dev"]["value"]) if t.get("dev") else -math.inf for t in trials]
    if all(score == -math.inf for score in scores):
        raise RunError(
            f"arm {arm}: every trial of its sweep diverged; lower the learning rates tried"
        )
    return best_trial(scores)


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the seed study and learning curve keep of one pass."""
    training = record.get("training") or {}
    return {
        "quality": record["quality"],
        "n_train": training.get("train_examples"),
        "training": training_summary(training),
    }


def training_summary(training: dict[str, Any] | None) -> dict[str, Any] | None:
    if not training:
        return None
    keys = (
        "steps",
        "epochs",
        "wall_s",
        "examples_per_s",
        "best_dev_metric",
        "diverged_at_step",
        "reused",
    )
    return {k: training.get(k) for k in keys}


def seed_study(metric: str, seeds: list[int], per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    values = [float(p["quality"]["value"]) for p in per_seed]
    return {
        "metric": metric,
        "values": seeds,
        "mean": round(statistics.fmean(values), 6),
        "std": round(statistics.stdev(values), 6) if len(values) > 1 else 0.0,
        "per_seed": per_seed,
    }
