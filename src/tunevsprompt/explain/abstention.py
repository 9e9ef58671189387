"""Abstention for suites with an out-of-scope label (``task.abstain_label``, e.g. CLINC150's
``oos``): an arm answers that label whenever its confidence is below a threshold chosen on
the dev split (``choose_threshold``), and the test split then says what abstaining changes:
out-of-scope recall and in-scope accuracy, without and with it (``abstention_figures``)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from tunevsprompt.measure.stats import CI_LEVEL
from tunevsprompt.measure.stats.proportions import PairedCounts, clopper_pearson, tango_interval


def choose_threshold(
    confidences: Sequence[float],
    predictions: Sequence[str | None],
    targets: Sequence[str],
    label: str,
) -> tuple[float, float, float]:
    """The threshold that maximises dev accuracy once answers below it become ``label``,
    with dev accuracy without and with it. Every threshold between two neighbouring dev
    confidences does the same on dev, so the candidates are 0 (never abstain) and the
    midpoints between them (the middle of each equally good interval, not its edge); among
    equally accurate ones the lowest wins (abstaining least)."""

    def accuracy(threshold: float) -> float:
        right = sum(
            (label if c < threshold else p) == t
            for c, p, t in zip(confidences, predictions, targets, strict=True)
        )
        return right / max(len(targets), 1)

    distinct = sorted({float(c) for c in confidences})
    midpoints = [(a + b) / 2 for a, b in itertools.pairwise(distinct)]
    candidates = [0.0, *midpoints]
    best = max(candidates, key=lambda t: (accuracy(t), -t))
    return best, accuracy(0.0), accuracy(best)


def _share(hits: int, n: int) -> dict[str, Any]:
    if n == 0:
        return {"value": None, "ci95": None, "method": "clopper-pearson", "n": 0}
    low, high = clopper_pearson(float(hits), float(n), CI_LEVEL)
    return {
        "value": round(hits / n, 6),
        "ci95": [round(low, 6), round(high, 6)],
        "method": "clopper-pearson",
        "n": n,
    }


def _figures(answers: Sequence[str | None], targets: Sequence[str], label: str) -> dict[str, Any]:
    pairs = list(zip(answers, targets, strict=True))
    out_of_scope = [(a, t) for a, t in pairs if t == label]
    in_scope = [(a, t) for a, t in pairs if t != label]
    return {
        "accuracy": _share(sum(a == t for a, t in pairs), len(pairs)),
        "out_of_scope_recall": _share(sum(a == label for a, _ in out_of_scope), len(out_of_scope)),
        "in_scope_accuracy": _share(sum(a == t for a, t in in_scope), len(in_scope)),
        "answered_out_of_scope": _share(sum(a == label for a, _ in pairs), len(pairs)),
    }


def abstention_figures(
    rows: Sequence[Mapping[str, Any]], label: str, threshold: float
) -> dict[str, Any] | None:
    """One arm's test figures as it answered and with abstention below ``threshold`` (None
    when an answer carries no confidence)."""
    if any(row.get("confidence") is None for row in rows):
        return None
    targets = [str(row["target"]) for row in rows]
    answered = [row.get("prediction") for row in rows]
    abstaining = [
        label if float(row["confidence"]) < threshold else row.get("prediction") for row in rows
    ]
    return {
        "label": label,
        "threshold": threshold,
        "as_answered": _figures(answered, targets, label),
        "abstaining": _figures(abstaining, targets, label),
        "change": {
            "out_of_scope_recall": _paired_change(abstaining, answered, targets, label, True),
            "in_scope_accuracy": _paired_change(abstaining, answered, targets, label, False),
        },
    }


def _paired_change(
    after: Sequence[str | None],
    before: Sequence[str | None],
    targets: Sequence[str],
    label: str,
    out_of_scope: bool,
) -> dict[str, Any]:
    """abstaining − as answered on the same examples (the out-of-scope ones, or the others),
    with Tango's paired interval: the two figures share their examples, so their own
    intervals overlapping says nothing about the change."""
    pairs = [
        (a == t, b == t)
        for a, b, t in zip(after, before, targets, strict=True)
        if (t == label) == out_of_scope
    ]
    counts = PairedCounts(
        float(sum(a and not b for a, b in pairs)),
        float(sum(b and not a for a, b in pairs)),
        len(pairs),
    )
    if not pairs:
        return {"difference": None, "ci95": None, "method": "tango-score", "n": 0}
    low, high = tango_interval(counts, CI_LEVEL)
    return {
        "difference": round(counts.difference, 6),
        "ci95": [round(low, 6), round(high, 6)],
        "method": "tango-score",
        "n": len(pairs),
    }
