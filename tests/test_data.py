"""Loaders for each format, dev carving, deterministic stratified caps, contamination."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tunevsprompt.errors import SuiteError
from tunevsprompt.measure.contamination import overlap
from tunevsprompt.suite.loader import load_suite
from tunevsprompt.task.data import carve_dev, load_task_data, read_records, stratified_sample
from tunevsprompt.task.types import Example

ROWS = [
    {"q": f"question number {i} about topic {i % 3}", "a": f"label{i % 3}", "uid": f"u{i}"}
    for i in range(30)
]


def _suite(folder: Path, data_block: str, extra: str = "") -> Path:
    path = folder / "suite.yaml"
    path.write_text(f"""\
name: formats
task:
  type: classification
  data:
{data_block}
  input_field: q
  target_field: a
  id_field: uid
  instruction: classify
arms:
  - name: zs
    type: zero-shot
{extra}""")
    return path


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "disk"])
def test_each_format_loads_the_same_examples(tmp_path: Path, fmt: str) -> None:
    train, test = ROWS[:20], ROWS[20:]
    for name, rows in (("train", train), ("test", test)):
        if fmt == "jsonl":
            _write_jsonl(tmp_path / f"{name}.jsonl", rows)
        elif fmt == "csv":
            import csv

            with (tmp_path / f"{name}.csv").open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=["q", "a", "uid"])
                writer.writeheader()
                writer.writerows(rows)
        elif fmt == "parquet":
            pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"{name}.parquet")
        else:
            from datasets import Dataset

            Dataset.from_list(rows).save_to_disk(str(tmp_path / name))
    suffix = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet", "disk": ""}[fmt]
    loaded = load_suite(_suite(tmp_path, f"    train: train{suffix}\n    test: test{suffix}"))
    data = load_task_data(loaded)
    assert [e.id for e in data.test] == [r["uid"] for r in test]
    assert data.test[0].input == test[0]["q"] and data.test[0].target == test[0]["a"]
    assert len(data.train) + len(data.dev) == 20
    assert data.labels is not None and data.labels.labels == ["label0", "label1", "label2"]


def test_dataset_dict_folder_with_named_splits(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {
            "train": Dataset.from_list(ROWS[:20]),
            "validation": Dataset.from_list(ROWS[20:25]),
            "test": Dataset.from_list(ROWS[25:]),
        }
    ).save_to_disk(str(tmp_path / "dd"))
    data = load_task_data(load_suite(_suite(tmp_path, "    dataset: dd")))
    assert (len(data.train), len(data.dev), len(data.test)) == (20, 5, 5)
    assert data.provenance["dev"] == "from the data"


def test_bad_jsonl_line_is_a_suite_error(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"q": "x", "a": "y", "uid": "1"}\nnot json\n')
    _write_jsonl(tmp_path / "test.jsonl", ROWS[:3])
    with pytest.raises(SuiteError) as err:
        load_task_data(load_suite(_suite(tmp_path, "    train: train.jsonl\n    test: test.jsonl")))
    assert "task.data.train" in str(err.value) and "line 2" in str(err.value)


def test_given_labels_must_cover_the_data(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "train.jsonl", ROWS[:20])
    _write_jsonl(tmp_path / "test.jsonl", ROWS[20:])
    path = _suite(tmp_path, "    train: train.jsonl\n    test: test.jsonl")
    path.write_text(
        path.read_text().replace(
            "  instruction: classify", "  instruction: classify\n  labels: [label0]"
        )
    )
    with pytest.raises(SuiteError) as err:
        load_task_data(load_suite(path))
    assert "task.labels" in str(err.value) and "label1" in str(err.value)


def _examples(n: int, classes: int) -> list[Example]:
    return [Example(f"e{i}", f"text {i}", f"c{i % classes}") for i in range(n)]


def test_stratified_caps_are_deterministic_and_balanced() -> None:
    examples = _examples(200, 7)
    first = stratified_sample(examples, 5, None, seed=3, key="test", stratify=True)
    again = stratified_sample(examples, 5, None, seed=3, key="test", stratify=True)
    other = stratified_sample(examples, 5, None, seed=4, key="test", stratify=True)
    assert first == again and first != other
    assert set(Counter(e.target for e in first).values()) == {5}
    limited = stratified_sample(examples, None, 20, seed=3, key="test", stratify=True)
    counts = Counter(e.target for e in limited)
    assert len(limited) == 20 and max(counts.values()) - min(counts.values()) <= 1
    positions = [examples.index(e) for e in limited]
    assert positions == sorted(positions)


def test_carve_dev_is_stratified_and_disjoint() -> None:
    train, dev = carve_dev(_examples(100, 4), 0.2, seed=0, stratify=True)
    assert len(dev) == 20 and not {e.id for e in train} & {e.id for e in dev}
    assert set(Counter(e.target for e in dev).values()) == {5}


def test_contamination_counts_exact_and_ngram_overlap() -> None:
    long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    test = [
        Example("a", "Hello there!", "x"),
        Example("b", long, "x"),
        Example("c", "unique text", "x"),
    ]
    seen = ["hello   THERE", "zero " + " ".join(long.split()[:13]) + " other"]
    result = overlap(test, seen)
    assert result["exact"] == 1 and result["ngram13"] == 1
    assert result["exact_fraction"] == pytest.approx(1 / 3)


def test_read_records_rejects_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="unsupported"):
        read_records(path)


def test_limit_replaces_the_suites_test_cap() -> None:
    loaded = load_suite(Path(__file__).resolve().parents[1] / "suites" / "support-bot.yaml")
    capped = load_task_data(loaded)
    assert len(capped.test) == 154  # the shipped suite takes 2 test examples per intent
    limited = load_task_data(loaded, limit=200, train_limit=500)
    assert len(limited.test) == 200 and len(limited.train) == 500
    per_intent = Counter(e.target for e in limited.test)
    assert len(per_intent) == 77 and max(per_intent.values()) - min(per_intent.values()) <= 1
