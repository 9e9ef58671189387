"""Careless and hostile suites and data files: each ends in exit 2 with a message naming the
file, the row or line and the key path, quickly; none hangs, none crashes, none slips
through. (The property-based version of these is test_fuzz_inputs.py.)"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tunevsprompt.cli import main

LABELS = ["card", "loan", "pin", "fee"]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]


def rows(split: str, per_label: int) -> list[dict[str, str]]:
    """Distinct inputs per split (no test input appears in train)."""
    out = []
    for label in LABELS:
        for i in range(per_label):
            words = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(4))
            out.append({"text": f"{split} {label} question {i} about {words}", "label": label})
    return out


SUITE = """\
name: hostile
task:
  type: classification
  data:
    train: {train}
    test: {test}
  instruction: Name the topic.
arms:
  - name: zero-shot
    type: zero-shot
{arms}{extra}"""


def write_rows(path: Path, records: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def folder_with(
    tmp_path: Path,
    *,
    arms: str = "",
    extra: str = "",
    train: list[dict[str, object]] | None = None,
    test: list[dict[str, object]] | None = None,
    suffix: str = ".csv",
) -> Path:
    """A suite folder: the suite file, train and test data (valid unless replaced)."""
    write_rows(tmp_path / f"train{suffix}", train or rows("train", 10))  # type: ignore[arg-type]
    write_rows(tmp_path / f"test{suffix}", test or rows("test", 3))  # type: ignore[arg-type]
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        SUITE.format(train=f"train{suffix}", test=f"test{suffix}", arms=arms, extra=extra)
    )
    return suite


def validate(path: Path | str, *args: str) -> tuple[Result, float]:
    began = time.monotonic()
    result = CliRunner().invoke(main, ["validate", str(path), *args])
    return result, time.monotonic() - began


def rejected(path: Path | str, *expected: str) -> str:
    """Exit 2, quickly, with every expected fragment in the message and no traceback."""
    result, took = validate(path)
    assert result.exit_code == 2, result.output
    assert took < 10, took
    assert "Traceback" not in result.output and "unexpected failure" not in result.output
    for fragment in expected:
        assert fragment in result.output, (fragment, result.output)
    return result.output


def accepted(path: Path | str) -> str:
    result, _ = validate(path)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_baseline_folder_is_valid_and_quiet(tmp_path: Path) -> None:
    output = accepted(folder_with(tmp_path))
    assert "ok (1 arms" in output and "warning" not in output


# --- the suite file -------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i, name in enumerate("bcdefghij"):
        previous = "abcdefghij"[i]
        levels.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: bomb\n" + "\n".join(levels) + "\n")
    rejected(bomb, "bomb.yaml:", "more than 100,000 values", "counting each alias")
    # Fewer values, but a long string repeated: 900 KB on disk, 50 GB of text expanded.
    long = "x" * 500_000
    bomb.write_text(f'name: b\nd: &d "{long}"\ndescription: [{", ".join(["*d"] * 99_000)}]\n')
    rejected(bomb, "bomb.yaml:3", "more than 10,000,000 characters of text")


def test_an_alias_inside_itself_is_refused(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text("name: loop\nitems: &items [1, *items]\n")
    rejected(loop, "loop.yaml:2", "refers to a value that contains it")


def test_a_key_given_twice_is_an_error_with_both_lines(tmp_path: Path) -> None:
    suite = folder_with(tmp_path)
    text = suite.read_text().replace("  instruction:", "  instruction: First.\n  instruction:")
    suite.write_text("name: again\n" + text)
    output = rejected(suite, "suite.yaml:2: name: given twice", "(first on line 1)")
    assert "task.instruction: given twice" in output


def test_a_fifo_as_suite_or_data_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    rejected(fifo, "fifo.yaml", "not a regular file")
    suite = folder_with(tmp_path / "data")
    (suite.parent / "train.csv").unlink()
    os.mkfifo(suite.parent / "train.csv")
    rejected(suite, "task.data.train", "neither a regular file nor a folder")


def test_oversized_binary_and_non_utf8_suite_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: big\ndescription: " + "x" * (1 << 20) + "\n")
    rejected(big, "larger than 1024 KiB")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\x00\n")
    rejected(binary, "NUL bytes")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    rejected(latin, "not UTF-8", "save the file as UTF-8")


def test_a_nul_byte_in_a_data_path_is_named(tmp_path: Path) -> None:
    suite = folder_with(tmp_path)
    suite.write_text(suite.read_text().replace("train: train.csv", 'train: "train\\0.csv"'))
    rejected(suite, "task.data.train", "contains a NUL byte")


@pytest.mark.parametrize(
    ("extra", "arms", "key", "fragment"),
    [
        (
            "",
            "  - {name: lora, type: lora, learning_rate: .inf}\n",
            "arms[1].learning_rate",
            "finite",
        ),
        (
            "",
            "  - {name: lora, type: lora, learning_rate: 0}\n",
            "arms[1].learning_rate",
            "greater than 0",
        ),
        ("decision:\n  min_quality: 2\n", "", "decision.min_quality", "outside what accuracy"),
        ("gates:\n  min_quality: -0.1\n", "", "gates.min_quality", "outside what accuracy"),
        ("model:\n  device: banana\n", "", "model.device", "unknown device 'banana'"),
        ("pricing:\n  utilisation: .nan\n", "", "pricing.utilisation", "finite"),
    ],
)
def test_values_outside_their_range_are_refused(
    tmp_path: Path, extra: str, arms: str, key: str, fragment: str
) -> None:
    rejected(folder_with(tmp_path, arms=arms, extra=extra), key, fragment)


def test_an_unknown_device_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    suite = folder_with(tmp_path)
    result = CliRunner().invoke(main, ["compare", str(suite), "--device", "banana"])
    assert result.exit_code == 2 and "unknown device 'banana'" in result.output


def test_a_bom_and_a_symlink_inside_the_folder_are_accepted(tmp_path: Path) -> None:
    suite = folder_with(tmp_path)
    suite.write_bytes(b"\xef\xbb\xbf" + suite.read_bytes())
    train = tmp_path / "train.csv"
    train.write_bytes(b"\xef\xbb\xbf" + train.read_bytes())
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "test.csv").symlink_to(tmp_path / "test.csv")
    suite.write_bytes(suite.read_bytes().replace(b"test: test.csv", b"test: linked/test.csv"))
    accepted(suite)


# --- the data files -------------------------------------------------------------------------


def test_a_jsonl_row_without_the_target_names_its_row_and_line(tmp_path: Path) -> None:
    test = rows("test", 10)
    del test[30]["label"]
    suite = folder_with(tmp_path, test=test, suffix=".jsonl")  # type: ignore[arg-type]
    rejected(suite, "task.data.test", "1 of 40 rows have no 'label' field (row 31 (line 31))")


def test_empty_null_and_nan_targets_are_listed_with_their_rows(tmp_path: Path) -> None:
    test: list[dict[str, object]] = list(rows("test", 5))
    for i in range(0, len(test), 5):
        test[i] = {**test[i], "label": ""}
    suite = folder_with(tmp_path / "csv", test=test)
    rejected(
        suite,
        "4 of 20 rows have an empty, null or NaN 'label'",
        "row 1 (line 2), row 6 (line 7)",
    )
    test[1] = {**test[1], "label": None}
    test[2] = {**test[2], "label": float("nan")}
    (tmp_path / "json").mkdir()
    path = tmp_path / "json" / "test.jsonl"
    suite = folder_with(tmp_path / "json", suffix=".jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in test))  # json writes NaN
    rejected(suite, "6 of 20 rows have an empty, null or NaN 'label'")


def test_ragged_csv_rows_and_nul_bytes_are_refused(tmp_path: Path) -> None:
    suite = folder_with(tmp_path)
    test = tmp_path / "test.csv"
    lines = test.read_text().splitlines()
    lines[3] += ",surplus"
    test.write_text("\n".join(lines) + "\n")
    rejected(
        suite, "row 3 (line 4) has 3 fields where the header has 2: a missing or extra separator"
    )
    lines = test.read_text().splitlines()
    lines[3] = lines[3].replace(",surplus", "").replace("question", "ques\x00tion")
    test.write_text("\n".join(lines) + "\n")
    rejected(suite, "1 of 12 rows have a NUL byte in 'text' (row 3 (line 4))")


def test_a_200k_field_is_read_and_an_unclosed_quote_is_named(tmp_path: Path) -> None:
    test = rows("test", 3)
    test[0] = {**test[0], "text": "long " * 40_000}
    suite = folder_with(tmp_path, test=test)  # type: ignore[arg-type]
    accepted(suite)
    path = tmp_path / "test.csv"
    path.write_text(path.read_text().replace("test card question 1", '"test card question 1'))
    rejected(
        suite,
        "task.data.test",
        "row 2 (line 3) has 1 field where the header has 2: it runs on to line 13",
        'so a quote (") is probably not closed',
    )


def test_a_test_label_missing_from_train(tmp_path: Path) -> None:
    train = [r for r in rows("train", 10) if r["label"] != "fee"]
    warned = accepted(folder_with(tmp_path / "prompting", train=train))  # type: ignore[arg-type]
    assert "3 of 12 test examples carry labels that no train example carries: 'fee'" in warned
    linear = "  - name: linear\n    type: embed-linear\n"
    suite = folder_with(tmp_path / "linear", train=train, arms=linear)  # type: ignore[arg-type]
    rejected(suite, "suite.yaml:12: arms[1].type", "embed-linear answers only with labels seen")


def test_test_inputs_found_in_train_stop_validate_above_the_threshold(tmp_path: Path) -> None:
    test = rows("test", 3)
    suite = folder_with(tmp_path, train=rows("train", 10) + test)  # type: ignore[arg-type]
    rejected(
        suite,
        "task.data.max_test_overlap",
        "of 12 test inputs appear verbatim in train",
        "12 test inputs (100%) can be seen by the arms, above max_test_overlap 0.05",
    )
    suite.write_text(
        suite.read_text().replace(
            "    test: test.csv", "    test: test.csv\n    max_test_overlap: 1"
        )
    )
    assert "of 12 test inputs appear verbatim in train" in accepted(suite)
    near = [{**r, "text": r["text"].upper() + "!"} for r in test[:1]]
    suite = folder_with(
        tmp_path / "near",
        train=rows("train", 10) + near,  # type: ignore[arg-type]
        test=rows("test", 10),  # type: ignore[arg-type]
    )
    output = accepted(suite)
    assert "0 of 40 test inputs appear verbatim in train, 1 more after normalising" in output


def test_tiny_and_imbalanced_classes_are_warned_about(tmp_path: Path) -> None:
    train = [
        r
        for r in rows("train", 30)
        if r["label"] != "pin" or r["text"].endswith("0 about alpha bravo charlie delta")
    ]
    output = accepted(folder_with(tmp_path, train=train))  # type: ignore[arg-type]
    assert "1 label has a single train example ('pin')" in output
    assert "the train classes are imbalanced: 'card' has 27 examples, 'pin' 1" in output


def test_texts_that_normalise_to_nothing_are_not_duplicates(tmp_path: Path) -> None:
    test = [*rows("test", 3)[:-1], {"text": "The", "label": "fee"}]
    train = [*rows("train", 10), {"text": "An", "label": "fee"}, {"text": "?!", "label": "fee"}]
    output = accepted(folder_with(tmp_path, train=train, test=test))  # type: ignore[arg-type]
    assert "appear verbatim" not in output


def test_a_generation_task_may_have_empty_references_and_says_so(tmp_path: Path) -> None:
    test: list[dict[str, object]] = [
        {"text": f"question {i}", "label": f"answer {i}"} for i in range(6)
    ]
    test[2]["label"] = ""
    suite = folder_with(tmp_path, test=test)
    suite.write_text(suite.read_text().replace("type: classification", "type: generation"))
    assert "1 test example has an empty reference" in accepted(suite)
    test[3]["label"] = None
    write_rows(tmp_path / "test.jsonl", test)
    suite.write_text(suite.read_text().replace("test.csv", "test.jsonl"))
    rejected(suite, "1 of 6 rows have an empty, null or NaN 'label' (row 4 (line 4))")


def test_unicode_line_separators_inside_json_strings_are_text(tmp_path: Path) -> None:
    test = rows("test", 3)
    test[0]["text"] = "first\u2028second\x85third"
    path = tmp_path / "test.jsonl"
    suite = folder_with(tmp_path, test=test, suffix=".jsonl")  # type: ignore[arg-type]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in test))
    accepted(suite)
    path.write_bytes(path.read_bytes().replace(b"second", b"sec\xffond"))
    rejected(suite, "line 1 is not UTF-8 text (byte", "save the file as UTF-8")


def test_repeated_ids_negative_seeds_and_bad_timeouts_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test = [{**r, "uid": "same" if i < 2 else f"u{i}"} for i, r in enumerate(rows("test", 3))]
    suite = folder_with(tmp_path, test=test, extra="sampling:\n  seed: 0\n")  # type: ignore[arg-type]
    suite.write_text(suite.read_text().replace("  instruction:", "  id_field: uid\n  instruction:"))
    train = tmp_path / "train.csv"
    write_rows(train, [{**r, "uid": f"t{i}"} for i, r in enumerate(rows("train", 10))])
    rejected(suite, "1 ids appear more than once in the test split ('same')")
    suite.write_text(suite.read_text().replace("  seed: 0", "  seed: -1"))
    rejected(suite, "sampling.seed", "greater than or equal to 0")
    suite.write_text(suite.read_text().replace("  seed: -1", "  seed: 0"))
    for value in ("abc", "0", "-5", "nan"):
        monkeypatch.setenv("TVP_READ_TIMEOUT_S", value)
        rejected(suite, f"TVP_READ_TIMEOUT_S={value!r} is not a number of seconds above 0")


def test_a_read_that_never_ends_times_out() -> None:
    from tunevsprompt.task.records import read_with_timeout

    began = time.monotonic()
    with pytest.raises(TimeoutError, match="more than 0 s"):
        read_with_timeout(lambda: time.sleep(30), 0.2)
    assert time.monotonic() - began < 5
    assert read_with_timeout(lambda: 42, 5) == 42
    with pytest.raises(ZeroDivisionError):
        read_with_timeout(lambda: 1 / 0, 5)


def test_the_manifest_hashes_the_suite_file_as_it_is_on_disk(tmp_path: Path) -> None:
    import hashlib

    from tunevsprompt.suite.loader import load_suite

    suite = folder_with(tmp_path)
    suite.write_bytes(b"\xef\xbb\xbf" + suite.read_bytes().replace(b"\n", b"\r\n"))
    assert load_suite(suite).sha256 == hashlib.sha256(suite.read_bytes()).hexdigest()


def test_slices_and_the_abstain_label_must_be_in_the_data(tmp_path: Path) -> None:
    suite = folder_with(tmp_path, extra="slices: [channel]\n")
    rejected(suite, "slices[0]", "the test split has no field 'channel'")
    suite.write_text(
        suite.read_text()
        .replace("slices: [channel]\n", "")
        .replace("  instruction:", "  abstain_label: oos\n  instruction:")
    )
    rejected(suite, "task.abstain_label", "'oos' is not a label of the data")
    train = [*rows("train", 10), *({"text": f"weather {i}", "label": "oos"} for i in range(3))]
    test = [*rows("test", 3), {"text": "what is the weather", "label": "oos"}]
    linear = "  - name: linear\n    type: embed-linear\n"
    suite = folder_with(tmp_path / "oos", train=train, test=test, arms=linear)  # type: ignore[arg-type]
    suite.write_text(
        suite.read_text().replace("  instruction:", "  abstain_label: oos\n  instruction:")
    )
    accepted(suite)  # the label-bound arm may lack oos in train: abstaining answers it
    write_rows(tmp_path / "oos" / "train.csv", rows("train", 10))  # type: ignore[arg-type]
    assert "the dev split has no 'oos' example" in accepted(suite)


# --- run folders and caches -----------------------------------------------------------------


def test_an_unwritable_or_file_out_is_exit_2_before_any_model_loads(tmp_path: Path) -> None:
    suite = folder_with(tmp_path)
    not_a_folder = tmp_path / "taken"
    not_a_folder.write_text("a file")
    for out, fragment in (
        (not_a_folder, "is a file"),
        (not_a_folder / "run", "cannot write into the run folder"),
    ):
        began = time.monotonic()
        result = CliRunner().invoke(main, ["compare", str(suite), "--out", str(out)])
        assert result.exit_code == 2 and fragment in result.output, result.output
        assert time.monotonic() - began < 10  # no model was loaded
    read_only = Path("/sys/kernel") if os.geteuid() == 0 else tmp_path / "read-only"
    if os.geteuid() != 0:
        read_only.mkdir()
        read_only.chmod(0o555)
    result = CliRunner().invoke(main, ["compare", str(suite), "--out", str(read_only)])
    assert result.exit_code == 2 and "cannot write into the run folder" in result.output
    result = CliRunner().invoke(
        main, ["compare", str(suite), "--out", str(tmp_path / "run"), "--cache-dir", str(read_only)]
    )
    assert result.exit_code == 2 and "cannot write into the cache folder" in result.output


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"schema_version": "2.0", "arms": {"a": ', "is not valid JSON"),
        ('{"name": "some other tool", "values": [1, 2]}', "is not a tvp results file"),
        ("[1, 2, 3]", "not an object"),
        ("\x00\x01binary", "is not valid JSON"),
    ],
)
def test_report_and_gate_on_a_truncated_or_foreign_results_file(
    tmp_path: Path, content: str, fragment: str
) -> None:
    (tmp_path / "results.json").write_text(content)
    for command in ("report", "gate"):
        result = CliRunner().invoke(main, [command, str(tmp_path)])
        assert result.exit_code == 2, (command, result.output)
        assert fragment in result.output and "Traceback" not in result.output


def test_gate_refuses_a_quality_bar_outside_the_metric(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "run-support-bot"
    for bar in ("2", "-0.5", "nan"):
        result = CliRunner().invoke(
            main, ["gate", str(fixture), "--min-quality", bar, "--junit", str(tmp_path / "j.xml")]
        )
        assert result.exit_code == 2 and "outside what accuracy can reach" in result.output


def test_a_cache_folder_another_run_completed_is_kept_and_a_broken_one_replaced(
    tmp_path: Path,
) -> None:
    from tunevsprompt.runfolder.store import write_dir_atomic

    def fill(text: str) -> Callable[[Path], None]:
        return lambda folder: (folder / "data.txt").write_text(text)

    def complete(folder: Path) -> bool:
        return (folder / "data.txt").is_file()

    target = tmp_path / "entry"
    write_dir_atomic(target, fill("first"), keep_complete=complete)
    write_dir_atomic(target, fill("second"), keep_complete=complete)
    assert (target / "data.txt").read_text() == "first"  # another run's complete copy stays
    (target / "data.txt").unlink()
    (target / "other").write_text("a half-written entry")
    write_dir_atomic(target, fill("third"), keep_complete=complete)
    assert sorted(p.name for p in target.iterdir()) == ["data.txt"]
    assert (target / "data.txt").read_text() == "third"
    write_dir_atomic(target, fill("fourth"))  # no keep_complete: replaced (a run folder's)
    assert (target / "data.txt").read_text() == "fourth"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no staging folder left


def test_a_lock_that_cannot_be_taken_is_said_and_skipped(tmp_path: Path) -> None:
    from tunevsprompt.runfolder.store import exclusive_lock

    said: list[str] = []
    (tmp_path / "file").write_text("not a folder")
    ran = False
    with exclusive_lock(tmp_path / "file" / "lock", lambda: None, said.append):
        ran = True
    assert ran and len(said) == 1 and "cannot open" in said[0]
    waited: list[str] = []
    with exclusive_lock(tmp_path / "lock", lambda: waited.append("wait"), said.append):
        pass
    assert waited == [] and len(said) == 1


# --- two runs sharing one cache -------------------------------------------------------------

SHARED_CACHE_ARMS = """\
  - name: few-shot-similar
    type: few-shot
    k: 4
    selection: similar
    decide: rank
  - name: embed-linear
    type: embed-linear
  - name: encoder-finetune
    type: encoder-finetune
    max_steps: 6
    eval_every_steps: 3
"""


@pytest.mark.slow
def test_two_runs_sharing_one_cache_agree_and_never_meet_a_lock(
    five_intent_dir: Path, tmp_path: Path
) -> None:
    """Both start on an empty cache at once: the prediction cache (SQLite), the retrieval
    cache (embeddings, FAISS) and the training cache (one run trains, the other waits and
    reuses) are shared, and both runs report the same figures."""
    import subprocess
    import sys

    from helpers import BANKING_TASK, UNTIMED_RUN, ZERO_SHOT_ARMS

    suite = five_intent_dir / "shared-cache.yaml"
    suite.write_text(
        "name: shared-cache\n" + BANKING_TASK + ZERO_SHOT_ARMS + SHARED_CACHE_ARMS + UNTIMED_RUN
    )
    cache = tmp_path / "cache"
    env = {**os.environ, "CI": "1", "HF_HUB_OFFLINE": "1"}
    runs = [tmp_path / "a", tmp_path / "b"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tunevsprompt",
                "compare",
                str(suite),
                "--limit",
                "20",
                "--out",
                str(out),
                "--cache-dir",
                str(cache),
                "--device",
                "cpu",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for out in runs
    ]
    outputs = [proc.communicate(timeout=900)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output
        assert "locked" not in output and "Traceback" not in output, output
    first, second = (json.loads((out / "results.json").read_text()) for out in runs)
    for name, arm in first["arms"].items():
        other = second["arms"][name]
        assert arm["quality"] == other["quality"], name
        assert arm["n"] == other["n"] == 20
    samples = [
        sorted(
            (r["arm"], r["id"], r["prediction"])
            for r in map(json.loads, (out / "samples.jsonl").open())
        )
        for out in runs
    ]
    assert samples[0] == samples[1]
    trained = [r["arms"]["encoder-finetune"]["training"]["reused"] for r in (first, second)]
    assert sorted(trained) == [False, True]  # one trained, the other waited and reused
    import sqlite3

    with sqlite3.connect(cache / "predictions.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
