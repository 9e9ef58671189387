"""Precision, recall and F1 of each label, with 95% intervals: Clopper–Pearson for
precision (over the examples answered with the label) and recall (over its support), and
for F1 the F1 of their 97.5% bounds (``f1_interval``), which stays honest on the few
examples a class has, where a bootstrap collapses to a point. F1 follows scikit-learn's
``f1_score(average=None, zero_division=0)``; an answer that parsed to no label counts
against its true label's recall and in no label's precision."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.explain.outcomes import ArmOutcomes
from tunevsprompt.measure.stats import CI_LEVEL
from tunevsprompt.measure.stats.proportions import clopper_pearson


def _counts(
    targets: NDArray[np.int64], predictions: NDArray[np.int64], n_labels: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per label: support (true count), predicted count, true positives."""
    support = np.bincount(targets, minlength=n_labels)
    parsed = predictions >= 0
    predicted = np.bincount(predictions[parsed], minlength=n_labels)
    hits = np.bincount(targets[targets == predictions], minlength=n_labels)
    return support, predicted, hits


def _f1(support: NDArray[Any], predicted: NDArray[Any], hits: NDArray[Any]) -> NDArray[Any]:
    total = support + predicted
    f1: NDArray[Any] = np.divide(
        2 * hits, total, out=np.zeros(total.shape, dtype=float), where=total > 0
    )
    return f1


def _figure(value: float | None, ci: tuple[float, float] | None, method: str) -> dict[str, Any]:
    if value is None or ci is None:
        shown = None if value is None else round(value, 6)
        return {"value": shown, "ci95": None, "method": method}
    return {"value": round(value, 6), "ci95": [round(ci[0], 6), round(ci[1], 6)], "method": method}


def _harmonic(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def f1_interval(hits: int, predicted: int, support: int) -> tuple[float, float] | None:
    """F1 is increasing in precision and in recall, so the F1 of their lower bounds and of
    their upper bounds bound it, with at least 95% coverage when each bound is a 97.5%
    Clopper–Pearson interval (Bonferroni). Never predicted: precision anywhere in [0, 1].
    None when the test split lacks the label (no recall to bound)."""
    if support == 0:
        return None
    level = 1 - (1 - CI_LEVEL) / 2
    r_low, r_high = clopper_pearson(float(hits), float(support), level)
    p_low, p_high = (
        clopper_pearson(float(hits), float(predicted), level) if predicted else (0.0, 1.0)
    )
    return _harmonic(p_low, r_low), _harmonic(p_high, r_high)


def _share(hits: int, n: int) -> dict[str, Any]:
    """hits / n with its Clopper–Pearson interval (no value when n is 0)."""
    if not n:
        return _figure(None, None, "clopper-pearson")
    return _figure(hits / n, clopper_pearson(float(hits), float(n), CI_LEVEL), "clopper-pearson")


def per_class(outcomes: ArmOutcomes, labels: list[str]) -> list[dict[str, Any]]:
    """One row per label that the test split holds or the arm predicted, in label order."""
    n_labels = len(labels)
    support, predicted, hits = _counts(outcomes.targets, outcomes.predictions, n_labels)
    f1 = _f1(support, predicted, hits)
    rows = []
    for i, label in enumerate(labels):
        if support[i] == 0 and predicted[i] == 0:
            continue
        precision = _share(int(hits[i]), int(predicted[i]))
        recall = _share(int(hits[i]), int(support[i]))
        rows.append(
            {
                "label": label,
                "support": int(support[i]),
                "predicted": int(predicted[i]),
                "correct": int(hits[i]),
                "precision": precision,
                "recall": recall,
                "f1": _figure(
                    float(f1[i]),
                    f1_interval(int(hits[i]), int(predicted[i]), int(support[i])),
                    "bonferroni-clopper-pearson",
                ),
            }
        )
    return rows
