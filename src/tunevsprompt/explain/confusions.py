"""Which labels an arm mistakes for which: the most frequent (true label, answered label)
pairs, each with its share of the true label's test examples (Clopper–Pearson), and the
whole matrix for the heatmap."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.explain.outcomes import ArmOutcomes
from tunevsprompt.measure.stats import CI_LEVEL
from tunevsprompt.measure.stats.proportions import clopper_pearson

NO_LABEL = "(no label)"
"""The answered "label" of an answer that parsed to none."""


def confusion_matrix(outcomes: ArmOutcomes, n_labels: int) -> NDArray[np.int64]:
    """Counts by [true label, answered label]; the last column is "no label"."""
    answered = np.where(outcomes.predictions >= 0, outcomes.predictions, n_labels)
    flat = outcomes.targets * (n_labels + 1) + answered
    return np.bincount(flat, minlength=n_labels * (n_labels + 1)).reshape(n_labels, -1)


def top_confusions(
    outcomes: ArmOutcomes, labels: list[str], most: int = 10
) -> list[dict[str, Any]]:
    """The ``most`` largest off-diagonal cells, largest first (ties in label order)."""
    n_labels = len(labels)
    matrix = confusion_matrix(outcomes, n_labels)
    support = matrix.sum(axis=1)
    cells = [
        (int(matrix[t, a]), t, a)
        for t in range(n_labels)
        for a in range(n_labels + 1)
        if t != a and matrix[t, a] > 0
    ]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    rows = []
    for count, t, a in cells[:most]:
        low, high = clopper_pearson(float(count), float(support[t]), CI_LEVEL)
        rows.append(
            {
                "target": labels[t],
                "answered": labels[a] if a < n_labels else NO_LABEL,
                "count": count,
                "share": {
                    "value": round(count / support[t], 6),
                    "ci95": [round(low, 6), round(high, 6)],
                    "method": "clopper-pearson",
                },
            }
        )
    return rows
