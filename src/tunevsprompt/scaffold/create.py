"""`tvp init` as a library call: profile the data, settle each inferred answer (asking on a
terminal), split off a test set when there is none, write the suite and validate it. The
suite file appears only once it validates; nothing half-written is left behind."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.runfolder.store import write_text_atomic
from tunevsprompt.scaffold.profile import DataProfile, DataSource, find_source, profile_data
from tunevsprompt.scaffold.split import TEST_SHARE, propose_split, write_splits
from tunevsprompt.scaffold.suite_text import (
    SuitePlan,
    default_instruction,
    render_suite,
    suite_name,
)


class Asker(Protocol):
    """How inferred answers are settled: a terminal asks, a script takes the defaults."""

    def choose(self, question: str, choices: list[str], default: str) -> str: ...
    def confirm(self, question: str, default: bool) -> bool: ...
    def say(self, text: str) -> None: ...


@dataclass
class InitRequest:
    data: Path
    out: Path | None = None
    input_field: str | None = None
    target_field: str | None = None
    task_type: str | None = None
    name: str | None = None
    instruction: str | None = None
    gpu: bool | None = None
    force: bool = False


def _error(path: Path, message: str, hint: str) -> SuiteError:
    return SuiteError([SuiteProblem(str(path), "", message, hint=hint)])


def default_out(data: Path, source: DataSource) -> Path:
    if data.is_file():
        return data.parent / "suite.yaml"
    saved = source.dataset is not None or source.files.get("all") == data
    return (data.parent if saved else data) / "suite.yaml"


def _settle(profile: DataProfile, request: InitRequest, asker: Asker) -> DataProfile:
    """Ask about the fields and the task type (a changed answer re-profiles the data)."""
    target = asker.choose("Target field (the answer)", profile.fields, profile.target_field)
    inputs = [f for f in profile.fields if f != target]
    default_input = profile.input_field if profile.input_field in inputs else inputs[0]
    chosen = asker.choose("Input field (what the model reads)", inputs, default_input)
    if (chosen, target) != (profile.input_field, profile.target_field):
        profile = profile_data(request.data, chosen, target, request.task_type)
    kinds = ["classification", "generation"]
    kind = asker.choose("Task type", kinds, profile.task_type)
    if kind != profile.task_type:
        profile = profile_data(request.data, chosen, target, kind)
    return profile


def _relative(path: Path, folder: Path, out: Path) -> str:
    relative = os.path.relpath(path.resolve(), folder.resolve())
    if relative.startswith(".."):
        raise _error(
            path,
            f"the data is outside the suite's folder {folder}",
            f"write the suite beside the data: --out {path.parent / out.name}",
        )
    return Path(relative).as_posix()


def _has_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def create_suite(request: InitRequest, asker: Asker) -> Path:
    source = find_source(request.data)
    out = request.out or default_out(request.data, source)
    if out.exists() and not request.force:
        raise _error(out, "the suite file exists", "pass --force to overwrite it, or --out")
    profile = profile_data(
        request.data, request.input_field, request.target_field, request.task_type
    )
    splits = [s for s in profile.rows if s != "all"]
    where = f" in splits {', '.join(splits)}" if splits else " (no splits)"
    asker.say(f"{request.data}: {profile.n_rows} rows{where}; fields {', '.join(profile.fields)}")
    if source.ignored:
        asker.say(f"left out (no split in the name): {', '.join(p.name for p in source.ignored)}")
    profile = _settle(profile, request, asker)
    labels = f"; {profile.balance()}" if profile.labels else ""
    asker.say(
        f"input {profile.input_field!r}, target {profile.target_field!r}, "
        f"{profile.task_type}{labels}"
    )
    if profile.coded_labels:
        asker.say(
            "warning: the labels are numbers; the LLM arms rank label names, so give them "
            "names (a text column) for those arms to have a chance"
        )
    folder = out.parent
    name = suite_name(request.name or (out.stem if request.out else request.data.stem))
    plan = SuitePlan(
        name,
        {},
        None,
        {},
        _has_gpu() if request.gpu is None else request.gpu,
        request.instruction or default_instruction(profile),
    )
    if "test" in profile.rows:
        if profile.source.dataset is not None:
            plan.dataset = _relative(profile.source.dataset, folder, out)
            plan.split_names = profile.source.split_names
        else:
            plan.files = {k: _relative(p, folder, out) for k, p in profile.source.files.items()}
        _write_validated(out, render_suite(profile, plan), None)
        return out
    question = (
        f"No test split: hold out {TEST_SHARE:.0%} of the rows, seeded"
        + (" and stratified by label" if profile.labels else "")
        + f", into {folder / (name + '-splits')}/?"
    )
    if not asker.confirm(question, True):
        raise _error(request.data, "no test split", "give a test file, or accept the split")
    final = folder / f"{name}-splits"
    if final.exists() and not request.force:
        raise _error(final, "the split folder exists", "pass --force to replace it, or --name")
    rows = profile.rows.get("all") or profile.rows.get("train") or []
    proposed = propose_split(rows, profile.target_field if profile.labels else None)
    if "dev" in profile.rows:
        proposed["dev"] = profile.rows["dev"]
    staging = folder / f".{name}-splits.tmp"
    _write_with_splits(out, profile, plan, proposed, staging, final)
    return out


def _write_with_splits(
    out: Path,
    profile: DataProfile,
    plan: SuitePlan,
    splits: dict[str, list[dict[str, Any]]],
    staging: Path,
    final: Path,
) -> None:
    """Write the split files into a staging folder, validate the suite against them, then
    move both into place; on a problem remove everything this call wrote."""
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    moved = False
    try:
        write_splits(staging, splits)
        plan.files = {split: f"{staging.name}/{split}.jsonl" for split in splits}
        _write_validated(out, render_suite(profile, plan), out.with_name(f".{out.name}.check"))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        moved = True
        plan.files = {split: f"{final.name}/{split}.jsonl" for split in splits}
        write_text_atomic(out, render_suite(profile, plan))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if moved:
            shutil.rmtree(final, ignore_errors=True)
        for folder in created:  # deepest first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _write_validated(out: Path, text: str, check_only: Path | None) -> None:
    """Write ``text`` beside ``out``, validate it (schema and the data checks of `tvp
    validate`), then rename it to ``out``; with ``check_only``, validate under that name
    and remove it. On a problem nothing of it is left, and the problem is raised."""
    from tunevsprompt.suite.loader import load_suite
    from tunevsprompt.task.data import load_task_data
    from tunevsprompt.task.data_checks import check_task_data

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = check_only or out.with_name(f".{out.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    try:
        loaded = load_suite(staging)
        findings = check_task_data(loaded, load_task_data(loaded))
        if findings.problems:
            raise SuiteError(findings.problems)
        if check_only is None:
            os.replace(staging, out)
    finally:
        staging.unlink(missing_ok=True)
