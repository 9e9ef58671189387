"""`tvp init DATA`: suites written from a CSV without splits, a JSONL folder with splits, a
saved DatasetDict and a saved Dataset; the inferences (fields, task type, labels), the flags,
the errors, and (slow) the written suite running end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import BANKING, FIVE_INTENTS, banking_rows, subset
from tunevsprompt.cli import main
from tunevsprompt.scaffold.profile import infer_task_type, profile_data, split_of
from tunevsprompt.scaffold.split import propose_split
from tunevsprompt.suite.loader import load_suite
from tunevsprompt.task.data import load_task_data


def five_intent_rows(split: str, per_intent: int) -> list[dict[str, str]]:
    return subset(banking_rows(split), FIVE_INTENTS, per_intent, seed=3)


def write_tickets_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """A user's file: other field names than the suites use, and an extra column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["ticket_id", "message", "intent"])
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow(
                {"ticket_id": f"t{i}", "message": row["text"], "intent": row["category"]}
            )


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["init", *args])
    return result.exit_code, result.output


def test_csv_without_splits_gets_a_stratified_test_split(tmp_path: Path) -> None:
    data = tmp_path / "tickets.csv"
    write_tickets_csv(data, five_intent_rows("train", 20))
    code, output = invoke(str(data), "--cpu")
    assert code == 0, output
    suite = tmp_path / "suite.yaml"
    assert "wrote" in output and "hold out 20%" in output
    loaded = load_suite(suite)
    task = loaded.suite.task
    assert (task.type, task.input_field, task.target_field) == (
        "classification",
        "message",
        "intent",
    )
    assert task.data.train == "tickets-splits/train.jsonl"
    data_split = load_task_data(loaded)
    assert sorted(data_split.labels.labels) == sorted(FIVE_INTENTS)  # type: ignore[union-attr]
    test_rows = [json.loads(line) for line in (tmp_path / "tickets-splits/test.jsonl").open()]
    train_rows = [json.loads(line) for line in (tmp_path / "tickets-splits/train.jsonl").open()]
    assert len(test_rows) == 5 * 4 and len(train_rows) == 5 * 16  # 20% of each intent
    assert {r["ticket_id"] for r in test_rows}.isdisjoint(r["ticket_id"] for r in train_rows)
    text = suite.read_text()
    assert "# 5 labels, 20 to 20 examples each" in text
    assert "soft-prompt" not in text and "lora" in text  # CPU arms
    assert "test_per_class: 40" in text


def test_jsonl_folder_with_splits_and_flags(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for split, per in (("train", 12), ("test", 4)):
        with (folder / f"{split}.jsonl").open("w") as handle:
            for row in five_intent_rows(split, per):
                record = {"body": row["text"], "topic": row["category"], "lang": "en"}
                handle.write(json.dumps(record) + "\n")
    code, output = invoke(
        str(folder), "--input-field", "body", "--target-field", "topic", "--gpu", "--yes"
    )
    assert code == 0, output
    loaded = load_suite(folder / "suite.yaml")
    assert loaded.suite.task.data.train == "train.jsonl"
    assert loaded.suite.task.data.test == "test.jsonl"
    assert {"soft-prompt", "setfit", "optimized-prompt"} <= {a.name for a in loaded.arms}
    again, message = invoke(str(folder), "--yes")
    assert again == 2 and "--force" in message  # never overwrites silently
    fields = ["--input-field", "body", "--target-field", "topic"]
    assert invoke(str(folder), *fields, "--yes", "--force")[0] == 0


def test_saved_datasets_with_and_without_splits(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    def dataset(split: str, per: int) -> Dataset:
        rows = five_intent_rows(split, per)
        return Dataset.from_dict(
            {"sentence": [r["text"] for r in rows], "label": [r["category"] for r in rows]}
        )

    splits = DatasetDict(
        {
            "train": dataset("train", 12),
            "validation": dataset("train", 3),
            "test": dataset("test", 4),
        }
    )
    splits.save_to_disk(str(tmp_path / "banking-dict"))
    code, output = invoke(str(tmp_path / "banking-dict"), "--cpu")
    assert code == 0, output
    loaded = load_suite(tmp_path / "suite.yaml")
    assert loaded.suite.task.data.dataset == "banking-dict"
    assert loaded.suite.task.data.split_names == {
        "train": "train",
        "dev": "validation",
        "test": "test",
    }
    assert len(load_task_data(loaded).test) == 20

    no_test = DatasetDict({"train": dataset("train", 12), "validation": dataset("test", 3)})
    no_test.save_to_disk(str(tmp_path / "two" / "no-test"))
    code, output = invoke(str(tmp_path / "two" / "no-test"), "--cpu")
    assert code == 0, output
    split = load_suite(tmp_path / "two" / "suite.yaml")
    assert split.suite.task.data.dev == "no-test-splits/dev.jsonl"  # its validation split
    assert len(load_task_data(split).test) == 5 * 2  # 20% of each intent's 12 train rows

    dataset("train", 10).save_to_disk(str(tmp_path / "one" / "plain"))
    code, output = invoke(str(tmp_path / "one" / "plain"), "--cpu")
    assert code == 0, output
    written = load_suite(tmp_path / "one" / "suite.yaml")
    assert written.suite.task.input_field == "sentence"
    assert len(load_task_data(written).test) == 10  # 2 of each intent's 10


def test_folder_files_naming_no_split_are_left_out(tmp_path: Path) -> None:
    write_tickets_csv(tmp_path / "train.csv", five_intent_rows("train", 10))
    write_tickets_csv(tmp_path / "test.csv", five_intent_rows("test", 2))
    (tmp_path / "catalog.jsonl").write_text('{"id": "x", "text": "y"}\n')
    code, output = invoke(str(tmp_path), "--cpu")
    assert code == 0, output
    assert "left out (no split in the name): catalog.jsonl" in output
    assert load_suite(tmp_path / "suite.yaml").suite.task.data.test == "test.csv"


def test_generation_is_inferred_from_free_text_targets(tmp_path: Path) -> None:
    rows = [{"question": f"What is {i} plus {i}?", "answer": f"It is {2 * i}."} for i in range(60)]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    profile = profile_data(path)
    assert (profile.task_type, profile.input_field, profile.target_field) == (
        "generation",
        "question",
        "answer",
    )
    code, output = invoke(str(path), "--cpu")
    assert code == 0, output
    loaded = load_suite(tmp_path / "suite.yaml")
    assert {a.type for a in loaded.arms} >= {"zero-shot", "nearest-answer", "lora"}
    assert "test_max: 200" in (tmp_path / "suite.yaml").read_text()


def test_inference_rules() -> None:
    assert infer_task_type(["a", "b"] * 20) == "classification"
    assert infer_task_type([f"label {i}" for i in range(40)]) == "generation"  # all distinct
    assert infer_task_type(["x" * 100, "y" * 100] * 20) == "generation"  # long targets
    assert infer_task_type([["a"], ["b"]] * 5) == "generation"
    assert [split_of(n) for n in ("train", "my-validation", "test_v2", "notes")] == [
        "train",
        "dev",
        "test",
        None,
    ]
    rows = [{"y": str(i % 3)} for i in range(30)] + [{"y": "rare"}]
    split = propose_split(rows, "y")
    assert {r["y"] for r in split["test"]} == {"0", "1", "2"}  # "rare" stays in train
    assert len(split["test"]) == 6 and len(split["train"]) == 25
    assert propose_split(rows, "y") == split  # seeded


def test_bad_requests_exit_2_and_leave_nothing(tmp_path: Path) -> None:
    data = tmp_path / "tickets.csv"
    write_tickets_csv(data, five_intent_rows("train", 10))
    code, output = invoke(str(data), "--target-field", "nope")
    assert code == 2 and "target_field" in output and "'nope'" in output
    split_files = tmp_path / "splits"
    write_tickets_csv(split_files / "train.csv", five_intent_rows("train", 10))
    write_tickets_csv(split_files / "test.csv", five_intent_rows("test", 2))
    code, output = invoke(str(split_files), "--out", str(tmp_path / "elsewhere" / "suite.yaml"))
    assert code == 2 and "outside the suite's folder" in output
    assert invoke(str(tmp_path / "missing.csv"))[0] == 2
    lists = tmp_path / "lists" / "qa.jsonl"
    lists.parent.mkdir()
    lists.write_text(
        "".join(json.dumps({"q": f"q{i}", "answer": ["a", "b"]}) + "\n" for i in range(9))
    )
    code, output = invoke(str(lists))
    assert code == 2 and "holds lists or objects" in output
    lists.unlink()
    lists.parent.rmdir()
    leftovers = {p.name for p in tmp_path.rglob("*")}
    assert leftovers == {"tickets.csv", "splits", "train.csv", "test.csv"}


@pytest.mark.slow
def test_written_suite_runs_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "tickets.csv"
    write_tickets_csv(data, five_intent_rows("train", 20))
    assert invoke(str(data), "--cpu")[0] == 0
    suite = tmp_path / "suite.yaml"
    # As written, the suite runs the default forgetting probes (about 45 s a model on 2 CPU
    # cores); one small probe keeps this test short and still probes the LoRA arm.
    small_probe = "    - {name: prose, kind: perplexity, source: builtin:prose, max_tokens: 256}\n"
    suite.write_text(suite.read_text() + "forgetting:\n  probes:\n" + small_probe)
    result = CliRunner().invoke(
        main,
        [
            "compare",
            str(tmp_path / "suite.yaml"),
            "--limit",
            "10",
            "--train-limit",
            "40",
            "--out",
            str(tmp_path / "run"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(results["arms"]) == {
        "zero-shot",
        "few-shot-similar",
        "embed-knn",
        "embed-linear",
        "encoder-finetune",
        "lora",
    }
    assert all(arm["n"] == 10 for arm in results["arms"].values())
    assert results["arms"]["lora"]["forgetting"]["measured"]
    assert BANKING.exists()
