"""Hostile and careless inputs, as real processes: a few hundred mutated suite folders, each
checked with `tvp validate` in its own process under a hang timeout, and the tally printed:

    rejected (exit 2) | accepted (exit 0) | crash (any other exit, or a traceback) | hang

The mutants are the cases of issue 21 by name (an alias bomb, a FIFO, a NUL byte in a path,
a 200,000-character CSV field, a JSONL row without its target, .inf learning rates, ...),
then seeded random mutations of a valid suite (keys replaced by odd values, deleted, added,
its text spliced) and of its data files (rows with missing, null, NaN, nested, NUL-bearing
or blank values, ragged CSV rows, random bytes). Every named case prints its outcome and the
first line of its message; a crash or a hang prints its folder, which is kept.

    python bench/fuzz_inputs.py [--random 260] [--seed 0] [--timeout 30] [--jobs 2] [--keep DIR]

Needs only the package (no model is loaded): about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

LABELS = ["card", "loan", "pin", "fee"]
BASE: dict[str, Any] = {
    "name": "fuzzed",
    "task": {
        "type": "classification",
        "data": {"train": "train.csv", "test": "test.csv"},
        "input_field": "text",
        "target_field": "label",
        "instruction": "Name the topic.",
    },
    "model": {"device": "cpu"},
    "arms": [
        {"name": "zero-shot", "type": "zero-shot"},
        {"name": "few-shot", "type": "few-shot", "k": 2},
        {"name": "rag", "type": "rag", "corpus": {"path": "corpus.jsonl"}},
        {"name": "lora", "type": "lora", "learning_rate": 0.001, "epochs": 1},
        {"name": "linear", "type": "embed-linear"},
    ],
    "sampling": {"seed": 0},
    "decision": {"min_quality": 0.5},
}
ODD_VALUES: list[Any] = [
    None, True, -1, 0, 2, 10**30, 1e308, float("inf"), float("nan"), "", " ", "\x00",
    "banana", "../outside.csv", "/etc/passwd", "cuda:99", [], {}, [None], {"x": [1, {"y": None}]},
    "é" * 300, "\u202e\u0000\ufeff",
]  # fmt: skip


def rows(split: str, per_label: int) -> list[dict[str, Any]]:
    return [
        {"text": f"{split} question {i} about my {label} and nothing else", "label": label}
        for label in LABELS
        for i in range(per_label)
    ]


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def valid_folder(folder: Path, suite: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "train.csv", rows("train", 8))
    write_csv(folder / "test.csv", rows("test", 4))
    write_jsonl(folder / "corpus.jsonl", [{"id": f"d{i}", "text": f"Page {i}."} for i in range(3)])
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite or BASE, sort_keys=False, allow_unicode=True))
    return path


def with_suite(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        suite = copy.deepcopy(BASE)
        change(suite)
        return valid_folder(folder, suite)

    return make


def with_text(change: Callable[[str], str]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = valid_folder(folder)
        path.write_text(change(path.read_text()))
        return path

    return make


def with_file(name: str, write: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = valid_folder(folder)
        target = folder / name
        target.unlink(missing_ok=True)
        write(target)
        return path

    return make


def alias_bomb(folder: Path) -> Path:
    lines = ["name: bomb", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefghi", "bcdefghij", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text("\n".join(lines) + "\n")
    return folder / "suite.yaml"


def fifo_suite(folder: Path) -> Path:
    folder.mkdir(parents=True)
    os.mkfifo(folder / "suite.yaml")
    return folder / "suite.yaml"


def symlinked_test(folder: Path) -> Path:
    path = valid_folder(folder)
    (folder / "inner").mkdir()
    (folder / "inner" / "test.csv").symlink_to(folder / "test.csv")
    path.write_text(path.read_text().replace("test: test.csv", "test: inner/test.csv"))
    return path


def labels_where(change: Callable[[int, dict[str, Any]], Any]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        records = rows("test", 5)
        for i, row in enumerate(records):
            row["label"] = change(i, row)
        if path.suffix == ".csv":
            write_csv(path, records)
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in records))

    return write


def jsonl_test(write: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        suite = copy.deepcopy(BASE)
        suite["task"]["data"]["test"] = "test.jsonl"
        path = valid_folder(folder, suite)
        write(folder / "test.jsonl")
        return path

    return make


def set_key(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(suite: dict[str, Any]) -> None:
        node = suite
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def missing_target_row_31(path: Path) -> None:
    records = rows("test", 10)
    del records[30]["label"]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


NAMED: dict[str, Callable[[Path], Path]] = {
    "alias bomb (billion laughs)": alias_bomb,
    "alias bomb of one long string": with_text(
        lambda t: t + f'd: &d "{"x" * 500_000}"\nmore: [{", ".join(["*d"] * 99_000)}]\n'
    ),
    "alias inside itself": with_text(lambda t: t + "loop: &l [1, *l]\n"),
    "duplicated top-level key": with_text(lambda t: t + "name: again\n"),
    "suite file is a FIFO": fifo_suite,
    "data path is a FIFO": with_file("train.csv", lambda p: os.mkfifo(p)),
    "NUL byte in a data path": with_suite(set_key("task", "data", "train", value="tr\x00ain.csv")),
    "CSV field of 200,000 characters": with_file(
        "test.csv", lambda p: write_csv(p, [{"text": "x" * 200_000, "label": "fee"}, *rows("t", 4)])
    ),
    "CSV with an unclosed quote": with_file(
        "test.csv", lambda p: p.write_text('text,label\n"open quote,card\nmore,loan\n')
    ),
    "JSONL row 31 without the target": jsonl_test(missing_target_row_31),
    "learning_rate .inf": with_suite(set_key("arms", 3, "learning_rate", value=float("inf"))),
    "learning_rate 0": with_suite(set_key("arms", 3, "learning_rate", value=0)),
    "decision.min_quality 2": with_suite(set_key("decision", "min_quality", value=2)),
    "model.device banana": with_suite(set_key("model", "device", value="banana")),
    "every fifth test label empty": with_file(
        "test.csv", labels_where(lambda i, r: "" if i % 5 == 0 else r["label"])
    ),
    "NaN and null test labels": jsonl_test(
        labels_where(lambda i, r: [float("nan"), None, r["label"]][i % 3])
    ),
    "ragged CSV": with_file("test.csv", lambda p: p.write_text("text,label\na,card\nb,c,d\n")),
    "CSV with NUL bytes": with_file("test.csv", lambda p: p.write_text("text,label\na\x00,card\n")),
    "test label absent from train": with_file(
        "train.csv", lambda p: write_csv(p, [r for r in rows("train", 8) if r["label"] != "fee"])
    ),
    "test file identical to train": with_file(
        "train.csv", lambda p: write_csv(p, rows("test", 4) + rows("train", 8))
    ),
    "UTF-8 BOM (accepted by design)": with_file(
        "train.csv", lambda p: p.write_bytes(b"\xef\xbb\xbf" + b"text,label\n" + b"".join(
            f"{r['text']},{r['label']}\n".encode() for r in rows("train", 8)))
    ),
    "symlink inside the folder (accepted by design)": symlinked_test,
    "absolute model path (accepted by design)": with_suite(set_key("model", "id", value="/m/x")),
    "data path outside the folder": with_suite(set_key("task", "data", "train", value="../x.csv")),
    "suite larger than 1 MiB": with_text(lambda t: t + "description: " + "x" * 1_100_000 + "\n"),
    "suite not UTF-8": with_file("suite.yaml", lambda p: p.write_bytes(b"name: \xe9\n")),
    "suite nested 5,000 deep": with_text(lambda t: t + "deep: " + "[" * 5000 + "]" * 5000 + "\n"),
    "data file is binary": with_file("test.csv", lambda p: p.write_bytes(bytes(range(256)) * 4)),
    "data file is empty": with_file("test.csv", lambda p: p.write_text("")),
    "data path is a folder of nothing": with_file("test.csv", lambda p: p.mkdir()),
}  # fmt: skip


def key_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in children:
        paths += key_paths(value, (*prefix, key))
    return paths


def random_suite(rng: random.Random) -> Callable[[Path], Path]:
    suite = copy.deepcopy(BASE)
    for _ in range(rng.randint(1, 4)):
        path = rng.choice(key_paths(suite) or [("name",)])
        node: Any = suite
        try:
            for part in path[:-1]:
                node = node[part]
            action = rng.choice(["replace", "delete", "add"])
            if action == "replace":
                node[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
            elif action == "delete":
                del node[path[-1]]
            elif isinstance(node, dict):
                node[rng.choice(["extra", "lr", "devce", "arms", "k"])] = rng.choice(ODD_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    text = yaml.safe_dump(suite, sort_keys=False, allow_unicode=True)
    if rng.random() < 0.4:
        start = rng.randrange(len(text))
        piece = rng.choice(
            ["&a [*a]", "*a", "\t", ": :", "- -", "{", "!!python/object:os.system", "\x00"]
        )
        text = text[:start] + piece + text[start + rng.randint(0, 20) :]
    return with_text(lambda _: text)


def random_data(rng: random.Random) -> Callable[[Path], Path]:
    records = rows("test", 4)
    for row in rng.sample(records, rng.randint(1, 4)):
        key = rng.choice(["text", "label", "other"])
        if rng.random() < 0.3:
            row.pop(key, None)
        else:
            row[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    suffix = rng.choice([".csv", ".jsonl", ".json"])

    def write(path: Path) -> None:
        if suffix == ".jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        elif suffix == ".json":
            path.write_text(json.dumps(records), encoding="utf-8")
        else:
            lines = ["text,label"] + [",".join(str(v) for v in r.values()) for r in records]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")

    def make(folder: Path) -> Path:
        suite = copy.deepcopy(BASE)
        suite["task"]["data"]["test"] = f"test{suffix}"
        path = valid_folder(folder, suite)
        (folder / "test.csv").unlink()
        write(folder / f"test{suffix}")
        return path

    return make


def run_one(suite: Path, timeout: float) -> tuple[str, str, float]:
    """(outcome, first line of the message, seconds)."""
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tunevsprompt", "validate", str(suite)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    except subprocess.TimeoutExpired:
        return "hang", f"killed after {timeout:.0f} s", time.monotonic() - began
    took = time.monotonic() - began
    output = (done.stdout + done.stderr).strip().replace(str(suite.parent), "<mutant>")
    lines = [line for line in output.splitlines() if line.strip()] or [""]
    message = lines[1] if lines[0].startswith("error: the suite is invalid") else lines[0]
    crashed = "Traceback" in output or "unexpected failure" in output
    if done.returncode == 2 and not crashed:
        return "rejected", message, took
    if done.returncode == 0 and not crashed:
        return "accepted", message, took
    return "crash", f"exit {done.returncode}: {message}", took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=260, help="random mutants (half suites)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before 'hang'")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="folder to keep every mutant in")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    mutants: list[tuple[str, Callable[[Path], Path]]] = list(NAMED.items())
    for i in range(args.random):
        maker = random_suite(rng) if i % 2 == 0 else random_data(rng)
        mutants.append((f"random {'suite' if i % 2 == 0 else 'data'} #{i}", maker))
    root = args.keep or Path(tempfile.mkdtemp(prefix="tvp-fuzz-"))
    suites = [(name, make(root / f"m{i:04d}")) for i, (name, make) in enumerate(mutants)]

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(lambda item: run_one(item[1], args.timeout), suites))
    wall = time.monotonic() - began

    print(f"{len(suites)} mutants ({len(NAMED)} named, {args.random} random, seed {args.seed}), "
          f"{wall:.0f} s on {args.jobs} processes at a time\n")  # fmt: skip
    print("| named case | outcome | s | message |\n|---|---|---|---|")
    for (name, _), (outcome, message, took) in zip(suites, outcomes[: len(NAMED)], strict=False):
        print(f"| {name} | {outcome} | {took:.1f} | {message[:110].replace('|', '/')} |")
    tally = Counter(outcome for outcome, _, _ in outcomes)
    slowest = max(took for _, _, took in outcomes)
    print("\n| | rejected (exit 2) | accepted (exit 0) | crash | hang | slowest |")
    print("|---|---|---|---|---|---|")
    for label, part in (
        ("named", outcomes[: len(NAMED)]),
        ("random", outcomes[len(NAMED) :]),
        ("all", outcomes),
    ):
        counts = Counter(outcome for outcome, _, _ in part)
        print(f"| {label} | {counts['rejected']} | {counts['accepted']} | {counts['crash']} | "
              f"{counts['hang']} | {max((t for _, _, t in part), default=0):.1f} s |")  # fmt: skip
    bad = [
        (name, suite, o)
        for (name, suite), o in zip(suites, outcomes, strict=True)
        if o[0] in ("crash", "hang")
    ]
    for name, suite, (outcome, message, _) in bad:
        print(f"{outcome.upper()}: {name}: {suite}: {message}")
    if not bad and args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nslowest answer {slowest:.1f} s; crashes and hangs: {tally['crash'] + tally['hang']}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
