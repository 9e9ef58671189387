"""Hyperparameter sweeps of a tuning arm: the `sweep:` block, its trials, and the choice.

Each trial is the arm with some training settings replaced. It trains on the train split
with the arm's first seed and is scored on the dev sample the arm already uses for early
stopping; the trial with the best primary metric on dev (the first one on a tie) becomes the
arm. The test split plays no part in the choice.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from tunevsprompt.suite.strict import STRICT, Seed

MAX_TRIALS = 256
"""A grid larger than this is refused: it is almost surely a typo, and each trial trains."""

C = TypeVar("C", bound=BaseModel)

NOT_SWEPT = {"dev_limit", "sweep", "seeds", "train_sizes", "name", "type"}
"""Training keys a sweep may not vary: dev_limit decides what the trials are judged on."""


class SearchRange(BaseModel):
    """A continuous range for random search; integer settings are rounded."""

    model_config = STRICT
    low: float = Field(description="Smallest value.")
    high: float = Field(description="Largest value.")
    log: bool = Field(False, description="Draw uniformly on a log scale (learning rates).")


class SweepConfig(BaseModel):
    """`sweep:` on a tuning arm: values to try for its training settings."""

    model_config = STRICT
    method: Literal["grid", "random"] = Field(
        "grid", description="grid: every combination; random: `trials` draws."
    )
    params: dict[str, list[Any] | SearchRange] = Field(
        min_length=1,
        description="Setting → values. A list for grid search (or choices for random "
        "search); {low, high, log} for random search.",
    )
    trials: int | None = Field(
        None, ge=1, le=MAX_TRIALS, description="Number of draws (method: random only)."
    )
    seed: Seed = Field(0, description="Seed of the random draws.")


def sweep_problems(
    config: BaseModel, sweep: SweepConfig, inference_keys: set[str]
) -> list[tuple[str, str]]:
    """(key path inside the arm, message) for a sweep that cannot run as written.
    ``inference_keys``: the arm's keys that do not change the trained weights."""
    fields = type(config).model_fields
    swept = sorted(k for k in fields if k not in NOT_SWEPT and k not in inference_keys)
    problems: list[tuple[str, str]] = []
    for key, values in sweep.params.items():
        where = f"sweep.params.{key}"
        if key not in swept:
            problems.append(
                (where, f"not a training setting of this arm; a sweep can vary {', '.join(swept)}")
            )
        elif isinstance(values, SearchRange):
            if sweep.method == "grid":
                problems.append((where, "a grid needs a list of values (ranges are for random)"))
            elif values.low > values.high or (values.log and values.low <= 0):
                problems.append((where, "needs low <= high (and low > 0 with log: true)"))
        elif not values:
            problems.append((where, "give at least one value"))
    if sweep.method == "random" and sweep.trials is None:
        problems.append(("sweep.trials", "method: random needs the number of trials"))
    if sweep.method == "grid" and sweep.trials is not None:
        problems.append(("sweep.trials", "trials is for method: random (a grid tries all)"))
    if problems:
        return problems
    if sweep.method == "grid":
        size = math.prod(len(v) for v in sweep.params.values() if isinstance(v, list))
        if size > MAX_TRIALS:
            return [("sweep.params", f"the grid has {size} trials; at most {MAX_TRIALS}")]
    for params in trial_params(config, sweep):
        try:
            apply_params(config, params)
        except ValidationError as error:
            for detail in error.errors():
                key = str(detail["loc"][0]) if detail["loc"] else "params"
                problems.append((f"sweep.params.{key}", f"{params[key]!r}: {detail['msg']}"))
            break
    return problems


def trial_params(config: BaseModel, sweep: SweepConfig) -> list[dict[str, Any]]:
    """The settings of each trial, in a fixed order (duplicates of a random draw dropped)."""
    keys = list(sweep.params)
    if sweep.method == "grid":
        lists = [sweep.params[k] for k in keys]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*lists)]  # type: ignore[call-overload]
    rng = random.Random(f"{sweep.seed}-sweep")
    fields = type(config).model_fields
    trials: list[dict[str, Any]] = []
    for _ in range(sweep.trials or 0):
        draw = {k: _draw(rng, sweep.params[k], fields[k].annotation is int) for k in keys}
        if draw not in trials:
            trials.append(draw)
    return trials


def _draw(rng: random.Random, values: list[Any] | SearchRange, integer: bool) -> Any:
    if isinstance(values, list):
        return rng.choice(values)
    if values.log:
        value = math.exp(rng.uniform(math.log(values.low), math.log(values.high)))
    else:
        value = rng.uniform(values.low, values.high)
    return round(value) if integer else float(f"{value:.4g}")


def apply_params(config: C, params: dict[str, Any]) -> C:
    """The arm with these settings (validated) and without its sweep."""
    merged = {**config.model_dump(), **params, "sweep": None}
    return type(config).model_validate(merged)


def best_trial(scores: list[float]) -> int:
    """Index of the highest dev score; the earliest on a tie."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))
