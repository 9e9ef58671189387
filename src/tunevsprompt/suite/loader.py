"""Load a suite file: YAML → pydantic, with file:line, key paths and did-you-mean on errors,
then the cross-checks (``checks``)."""

from __future__ import annotations

import hashlib
import reprlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tunevsprompt.arms.base import ArmConfig
from tunevsprompt.arms.registry import UnknownArmType, get_arm_config_model
from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.suite.checks import cross_checks
from tunevsprompt.suite.loaded import LoadedSuite
from tunevsprompt.suite.model import Suite, arm_params
from tunevsprompt.suite.yaml_lines import (
    KeyPath,
    did_you_mean,
    format_key_path,
    line_for,
    model_at,
)
from tunevsprompt.suite.yaml_reading import parse_yaml

__all__ = ["KeyPath", "LoadedSuite", "format_key_path", "load_suite"]


def load_suite(path: str | Path, *, check_probes: bool = True) -> LoadedSuite:
    """Parse and validate a suite file, including its arms and data paths. Loads no model.

    ``check_probes=False`` loads a suite used as another suite's forgetting probe: its own
    forgetting block is not used, so it is not followed (no probe cycles)."""
    file = Path(path)
    data = read_suite_bytes(file)
    raw, lines = parse_yaml(_decode(data, file), str(file))
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
        suite, file.resolve(), arms, lines, hashlib.sha256(data).hexdigest(), str(file)
    )
    problems = cross_checks(loaded, _probe_loader if check_probes else None)
    if problems:
        raise SuiteError(problems)
    return loaded


MAX_SUITE_BYTES = 1 << 20
"""A suite file is a few kilobytes; anything above a mebibyte is not one."""


def read_suite_bytes(file: Path) -> bytes:
    """The suite file's bytes (hashed as they are, for the manifest): a regular file (a
    FIFO would block the read), at most ``MAX_SUITE_BYTES``, no NUL byte."""

    def problem(message: str, hint: str | None = None) -> SuiteError:
        return SuiteError([SuiteProblem(str(file), "", message, None, hint)])

    if "\0" in str(file):
        raise problem("the path contains a NUL byte", "no file name can hold one: retype it")
    try:
        if not file.is_file():
            kind = "does not exist" if not file.exists() else "is not a regular file"
            raise problem(f"the suite file {kind}", "give the path of a .yaml suite file")
        with file.open("rb") as handle:
            data = handle.read(MAX_SUITE_BYTES + 1)
    except OSError as exc:
        raise problem(f"cannot read the suite file: {exc.strerror or exc}") from None
    if len(data) > MAX_SUITE_BYTES:
        raise problem(
            f"the file is larger than {MAX_SUITE_BYTES // 1024} KiB: it is not a suite file",
            "put the data in the files task.data names, not in the suite",
        )
    if b"\0" in data:
        raise problem("the file holds NUL bytes: it is not a text file")
    return data


def _decode(data: bytes, file: Path) -> str:
    """UTF-8 text, a byte-order mark dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SuiteError(
            [
                SuiteProblem(
                    str(file),
                    "",
                    f"not UTF-8 text (byte {exc.start}: {exc.reason})",
                    line,
                    "save the file as UTF-8",
                )
            ]
        ) from None


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
            owner = model_at(model, rel[:-1])
            allowed = list(owner.model_fields) if owner else []
            message = "unknown key"
            hint = did_you_mean(str(rel[-1]), allowed) or (
                f"allowed keys here: {', '.join(allowed)}" if allowed else None
            )
        elif kind == "missing":
            message = "required key is missing"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"expected one of {expected}, got {err.get('input')!r}"
            options = [o.strip(" '") for o in str(expected).replace(" or ", ",").split(",")]
            hint = did_you_mean(str(err.get("input")), [o for o in options if o])
        else:
            message = (
                f"{err['msg']} (got {_shown_input(err.get('input'))})"
                if "input" in err and kind != "value_error"
                else err["msg"].removeprefix("Value error, ")
            )
        problems.append(
            SuiteProblem(file, format_key_path(loc), message, line_for(lines, loc), hint)
        )
    return problems


def _shown_input(value: Any, most: int = 120) -> str:
    """A value as a message shows it: its repr, each string in it cut to ``most``
    characters and each list to its first few items."""
    shorter = reprlib.Repr()
    shorter.maxstring = shorter.maxother = most
    return shorter.repr(value)


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
                    line_for(lines, (*loc, "type")),
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
                SuiteProblem(file, format_key_path(where), message, line_for(lines, where))
            )
        arms.append(config)
    if problems:
        raise SuiteError(problems)
    return arms


def _probe_loader(path: Path) -> LoadedSuite:
    return load_suite(path, check_probes=False)
