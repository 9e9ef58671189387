"""Load the task's splits from local files, carve dev, and apply the sampling caps."""

from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunevsprompt.errors import SuiteError
from tunevsprompt.suite.loader import KeyPath, LoadedSuite
from tunevsprompt.task.labels import LabelSet, labels_from_data
from tunevsprompt.task.types import Example

if TYPE_CHECKING:
    from tunevsprompt.suite.model import TaskConfig

SPLITS = ("train", "dev", "test")


@dataclass
class TaskData:
    """The examples each arm may see (train, dev) and is judged on (test)."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    labels: LabelSet | None
    provenance: dict[str, Any] = field(default_factory=dict)


class DataFormatError(ValueError):
    pass


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl/.json, .csv, .parquet file or a `datasets` save_to_disk folder."""
    if path.is_dir():
        return _read_saved_dataset(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _read_json(path)
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows
    raise DataFormatError(
        f"unsupported file type {suffix!r}; use .jsonl, .json, .csv, .parquet or a "
        "datasets save_to_disk folder"
    )


def _read_json(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        rows = json.loads(text)
        if not all(isinstance(r, dict) for r in rows):
            raise DataFormatError("a .json file must hold a list of objects")
        return list(rows)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"line {number} is not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DataFormatError(f"line {number} is not a JSON object")
        rows.append(row)
    return rows


def _read_saved_dataset(path: Path) -> list[dict[str, Any]]:
    from datasets import Dataset, load_from_disk

    loaded = load_from_disk(str(path))
    if not isinstance(loaded, Dataset):
        raise DataFormatError(
            "this folder holds several splits (a DatasetDict): name it in task.data.dataset instead"
        )
    return list(loaded.to_list())


def _read_dataset_dict(loaded: LoadedSuite) -> dict[str, list[dict[str, Any]]]:
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
            out[split] = list(splits[name].to_list())
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


def _records_by_split(loaded: LoadedSuite) -> dict[str, list[dict[str, Any]]]:
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
            out[split] = read_records(path)
        except (DataFormatError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise SuiteError([loaded.problem(loc, f"cannot read {path.name}: {exc}")]) from None
    return out


def _to_examples(loaded: LoadedSuite, split: str, rows: list[dict[str, Any]]) -> list[Example]:
    task = loaded.suite.task
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
    examples = []
    for row_number, row in enumerate(rows):
        ident = str(row[task.id_field]) if task.id_field else f"{split}-{row_number}"
        meta = {k: v for k, v in row.items() if k not in (task.input_field, task.target_field)}
        examples.append(
            Example(ident, str(row[task.input_field]), str(row[task.target_field]), meta)
        )
    if len({e.id for e in examples}) < len(examples):
        raise SuiteError(
            [loaded.problem(("task", "id_field"), f"ids in the {split} split are not unique")]
        )
    if split == "test":
        _check_clusters(loaded, rows, columns)
    return examples


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
    split = {name: _to_examples(loaded, name, rows) for name, rows in records.items()}
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
