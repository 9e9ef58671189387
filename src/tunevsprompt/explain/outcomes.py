"""Each arm's answers on the test split as integer codes over one label list, the input of
every explanation: the target's code, the prediction's (-1 when it parsed to no label), and
the example ids in one order shared by every arm."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class ArmOutcomes:
    """One arm's test answers, by example id (the order of ``ids``)."""

    ids: list[str]
    targets: NDArray[np.int64]
    predictions: NDArray[np.int64]
    """-1: no label (the answer could not be parsed into one)."""

    @property
    def correct(self) -> NDArray[np.bool_]:
        same: NDArray[np.bool_] = np.equal(self.targets, self.predictions)
        return same


def classification_outcomes(
    rows: Iterable[Mapping[str, Any]], labels: Sequence[str]
) -> tuple[list[str], dict[str, ArmOutcomes]]:
    """The label list (``labels``, the task's, then any label the rows carry that it lacks)
    and every arm's outcomes from samples.jsonl rows, coded by it."""
    names = list(labels)
    code = {label: i for i, label in enumerate(names)}
    by_arm: dict[str, list[tuple[str, int, int]]] = {}
    for row in rows:
        target, prediction = str(row.get("target")), row.get("prediction")
        for label in (target, prediction):
            if label is not None and str(label) not in code:
                code[str(label)] = len(names)
                names.append(str(label))
        coded = (
            str(row.get("id")),
            code[target],
            -1 if prediction is None else code[str(prediction)],
        )
        by_arm.setdefault(str(row.get("arm")), []).append(coded)
    out = {}
    for arm, items in by_arm.items():
        items.sort(key=lambda item: item[0])
        out[arm] = ArmOutcomes(
            [i for i, _, _ in items],
            np.array([t for _, t, _ in items], dtype=np.int64),
            np.array([p for _, _, p in items], dtype=np.int64),
        )
    return names, out
