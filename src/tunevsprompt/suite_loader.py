"""Load a suite file: YAML → pydantic, with file:line, key paths and did-you-mean on errors."""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.arms.registry import UnknownArmType, get_arm_config_model
from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.metrics import metric_names
from tunevsprompt.suite import Suite, arm_params

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedSuite:
    """A validated suite plus what is needed to point at its lines in later errors."""

    suite: Suite
    path: Path
    arms: list[ArmConfig]
    lines: dict[KeyPath, int]
    sha256: str
    shown_path: str
    """The suite path as the user gave it, for messages."""

    @property
    def folder(self) -> Path:
        return self.path.parent

    def problem(self, loc: KeyPath, message: str, hint: str | None = None) -> SuiteProblem:
        return SuiteProblem(
            self.shown_path, format_key_path(loc), message, _line_for(self.lines, loc), hint
        )

    def data_path(self, loc: KeyPath) -> Path:
        """The resolved path of a data key (checked at load time to stay inside the folder)."""
        raw: Any = self.suite
        for part in loc:
            raw = getattr(raw, str(part))
        return (self.folder / str(raw)).resolve()

    def require_gated_arms(self, names: list[str]) -> None:
        """The arms the suite's gates name must be among those run (checked before running,
        so a complete run never ends in a usage error)."""
        gates = self.suite.gates
        problems = []
        for key in ("arm", "require_recommendation"):
            gated = getattr(gates, key, None) if gates else None
            if gated is not None and gated not in names:
                problems.append(
                    self.problem(
                        ("gates", key),
                        f"the gates need arm {gated!r}, which --arms leaves out",
                        f"add {gated} to --arms, or pass --no-gate",
                    )
                )
        if problems:
            raise SuiteError(problems)

    def select_arms(self, names: list[str]) -> LoadedSuite:
        """Only the named arms, in the given order (the CLI's --arms)."""
        known = {a.name: a for a in self.arms}
        problems = [
            SuiteProblem(
                self.shown_path,
                "arms",
                f"--arms names {n!r}, which is not an arm of this suite",
                None,
                _did_you_mean(n, list(known)) or f"arms here: {', '.join(known)}",
            )
            for n in names
            if n not in known
        ]
        if problems:
            raise SuiteError(problems)
        return LoadedSuite(
            self.suite,
            self.path,
            [known[n] for n in names],
            self.lines,
            self.sha256,
            self.shown_path,
        )


def format_key_path(loc: KeyPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_suite(path: str | Path, *, check_probes: bool = True) -> LoadedSuite:
    """Parse and validate a suite file, including its arms and data paths. Loads no model.

    ``check_probes=False`` loads a suite used as another suite's forgetting probe: its own
    forgetting block is not used, so it is not followed (no probe cycles)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(
            [SuiteProblem(str(file), "", f"cannot read the suite file: {exc}")]
        ) from None
    raw, lines = _parse_yaml(text, str(file))
    if not isinstance(raw, dict):
        raise SuiteError(
            [
                SuiteProblem(
                    str(file),
                    "",
                    "a suite file must be a YAML mapping (keys such as name, task, model, arms)",
                    1,
                )
            ]
        )
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise SuiteError(_problems_from(exc, str(file), lines, Suite, ())) from None
    arms = _validate_arms(suite, raw, str(file), lines)
    loaded = LoadedSuite(
        suite, file.resolve(), arms, lines, hashlib.sha256(text.encode()).hexdigest(), str(file)
    )
    problems = (
        _check_paths(loaded)
        + _check_arm_data(loaded)
        + _check_metric(loaded)
        + _check_gates(loaded)
        + _check_hosted(loaded)
    )
    if check_probes:
        problems += _check_forgetting(loaded)
    if problems:
        raise SuiteError(problems)
    return loaded


def _parse_yaml(text: str, file: str) -> tuple[Any, dict[KeyPath, int]]:
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError([SuiteProblem(file, "", f"not valid YAML: {problem}", line)]) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise SuiteError([SuiteProblem(file, "", f"not valid YAML: {exc}")]) from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return raw, lines


def _index_lines(node: yaml.Node, loc: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*loc, str(key_node.value))
                lines[child] = key_node.start_mark.line + 1
                _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*loc, i), lines)


def _line_for(lines: dict[KeyPath, int], loc: KeyPath) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _did_you_mean(word: str, options: list[str]) -> str | None:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def _model_at(model: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """The pydantic model that owns the keys at ``loc`` (for did-you-mean on unknown keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _problems_from(
    exc: ValidationError,
    file: str,
    lines: dict[KeyPath, int],
    model: type[BaseModel],
    prefix: KeyPath,
) -> list[SuiteProblem]:
    problems = []
    for err in exc.errors():
        loc: KeyPath = (*prefix, *(p for p in err["loc"] if isinstance(p, (str, int))))
        rel = loc[len(prefix) :]
        kind, hint = err["type"], None
        if kind == "extra_forbidden":
            owner = _model_at(model, rel[:-1])
            allowed = list(owner.model_fields) if owner else []
            message = "unknown key"
            hint = _did_you_mean(str(rel[-1]), allowed) or (
                f"allowed keys here: {', '.join(allowed)}" if allowed else None
            )
        elif kind == "missing":
            message = "required key is missing"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"expected one of {expected}, got {err.get('input')!r}"
            options = [o.strip(" '") for o in str(expected).replace(" or ", ",").split(",")]
            hint = _did_you_mean(str(err.get("input")), [o for o in options if o])
        else:
            message = (
                f"{err['msg']} (got {err.get('input')!r})"
                if "input" in err and kind != "value_error"
                else err["msg"]
            )
        problems.append(
            SuiteProblem(file, format_key_path(loc), message, _line_for(lines, loc), hint)
        )
    return problems


def _validate_arms(
    suite: Suite, raw: dict[str, Any], file: str, lines: dict[KeyPath, int]
) -> list[ArmConfig]:
    arms: list[ArmConfig] = []
    problems: list[SuiteProblem] = []
    for i, entry in enumerate(suite.arms):
        loc: KeyPath = ("arms", i)
        try:
            config_model = get_arm_config_model(entry.type)
        except UnknownArmType as unknown:
            problems.append(
                SuiteProblem(
                    file,
                    format_key_path((*loc, "type")),
                    f"unknown arm type {entry.type!r}",
                    _line_for(lines, (*loc, "type")),
                    (f"did you mean {unknown.suggestion!r}? " if unknown.suggestion else "")
                    + f"known types: {', '.join(unknown.known)}",
                )
            )
            continue
        try:
            config = config_model.model_validate(
                {"name": entry.name, "type": entry.type, **arm_params(entry)}
            )
        except ValidationError as exc:
            problems.extend(_problems_from(exc, file, lines, config_model, loc))
            continue
        for key, message in config.problems_for_task(suite.task.type):
            where: KeyPath = (*loc, *key.split("."))
            problems.append(
                SuiteProblem(file, format_key_path(where), message, _line_for(lines, where))
            )
        arms.append(config)
    if problems:
        raise SuiteError(problems)
    return arms


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
    """A data path must exist and stay inside the suite's folder."""
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
    primary = loaded.suite.metrics.primary
    names = metric_names(loaded.suite.task.type)
    if primary is None or primary in names:
        return []
    return [
        loaded.problem(
            ("metrics", "primary"),
            f"unknown metric {primary!r} for a {loaded.suite.task.type} task",
            _did_you_mean(primary, names) or f"known: {', '.join(names)}",
        )
    ]


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
                    _did_you_mean(value, names) or f"arms: {', '.join(names)}",
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


def _check_forgetting(loaded: LoadedSuite) -> list[SuiteProblem]:
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
                problems.extend(_check_probe_suite(loaded, i, path, probe.arm))
            else:
                read_probe_data(probe, loaded.folder, loaded.suite.sampling.seed)
        except ProbeSourceError as error:
            problems.append(loaded.problem(loc, error.message, error.hint))
    return problems


def _check_probe_suite(
    loaded: LoadedSuite, index: int, path: Path, arm: str | None
) -> list[SuiteProblem]:
    from tunevsprompt.forgetting.measure import PROBE_ARM_HINT, probe_suite_arm

    loc: KeyPath = ("forgetting", "probes", index, "source")
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return [loaded.problem(loc, f"{path} is not a suite file", "give a .yaml suite file")]
    if path.resolve() == loaded.path:
        return [loaded.problem(loc, "a suite cannot be its own forgetting probe")]
    try:
        other = load_suite(path, check_probes=False)
    except SuiteError as error:
        here = loaded.problem(loc, f"the probe suite {path.name} is invalid (see below)")
        return [here, *error.problems]
    try:
        probe_suite_arm(other, arm)
    except ValueError as error:
        key = (*loc[:-1], "arm") if arm is not None else loc
        return [loaded.problem(key, str(error), PROBE_ARM_HINT)]
    return []
