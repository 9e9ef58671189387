"""Reading a finished run folder: the only input of `tvp report` and `tvp gate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RunFolderError(Exception):
    """The folder is not a readable run folder (exit 2)."""


def load_results(run_dir: Path) -> dict[str, Any]:
    """results.json of a run folder, or an error that says what is wrong and what to do."""
    path = run_dir / "results.json"
    if not path.is_file():
        raise RunFolderError(f"{path} not found: is {run_dir} a run folder of `tvp compare`?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path} is not valid JSON ({exc}): rerun `tvp compare`") from exc
    if not isinstance(data, dict) or not isinstance(data.get("arms"), dict):
        raise RunFolderError(f"{path} has no `arms` object: it is not a tvp results file")
    return data


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
