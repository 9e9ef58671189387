"""Every arm's quality on each slice of the test split: the examples sharing a value of a
field the suite names under ``slices`` (a channel, a language). The figure is the headline
metric where it is scored per example, else accuracy (macro-F1 has no per-example value),
with its 95% interval: Clopper–Pearson for a 0/1 score, t for a graded one."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from tunevsprompt.measure.stats import CI_LEVEL
from tunevsprompt.measure.stats.means import t_quantile
from tunevsprompt.measure.stats.proportions import clopper_pearson

MAX_VALUES = 50
"""Slices shown per field, largest first (the rest are counted in ``other_values``)."""

MISSING = "(none)"


def _figure(scores: Sequence[float]) -> dict[str, Any]:
    """The mean with its interval: Clopper–Pearson for 0/1 scores; t otherwise, cut to
    [0, 1] when every score lies there, and none for a single graded score."""
    n = len(scores)
    mean = sum(scores) / n
    ci: list[float] | None
    if all(s in (0.0, 1.0) for s in scores):
        low, high = clopper_pearson(sum(scores), float(n), CI_LEVEL)
        ci, method = [round(low, 6), round(high, 6)], "clopper-pearson"
    elif n > 1:
        sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
        half = t_quantile(1 - (1 - CI_LEVEL) / 2, n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
        if all(0.0 <= s <= 1.0 for s in scores):
            low, high = max(0.0, low), min(1.0, high)
        ci, method = [round(low, 6), round(high, 6)], "t"
    else:
        ci, method = None, "t"
    return {"value": round(mean, 6), "ci95": ci, "method": method, "n": n}


def _score(row: Mapping[str, Any], metric: str) -> float | None:
    value = (row.get("scores") or {}).get(metric)
    return None if value is None else float(value)


def slice_metric(rows: Sequence[Mapping[str, Any]], headline: str) -> str | None:
    """The headline metric when every row scores it per example, else accuracy, else None."""
    for metric in (headline, "accuracy"):
        if rows and all(_score(row, metric) is not None for row in rows):
            return metric
    return None


def slices(
    rows: Sequence[Mapping[str, Any]], fields: Sequence[str], headline: str
) -> dict[str, Any] | None:
    """{field: {metric, values: [{value, n, arms: {arm: figure}}], other_values}}."""
    metric = slice_metric(rows, headline)
    if not fields or metric is None:
        return None
    out = {}
    for field in fields:
        scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            value = (row.get("slices") or {}).get(field)
            score = _score(row, metric)
            if score is not None:
                scores[MISSING if value in (None, "") else str(value)][str(row["arm"])].append(
                    score
                )
        ranked = sorted(scores, key=lambda v: (-max(len(s) for s in scores[v].values()), v))
        out[field] = {
            "metric": metric,
            "values": [
                {
                    "value": value,
                    "n": max(len(s) for s in scores[value].values()),
                    "arms": {arm: _figure(s) for arm, s in scores[value].items()},
                }
                for value in ranked[:MAX_VALUES]
            ],
            "other_values": max(0, len(ranked) - MAX_VALUES),
        }
    return out
