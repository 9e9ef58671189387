"""The suite's cross-checks, after the schema: data paths inside the suite's folder, the
arms' own data files, the headline metric and the quality bars on it, the gates' arms,
hosted arms' endpoints, and the forgetting probes' sources (a probe suite is loaded with
the loader it is given)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.measure.metric_registry import known_metrics, user_metric
from tunevsprompt.measure.metrics import metric_names
from tunevsprompt.suite.loaded import LoadedSuite
from tunevsprompt.suite.probe_suites import PROBE_ARM_HINT, probe_suite_arm
from tunevsprompt.suite.yaml_lines import KeyPath, did_you_mean

SuiteLoader = Callable[[Path], LoadedSuite]
"""Loads a probe suite without following its own probes."""


def cross_checks(loaded: LoadedSuite, load: SuiteLoader | None) -> list[SuiteProblem]:
    """Every problem the schema cannot see; probe suites are checked when ``load`` is given."""
    problems = (
        _check_paths(loaded)
        + _check_arm_data(loaded)
        + _check_metric(loaded)
        + _check_quality_bars(loaded)
        + _check_gates(loaded)
        + _check_hosted(loaded)
        + _check_arm_references(loaded)
    )
    if load is not None:
        problems += _check_forgetting(loaded, load)
    return problems


def _check_paths(loaded: LoadedSuite) -> list[SuiteProblem]:
    data = loaded.suite.task.data
    problems = []
    for key in ("train", "dev", "test", "dataset"):
        raw = getattr(data, key)
        if raw is None or (key == "dataset" and raw.startswith("hub:")):
            continue
        problem = _path_problem(loaded, ("task", "data", key), raw)
        if problem is not None:
            problems.append(problem)
    return problems


def _path_problem(loaded: LoadedSuite, loc: KeyPath, raw: str) -> SuiteProblem | None:
    """A data path must exist, stay inside the suite's folder, and be a file or a folder
    (a FIFO or a device could keep a reader waiting forever)."""
    if "\0" in raw:
        return loaded.problem(
            loc, f"path {raw!r} contains a NUL byte", "no file name can hold one: retype it"
        )
    candidate = Path(raw)
    if candidate.is_absolute() or ".." in candidate.parts:
        return loaded.problem(
            loc,
            f"path {raw!r} leaves the suite's folder",
            f"put the data inside {loaded.folder} and give a relative path",
        )
    resolved = (loaded.folder / candidate).resolve()
    if not resolved.is_relative_to(loaded.folder.resolve()):
        return loaded.problem(
            loc,
            f"path {raw!r} resolves to {resolved}, outside the suite's "
            "folder (through a symbolic link)",
            f"copy the data into {loaded.folder} instead of linking to it",
        )
    if not resolved.exists():
        return loaded.problem(
            loc, f"file not found: {resolved}", "paths are relative to the suite file's folder"
        )
    if not (resolved.is_file() or resolved.is_dir()):
        return loaded.problem(
            loc,
            f"{resolved} is neither a regular file nor a folder (a FIFO, socket or device)",
            "copy the data into a regular file",
        )
    return None


def _check_arm_data(loaded: LoadedSuite) -> list[SuiteProblem]:
    """Files the arms read (a RAG corpus): where they are, then whether they can be used."""
    problems = []
    index = {entry.name: i for i, entry in enumerate(loaded.suite.arms)}
    for config in loaded.arms:
        loc: KeyPath = ("arms", index[config.name])
        found = [
            _path_problem(loaded, (*loc, *key.split(".")), raw)
            for key, raw in config.data_paths().items()
        ]
        missing = [p for p in found if p is not None]
        problems.extend(missing)
        if missing:
            continue
        for key, message, hint in config.problems_for_data(loaded.folder):
            problems.append(loaded.problem((*loc, *key.split(".")), message, hint))
    return problems


def _check_metric(loaded: LoadedSuite) -> list[SuiteProblem]:
    """A built-in metric of the task type, or a user metric (registered, or a plugin's)."""
    primary, task_type = loaded.suite.metrics.primary, loaded.suite.task.type
    if primary is None or primary in metric_names(task_type):
        return []
    user = user_metric(primary)
    if user is not None and user.task_type == task_type:
        return []
    if user is not None:
        message = f"metric {primary!r} is for {user.task_type} tasks, not {task_type}"
        return [loaded.problem(("metrics", "primary"), message)]
    names = known_metrics(task_type)
    return [
        loaded.problem(
            ("metrics", "primary"),
            f"unknown metric {primary!r} for a {task_type} task",
            did_you_mean(primary, names) or f"known: {', '.join(names)}",
        )
    ]


def _check_quality_bars(loaded: LoadedSuite) -> list[SuiteProblem]:
    """A min_quality bar on a built-in metric (every one lies in [0, 1]) must be one an arm
    can clear: it is checked on the CI's lower bound, which never reaches 1."""
    primary = loaded.suite.primary_metric()
    if primary not in metric_names(loaded.suite.task.type):
        return []  # a user metric's range is its own
    problems = []
    for block in ("decision", "gates"):
        bar = getattr(getattr(loaded.suite, block), "min_quality", None)
        if bar is not None and not 0 <= bar < 1:
            problems.append(
                loaded.problem(
                    (block, "min_quality"),
                    f"min_quality {bar:g} is outside what {primary} can reach: it lies in "
                    "[0, 1], and the bar is checked on the CI's lower bound, which stays "
                    "below 1",
                    "give a value such as 0.85 (a share, not a percentage)",
                )
            )
    return problems


def _check_gates(loaded: LoadedSuite) -> list[SuiteProblem]:
    """Gates must name arms of this suite."""
    gates = loaded.suite.gates
    names = [a.name for a in loaded.suite.arms]
    problems = []
    for key in ("arm", "require_recommendation"):
        value = getattr(gates, key, None) if gates else None
        if value is not None and value not in names:
            problems.append(
                loaded.problem(
                    ("gates", key),
                    f"{value!r} is not an arm of this suite",
                    did_you_mean(value, names) or f"arms: {', '.join(names)}",
                )
            )
    return problems


def _check_arm_references(loaded: LoadedSuite) -> list[SuiteProblem]:
    """Arms that name other arms (start_from) must name other arms of this suite."""
    names = [a.name for a in loaded.arms]
    problems = []
    for index, config in enumerate(loaded.arms):
        for path, name in config.arm_references().items():
            if name not in names or name == config.name:
                others = [n for n in names if n != config.name]
                problems.append(
                    loaded.problem(
                        ("arms", index, *path),
                        f"{name!r} is not another arm of this suite",
                        did_you_mean(name, others) or f"arms: {', '.join(others)}",
                    )
                )
    return problems


def _check_hosted(loaded: LoadedSuite) -> list[SuiteProblem]:
    """Arms with backend: openai must name a model (on the arm or in `openai:`)."""
    from tunevsprompt.generation.endpoint import is_hosted

    default_model = loaded.suite.openai.model if loaded.suite.openai else None
    problems: list[SuiteProblem] = []
    for index, config in enumerate(loaded.arms):
        if is_hosted(config) and getattr(config, "model", None) is None and default_model is None:
            problems.append(
                loaded.problem(
                    ("arms", index, "backend"),
                    "backend: openai needs a model name",
                    "set `model` on this arm, or `openai: {model: ...}` for the suite",
                )
            )
    return problems


def _check_forgetting(loaded: LoadedSuite, load: SuiteLoader) -> list[SuiteProblem]:
    """Each probe's data can be read: built-in packages installed, files present and well
    formed, a probe suite valid with an arm that can answer it."""
    from tunevsprompt.forgetting.sources import (
        ProbeSourceError,
        builtin_available,
        read_probe_data,
    )

    config = loaded.suite.forgetting
    if config is None or not config.enabled:
        return []
    problems: list[SuiteProblem] = []
    for i, probe in enumerate(config.probes):
        loc: KeyPath = ("forgetting", "probes", i, "source")
        if probe.source.startswith("builtin:"):
            missing = builtin_available(probe.source)
            if missing is not None:
                problems.append(loaded.problem(loc, missing.message, missing.hint))
                continue
            if probe.source == "builtin:mmlu":
                continue  # 14 MB; read when the probe runs
        else:
            found = _path_problem(loaded, loc, probe.source)
            if found is not None:
                problems.append(found)
                continue
        try:
            if probe.kind == "suite":
                path = loaded.folder / probe.source
                problems.extend(_check_probe_suite(loaded, i, path, probe.arm, load))
            else:
                read_probe_data(probe, loaded.folder, loaded.suite.sampling.seed)
        except ProbeSourceError as error:
            problems.append(loaded.problem(loc, error.message, error.hint))
    return problems


def _check_probe_suite(
    loaded: LoadedSuite, index: int, path: Path, arm: str | None, load: SuiteLoader
) -> list[SuiteProblem]:

    loc: KeyPath = ("forgetting", "probes", index, "source")
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return [loaded.problem(loc, f"{path} is not a suite file", "give a .yaml suite file")]
    if path.resolve() == loaded.path:
        return [loaded.problem(loc, "a suite cannot be its own forgetting probe")]
    try:
        other = load(path)
    except SuiteError as error:
        here = loaded.problem(loc, f"the probe suite {path.name} is invalid (see below)")
        return [here, *error.problems]
    try:
        probe_suite_arm(other, arm)
    except ValueError as error:
        key = (*loc[:-1], "arm") if arm is not None else loc
        return [loaded.problem(key, str(error), PROBE_ARM_HINT)]
    return []
