"""Checks on the loaded data that run before anything expensive (`tvp validate`, and
`tvp compare` before any model loads): test labels the train split lacks, test inputs that
the arms can also see (train, dev, demonstrations drawn from train, a RAG corpus), and
classes too small or too unequal to measure well. Errors stop the run; warnings are
printed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunevsprompt.errors import SuiteProblem
from tunevsprompt.measure.contamination import NGRAM, sharing_runs
from tunevsprompt.measure.metrics import normalise_answer
from tunevsprompt.suite.loaded import LoadedSuite
from tunevsprompt.task.data import TaskData
from tunevsprompt.task.types import Example

TINY_CLASS = 2
"""Fewer train examples than this for a label is a warning: one example cannot show an arm
what the label covers, nor be split between train and dev."""

IMBALANCE_RATIO = 10
"""A largest class this many times the smallest is a warning: accuracy then mostly
measures the large classes."""


@dataclass
class DataFindings:
    """What the data checks found: problems stop a run (exit 2), warnings are printed."""

    problems: list[SuiteProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_task_data(loaded: LoadedSuite, data: TaskData) -> DataFindings:
    """Every check, on the examples the run would use (after sampling caps and limits)."""
    findings = DataFindings()
    if data.labels is not None:
        _check_labels(loaded, data, findings)
        _check_class_sizes(data, findings)
    else:
        blank = sum(not e.target.strip() for e in data.test)
        if blank:
            findings.warnings.append(
                f"{_count(blank, 'test example has', 'test examples have')} an empty "
                "reference: an answer scores on it only when it is empty too"
            )
    _check_overlap(loaded, data, findings)
    return findings


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _shown(labels: Iterable[str], most: int = 8) -> str:
    items = sorted(labels)
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(repr(label) for label in items[:most]) + more


def _check_labels(loaded: LoadedSuite, data: TaskData, findings: DataFindings) -> None:
    """Test labels that no train example carries: an arm whose label space is its train
    labels can never give them (an error), the others were never shown one (a warning)."""
    labels = data.labels.labels if data.labels is not None else []
    gates = loaded.suite.gates
    for label in (gates.min_class_recall or {}) if gates else {}:
        if label not in labels:
            findings.problems.append(
                loaded.problem(
                    ("gates", "min_class_recall", label),
                    f"{label!r} is not a label of the data",
                    f"labels: {_shown(labels)}",
                )
            )
    abstain = loaded.suite.task.abstain_label
    if abstain is not None and abstain not in labels:
        findings.problems.append(
            loaded.problem(
                ("task", "abstain_label"),
                f"{abstain!r} is not a label of the data",
                f"name the out-of-scope label the data uses (labels: {_shown(labels)})",
            )
        )
    if abstain is not None and not any(e.target == abstain for e in data.dev):
        findings.warnings.append(
            f"the dev split has no {abstain!r} example: the abstention threshold, chosen on "
            "dev, will not learn to abstain"
        )
    unseen = {e.target for e in data.test} - {e.target for e in data.train}
    if not unseen:
        return
    if unseen == {abstain}:
        # Abstention answers the out-of-scope label; the warning below still says so.
        blind: list[Any] = []
    else:
        blind = [a for a in loaded.arms if a.answers_train_labels_only]
    count = sum(e.target in unseen for e in data.test)
    what = (
        f"{count} of {len(data.test)} test examples carry labels that no train example "
        f"carries: {_shown(unseen)}"
    )
    index = {entry.name: i for i, entry in enumerate(loaded.suite.arms)}
    for config in blind:
        findings.problems.append(
            loaded.problem(
                ("arms", index[config.name], "type"),
                f"{config.type} answers only with labels seen in train, and {what}: it "
                "would get those wrong by construction",
                "add train examples of those labels (check train_per_class/train_max and "
                "--train-limit), or leave this arm out with --arms",
            )
        )
    if len(blind) < len(loaded.arms):
        findings.warnings.append(
            f"{what}; arms that take the label set from task.labels or the data can still "
            "answer them, but no demonstration or tuning example shows one"
        )


def _check_class_sizes(data: TaskData, findings: DataFindings) -> None:
    for split, examples in (("train", data.train), ("test", data.test)):
        counts = Counter(e.target for e in examples)
        if not counts:
            continue
        tiny = [label for label, n in counts.items() if n < TINY_CLASS]
        if tiny and split == "train":
            findings.warnings.append(
                f"{_count(len(tiny), 'label has', 'labels have')} a single train example "
                f"({_shown(tiny)}): arms that learn from examples see almost nothing of them"
            )
        largest, smallest = max(counts.values()), min(counts.values())
        if largest >= IMBALANCE_RATIO * smallest:
            big = counts.most_common(1)[0][0]
            small = min(counts, key=lambda label: counts[label])
            findings.warnings.append(
                f"the {split} classes are imbalanced: {big!r} has {largest} examples, "
                f"{small!r} {smallest}; accuracy mostly measures the large classes (macro_f1 "
                "weighs each label equally)"
            )


def _duplicates(test: Sequence[Example], texts: Iterable[str]) -> tuple[set[int], set[int]]:
    """Indices of test inputs found verbatim (exact) and, of the rest, equal after
    normalisation (near) among ``texts``."""
    pool = list(texts)
    verbatim = {t.strip() for t in pool}
    # A text that normalises to nothing ("The", "?!") is no evidence of a duplicate.
    normalised = {normalise_answer(t) for t in pool} - {""}
    exact = {i for i, e in enumerate(test) if e.input.strip() in verbatim}
    near = {
        i for i, e in enumerate(test) if i not in exact and normalise_answer(e.input) in normalised
    }
    return exact, near


def _check_overlap(loaded: LoadedSuite, data: TaskData, findings: DataFindings) -> None:
    """Test inputs the arms can also see: from train (demonstrations, tuning), dev, and each
    arm's corpus. When the share of test inputs duplicated (exact or near) in any of them is
    above ``task.data.max_test_overlap`` it is an error; any duplicate, or shared 13-word
    runs, is a warning with counts."""
    limit = loaded.suite.task.data.max_test_overlap
    # (name, texts, whether to look for shared 13-word runs): a corpus is documents, which
    # may quote a question at length without holding its answer, and is often large.
    sources: list[tuple[str, list[str], bool]] = [
        ("train", [e.input for e in data.train], True),
        ("dev", [e.input for e in data.dev], True),
    ]
    for config in loaded.arms:
        texts = config.shown_texts(loaded.folder)
        if texts:
            sources.append((f"the corpus of arm {config.name!r}", texts, False))
    total = len(data.test)
    duplicated: set[int] = set()
    counts = []
    for name, texts, runs in sources:
        exact, near = _duplicates(data.test, texts)
        duplicated |= exact | near
        if exact or near:
            counts.append(
                f"{len(exact)} of {total} test inputs appear verbatim in {name}, {len(near)} "
                "more after normalising case, punctuation and articles"
            )
        others = sharing_runs(data.test, texts) - exact - near if runs else set()
        if others:
            findings.warnings.append(
                f"{_count(len(others), 'other test input shares', 'other test inputs share')} "
                f"a run of {NGRAM} words with {name}"
            )
    share = len(duplicated) / max(total, 1)
    if share > limit:
        findings.problems.append(
            loaded.problem(
                ("task", "data", "max_test_overlap"),
                f"{'; '.join(counts)}: {len(duplicated)} test inputs ({share:.0%}) can be "
                f"seen by the arms, above max_test_overlap {limit:g}, so the test split "
                "would measure memory, not skill",
                "remove the duplicates from one side (or, if they are intended, raise "
                "task.data.max_test_overlap)",
            )
        )
    else:
        findings.warnings.extend(f"{c}: those test examples are easier" for c in counts)
