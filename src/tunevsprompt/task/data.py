"""Load the task's splits from local files, carve dev, and apply the sampling caps."""

from __future__ import annotations

import functools
import os
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.suite.loader import KeyPath, LoadedSuite
from tunevsprompt.task.labels import LabelSet, labels_from_data
from tunevsprompt.task.records import (
    DataFormatError,
    Records,
    missing,
    read_records,
    read_rows,
    read_with_timeout,
    unusable_rows,
)
from tunevsprompt.task.types import Example

if TYPE_CHECKING:
    from tunevsprompt.suite.model import TaskConfig

__all__ = [
    "SPLITS",
    "DataFormatError",
    "TaskData",
    "carve_dev",
    "load_task_data",
    "read_records",
    "stratified_sample",
]

SPLITS = ("train", "dev", "test")


@dataclass
class TaskData:
    """The examples each arm may see (train, dev) and is judged on (test)."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    labels: LabelSet | None
    provenance: dict[str, Any] = field(default_factory=dict)


def _read_dataset_dict(loaded: LoadedSuite) -> dict[str, Records]:
    data = loaded.suite.task.data
    assert data.dataset is not None
    if data.dataset.startswith("hub:"):
        if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
            raise SuiteError(
                [
                    loaded.problem(
                        ("task", "data", "dataset"),
                        "a hub dataset needs the network, and HF_HUB_OFFLINE=1 is set",
                        "save the dataset with save_to_disk and point at the folder",
                    )
                ]
            )
        from datasets import load_dataset

        splits: Any = load_dataset(data.dataset.removeprefix("hub:"))
    else:
        from datasets import DatasetDict, load_from_disk

        splits = load_from_disk(str(loaded.data_path(("task", "data", "dataset"))))
        if not isinstance(splits, DatasetDict):
            raise SuiteError(
                [
                    loaded.problem(
                        ("task", "data", "dataset"),
                        "this folder holds one split, not a DatasetDict",
                        "name it in task.data.test instead",
                    )
                ]
            )
    out = {}
    for split in SPLITS:
        name = data.split_names.get(split, split)
        if name in splits:
            out[split] = Records(list(splits[name].to_list()))
    if "test" not in out:
        raise SuiteError(
            [
                loaded.problem(
                    ("task", "data", "split_names"),
                    f"no test split in the dataset (it has {', '.join(splits)})",
                )
            ]
        )
    return out


def _records_by_split(loaded: LoadedSuite) -> dict[str, Records]:
    data = loaded.suite.task.data
    if data.dataset is not None:
        return _read_dataset_dict(loaded)
    out = {}
    for split in SPLITS:
        if getattr(data, split) is None:
            continue
        loc: KeyPath = ("task", "data", split)
        path = loaded.data_path(loc)
        try:
            out[split] = read_with_timeout(functools.partial(read_rows, path))
        except (DataFormatError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise SuiteError(
                [
                    loaded.problem(
                        loc,
                        f"cannot read {path.name}: {exc}",
                        "mend the file where the message points, or export it again from "
                        "its source as UTF-8 .csv or .jsonl",
                    )
                ]
            ) from None
    return out


def _row_problems(loaded: LoadedSuite, split: str, records: Records) -> list[SuiteProblem]:
    task = loaded.suite.task
    fields = {"input_field": task.input_field, "target_field": task.target_field}
    return [
        loaded.problem(
            ("task", "data", split),
            f"the {split} split: {message}",
            f"fill in or remove those rows ({fields[key]!r} is task.{key})",
        )
        for key, message in unusable_rows(records, fields, task.type == "generation")
    ]


def _to_examples(loaded: LoadedSuite, split: str, records: Records) -> list[Example]:
    task = loaded.suite.task
    rows = records.rows
    if not rows:
        raise SuiteError([loaded.problem(("task", "data", split), f"the {split} split is empty")])
    columns = list(rows[0])
    for key in ("input_field", "target_field", "id_field"):
        name = getattr(task, key)
        if name is not None and name not in rows[0]:
            raise SuiteError(
                [
                    loaded.problem(
                        ("task", key),
                        f"the {split} split has no field {name!r}",
                        f"its fields are: {', '.join(map(str, columns))}",
                    )
                ]
            )
    problems = _row_problems(loaded, split, records)
    if problems:
        raise SuiteError(problems)
    examples = []
    for row_number, row in enumerate(rows):
        if task.id_field and missing(row.get(task.id_field)):
            raise SuiteError(
                [
                    loaded.problem(
                        ("task", "id_field"),
                        f"the {split} split, {records.where(row_number)}: no "
                        f"{task.id_field!r} value",
                    )
                ]
            )
        ident = str(row[task.id_field]) if task.id_field else f"{split}-{row_number}"
        meta = {k: v for k, v in row.items() if k not in (task.input_field, task.target_field)}
        examples.append(
            Example(ident, str(row[task.input_field]), str(row[task.target_field]), meta)
        )
    counts = Counter(e.id for e in examples)
    repeated = [ident for ident, n in counts.items() if n > 1]
    if repeated:
        shown = ", ".join(repr(ident) for ident in repeated[:5])
        raise SuiteError(
            [
                loaded.problem(
                    ("task", "id_field"),
                    f"{len(repeated)} ids appear more than once in the {split} split ({shown})",
                    "give each row its own id, or drop id_field to number the rows",
                )
            ]
        )
    if split == "test":
        _check_clusters(loaded, rows, columns)
        _check_slices(loaded, rows, columns)
    return examples


def _check_slices(loaded: LoadedSuite, rows: list[dict[str, Any]], columns: list[Any]) -> None:
    """Every slice field is a field of the test split (a row without a value falls in the
    slice "(none)")."""
    task = loaded.suite.task
    own = {task.input_field, task.target_field}
    problems = [
        loaded.problem(
            ("slices", i),
            f"the test split has no field {name!r}",
            f"its fields are: {', '.join(map(str, columns))}",
        )
        for i, name in enumerate(loaded.suite.slices)
        if name not in own and not any(name in row for row in rows)
    ]
    if problems:
        raise SuiteError(problems)


def _check_clusters(loaded: LoadedSuite, rows: list[dict[str, Any]], columns: list[Any]) -> None:
    """Every test example needs a value of the cluster field."""
    name = loaded.suite.metrics.cluster_field
    if name is None:
        return
    missing = [i for i, row in enumerate(rows) if row.get(name) in (None, "")]
    distinct = {str(row.get(name)) for row in rows}
    if name not in rows[0] or missing or len(distinct) < 2:
        if name not in rows[0]:
            where = f"the test split has no field {name!r}"
        elif missing:
            where = f"test rows {', '.join(str(i + 1) for i in missing[:5])} have no {name!r} value"
        else:
            where = (
                f"every test example has the same {name!r}: one cluster leaves nothing to "
                "estimate the spread between clusters from"
            )
        raise SuiteError(
            [
                loaded.problem(
                    ("metrics", "cluster_field"),
                    where,
                    f"its fields are: {', '.join(map(str, columns))}",
                )
            ]
        )


def example_cluster(example: Example, task: TaskConfig, field: str | None) -> str | None:
    """The example's value of the cluster field (None without one)."""
    if field is None:
        return None
    if field == task.target_field:
        return example.target
    if field == task.input_field:
        return example.input
    value = example.meta.get(field)
    return None if value is None else str(value)


def carve_dev(
    train: list[Example], fraction: float, seed: int, stratify: bool
) -> tuple[list[Example], list[Example]]:
    """Split dev off train, per label when stratifying, deterministically for a seed."""
    rng = random.Random(f"{seed}-carve-dev")
    dev_ids: set[str] = set()
    for group in groups_by_label(train, stratify).values():
        shuffled = sorted(group, key=lambda e: e.id)
        rng.shuffle(shuffled)
        take = round(len(shuffled) * fraction) if len(shuffled) > 1 else 0
        dev_ids.update(e.id for e in shuffled[:take])
    return [e for e in train if e.id not in dev_ids], [e for e in train if e.id in dev_ids]


def groups_by_label(examples: Sequence[Example], stratify: bool) -> dict[str, list[Example]]:
    """Examples by target, in input order (one group of all of them without ``stratify``)."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example.target if stratify else ""].append(example)
    return groups


def stratified_sample(
    examples: Sequence[Example],
    per_class: int | None,
    total: int | None,
    seed: int,
    key: str,
    stratify: bool,
) -> list[Example]:
    """Deterministic stratified caps: at most ``per_class`` per label, then at most ``total``
    taken round-robin over labels. The result keeps the input order."""
    if per_class is None and total is None:
        return list(examples)
    rng = random.Random(f"{seed}-{key}")
    groups = []
    for _label, group in sorted(groups_by_label(examples, stratify).items()):
        shuffled = list(group)
        rng.shuffle(shuffled)
        groups.append(shuffled[:per_class] if per_class else shuffled)
    if total is not None:
        rng.shuffle(groups)
        chosen: list[Example] = []
        depth = 0
        while len(chosen) < total and any(depth < len(g) for g in groups):
            chosen.extend(g[depth] for g in groups if depth < len(g))
            depth += 1
        groups = [chosen[:total]]
    keep = {e.id for g in groups for e in g}
    return [e for e in examples if e.id in keep]


def load_task_data(
    loaded: LoadedSuite, limit: int | None = None, train_limit: int | None = None
) -> TaskData:
    """All splits as Examples, with caps from the suite and the CLI's --limit/--train-limit."""
    suite = loaded.suite
    stratify = suite.task.type == "classification"
    records = _records_by_split(loaded)
    if "train" not in records:
        raise SuiteError(
            [
                loaded.problem(
                    ("task", "data"),
                    "no train split",
                    "arms need train examples (demonstrations, tuning)",
                )
            ]
        )
    split = {name: _to_examples(loaded, name, found) for name, found in records.items()}
    provenance: dict[str, Any] = {"sizes": {name: len(v) for name, v in split.items()}}
    if "dev" not in split:
        split["train"], split["dev"] = carve_dev(
            split["train"], suite.task.data.dev_fraction, suite.sampling.seed, stratify
        )
        provenance["dev"] = (
            f"carved from train ({suite.task.data.dev_fraction:.0%}, seed {suite.sampling.seed})"
        )
    else:
        provenance["dev"] = "from the data"
    labels = _label_set(loaded, split) if stratify else None
    s = suite.sampling
    # --limit / --train-limit replace the suite's caps for that split: "--limit 200" means 200
    # examples (stratified), even where the suite caps the test split at 1 per class.
    caps = {
        "train": (None, train_limit) if train_limit else (s.train_per_class, s.train_max),
        "dev": (s.dev_per_class, s.dev_max),
        "test": (None, limit) if limit else (s.test_per_class, s.test_max),
    }
    sampled = {
        name: stratified_sample(split[name], *caps[name], seed=s.seed, key=name, stratify=stratify)
        for name in SPLITS
    }
    provenance["sampled"] = {name: len(v) for name, v in sampled.items()}
    return TaskData(sampled["train"], sampled["dev"], sampled["test"], labels, provenance)


def _label_set(loaded: LoadedSuite, split: dict[str, list[Example]]) -> LabelSet:
    seen = labels_from_data([e.target for examples in split.values() for e in examples])
    given = loaded.suite.task.labels
    if given is None:
        return LabelSet(seen)
    unknown = sorted(set(seen) - set(given))
    if unknown:
        raise SuiteError(
            [
                loaded.problem(
                    ("task", "labels"),
                    f"the data has labels not in task.labels: {', '.join(unknown[:10])}",
                    "add them, or drop task.labels to take the label set from the data",
                )
            ]
        )
    return LabelSet(list(given))
