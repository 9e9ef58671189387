"""Reading a finished run folder: the only input of `tvp report` and `tvp gate`. results.json
is validated against its model (``runfolder.results``) before anything reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunevsprompt.runfolder.results import Results, describe_errors, parse_results
from tunevsprompt.runfolder.versions import RESULTS_SCHEMA_VERSION


class RunFolderError(Exception):
    """The folder is not a readable run folder (exit 2)."""


def load_results(run_dir: Path) -> Results:
    """results.json of a run folder, typed, or an error that says what is wrong and what to
    do."""
    return _read(run_dir)[0]


def load_results_dict(run_dir: Path) -> dict[str, Any]:
    """results.json as the plain dict the decision code works on, validated like
    ``load_results`` (a valid file's dict is exactly the model's dump)."""
    return _read(run_dir)[1]


def _read(run_dir: Path) -> tuple[Results, dict[str, Any]]:
    path = run_dir / "results.json"
    if not path.is_file():
        raise RunFolderError(f"{path} not found: is {run_dir} a run folder of `tvp compare`?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{path} is not valid JSON ({exc}): rerun `tvp compare`") from exc
    if not isinstance(data, dict):
        raise RunFolderError(
            f"{path} holds a JSON {type(data).__name__}, not an object: it is not a tvp "
            "results file (rerun `tvp compare` to write one)"
        )
    try:
        return parse_results(data), data
    except ValidationError as exc:
        raise RunFolderError(_invalid(path, data, exc)) from exc


def _invalid(path: Path, data: dict[str, Any], exc: ValidationError) -> str:
    """What is wrong (key paths), and what to do, whoever wrote the file."""
    problems = describe_errors(exc)
    version = data.get("schema_version")
    if "arms" not in data or version is None:
        return (
            f"{path} is not a tvp results file ({problems}): point `tvp` at the folder "
            "`tvp compare` wrote, or rerun `tvp compare`"
        )
    if _newer(version):
        return (
            f"{path} was written by a newer tvp (schema_version {version}; this tvp reads up to "
            f"{RESULTS_SCHEMA_VERSION}): {problems}. Upgrade tunevsprompt to read it"
        )
    return (
        f"{path} does not match results.json's schema {version}: {problems}. Restore the file "
        "as `tvp compare` wrote it, or rerun `tvp compare` into this folder"
    )


def _newer(version: object) -> bool:
    """A schema version above this tvp's (e.g. 2.1 or 3.0 read by a tvp that writes 2.0)."""

    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split("."))

    try:
        return parts(str(version)) > parts(RESULTS_SCHEMA_VERSION)
    except ValueError:
        return False


def read_samples(run_dir: Path, name: str = "samples.jsonl") -> list[dict[str, Any]]:
    """samples.jsonl rows, or another JSON-lines file's (empty when the file is absent)."""
    path = run_dir / name
    if not path.exists():
        return []
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except json.JSONDecodeError as exc:
        raise RunFolderError(
            f"{path} is not valid JSON lines ({exc}): rerun `tvp compare`"
        ) from exc
