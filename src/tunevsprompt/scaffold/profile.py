"""What `tvp init` learns from a data file or folder before writing a suite: where the splits
are, which fields hold the input and the target, whether the task is classification or
generation, and the labels with their counts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.task.records import DataFormatError, read_rows

SPLIT_ALIASES = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val"),
    "test": ("test", "testing"),
}
DATA_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")
INPUT_NAMES = (
    "text",
    "input",
    "question",
    "prompt",
    "sentence",
    "message",
    "query",
    "utterance",
    "content",
    "document",
    "instruction",
)
TARGET_NAMES = (
    "label",
    "labels",
    "category",
    "intent",
    "class",
    "target",
    "answer",
    "output",
    "response",
    "completion",
    "y",
)
MAX_LABELS = 200
"""More distinct targets than this is generation, whatever their share of the rows."""
LABEL_SHARE = 0.2
"""Classification when distinct targets are at most this share of the rows."""
LONG_TARGET = 60
"""Targets longer than this on average (characters) are free text: generation."""


@dataclass
class DataSource:
    """Where the rows are: files by split (``all`` when one file holds every row), or a
    saved DatasetDict folder with its split names."""

    files: dict[str, Path] = field(default_factory=dict)
    dataset: Path | None = None
    split_names: dict[str, str] = field(default_factory=dict)
    ignored: list[Path] = field(default_factory=list)
    """Files in the folder that name no split (left out)."""


@dataclass
class DataProfile:
    source: DataSource
    rows: dict[str, list[dict[str, Any]]]
    fields: list[str]
    input_field: str
    target_field: str
    task_type: str
    labels: Counter[str] | None

    @property
    def coded_labels(self) -> bool:
        """Every label is a number (a ClassLabel column, or codes): LLM arms rank label
        names, so numbers leave them nothing to go on."""
        return bool(self.labels) and all(label.lstrip("-").isdigit() for label in self.labels or {})

    @property
    def n_rows(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def has(self, split: str) -> bool:
        return split in self.rows

    def balance(self) -> str:
        if not self.labels:
            return ""
        counts = self.labels.most_common()
        return (
            f"{len(counts)} labels, {counts[-1][1]} to {counts[0][1]} examples each "
            f"(most: {counts[0][0]}, fewest: {counts[-1][0]})"
        )


def _problem(path: Path, message: str, fix: str, key: str = "") -> SuiteError:
    return SuiteError([SuiteProblem(str(path), key, message, hint=fix)])


def split_of(name: str) -> str | None:
    """The split a file or split name stands for (train.csv, banking-validation.jsonl)."""
    words = name.lower().replace("-", "_").replace(".", "_").split("_")
    for split, aliases in SPLIT_ALIASES.items():
        if any(alias in words for alias in aliases):
            return split
    return None


def find_source(path: Path) -> DataSource:
    if not path.exists():
        raise _problem(path, "no such file or folder", "give a data file or a folder of them")
    if path.is_file():
        return DataSource(files={split_of(path.stem) or "all": path})
    if (path / "dataset_dict.json").is_file():
        names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        chosen = {split_of(n): n for n in names if split_of(n)}
        if not chosen:
            raise _problem(path, f"no train/dev/test split among {names}", "rename the splits")
        return DataSource(dataset=path, split_names={k: v for k, v in chosen.items() if k})
    if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
        return DataSource(files={"all": path})
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
    if len(files) == 1:
        return DataSource(files={split_of(files[0].stem) or "all": files[0]})
    named: dict[str, Path] = {}
    for file in files:
        split = split_of(file.stem)
        if split is not None and split in named:
            raise _problem(
                path,
                f"two files for the {split} split: {named[split].name}, {file.name}",
                "keep one per split, or point at one file",
            )
        if split is not None:
            named[split] = file
    if not named:
        raise _problem(
            path,
            f"cannot tell the splits apart among {[p.name for p in files] or 'no data files'}",
            "name the files train/dev/test (e.g. train.csv, test.csv), or point at one file",
        )
    return DataSource(files=named, ignored=[p for p in files if p not in named.values()])


def read_source(source: DataSource) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    if source.dataset is not None:
        from datasets import load_from_disk

        saved = load_from_disk(str(source.dataset))
        for split, name in source.split_names.items():
            rows[split] = list(saved[name].to_list())
        return rows
    for split, path in source.files.items():
        try:
            rows[split] = read_rows(path).rows
        except (DataFormatError, OSError) as error:
            raise _problem(path, str(error), "fix the file or point at another") from error
    return rows


def _pick(fields: list[str], names: tuple[str, ...], exclude: str | None = None) -> str | None:
    lowered = {f.lower(): f for f in fields if f != exclude}
    return next((lowered[n] for n in names if n in lowered), None)


def infer_task_type(values: list[Any]) -> str:
    if not values or any(isinstance(v, (list, dict)) for v in values):
        return "generation"
    texts = [str(v) for v in values]
    distinct = len(set(texts))
    few = 2 <= distinct <= min(MAX_LABELS, max(2, LABEL_SHARE * len(texts)))
    short = mean(len(t) for t in texts) <= LONG_TARGET
    return "classification" if few and short else "generation"


def profile_data(
    path: Path,
    input_field: str | None = None,
    target_field: str | None = None,
    task_type: str | None = None,
) -> DataProfile:
    source = find_source(path)
    rows = read_source(source)
    every = [row for split_rows in rows.values() for row in split_rows]
    if not every:
        raise _problem(path, "no rows", "give a file with examples")
    fields = list(dict.fromkeys(k for row in every[:200] for k in row))
    target = target_field or _pick(fields, TARGET_NAMES)
    if target is None or target not in fields:
        raise _problem(
            path,
            f"no target field {target!r} among {fields}" if target else "no target field found",
            "name it with --target-field",
            "target_field",
        )
    text_fields = [f for f in fields if f != target and isinstance(every[0].get(f), str)]
    longest = max(
        text_fields, key=lambda f: mean(len(str(r.get(f, ""))) for r in every[:200]), default=None
    )
    chosen_input = input_field or _pick(fields, INPUT_NAMES, exclude=target) or longest
    if chosen_input not in fields or chosen_input == target:
        raise _problem(
            path,
            f"no input field {chosen_input!r} among {fields}",
            "name it with --input-field",
            "input_field",
        )
    values = [row.get(target) for row in every]
    if any(isinstance(v, (list, dict)) for v in values):
        raise _problem(
            path,
            f"the target field {target!r} holds lists or objects, not one answer per row",
            "name a field with one label or answer per row with --target-field",
            "target_field",
        )
    kind = task_type or infer_task_type(values)
    labels = Counter(str(v) for v in values) if kind == "classification" else None
    return DataProfile(source, rows, fields, chosen_input, target, kind, labels)
