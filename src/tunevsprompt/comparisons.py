"""Every pair of arms compared on the same examples: the difference in the headline metric
with its paired CI, a test (McNemar's exact test for per-example correctness, a paired
bootstrap test otherwise), Holm's correction across the pairs, and the minimum detectable
effect at this n. A difference smaller than its MDE, or not significant after correction,
is INCONCLUSIVE, never a win."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.stats import (
    holm,
    mcnemar_exact,
    mde_paired_means,
    mde_paired_proportions,
    paired_bootstrap_p,
    paired_difference_ci,
)

ALPHA = 0.05
INCONCLUSIVE = "INCONCLUSIVE"


def per_example_values(
    samples: Iterable[Mapping[str, Any]], metric: str
) -> tuple[list[str], dict[str, NDArray[np.float64]]]:
    """Per-arm arrays of ``metric`` over the examples every arm has, in one shared order
    (samples.jsonl rows: ``arm``, ``id``, ``scores``)."""
    by_arm: dict[str, dict[str, float]] = {}
    for row in samples:
        scores = row.get("scores") or {}
        if metric in scores:
            by_arm.setdefault(str(row["arm"]), {})[str(row["id"])] = float(scores[metric])
    if not by_arm:
        return [], {}
    shared = set.intersection(*(set(v) for v in by_arm.values()))
    ids = sorted(shared)
    return ids, {arm: np.array([v[i] for i in ids], dtype=np.float64) for arm, v in by_arm.items()}


def is_binary(values: Mapping[str, NDArray[np.float64]]) -> bool:
    """Whether every value is 0 or 1 (per-example correctness)."""
    return all(bool(np.isin(v, (0.0, 1.0)).all()) for v in values.values())


def compare_arms(
    values: Mapping[str, NDArray[np.float64]], metric: str, n_boot: int, seed: int
) -> list[dict[str, Any]]:
    """One entry per pair of arms (in the given order), Holm-corrected across all pairs."""
    binary = is_binary(values)
    entries: list[dict[str, Any]] = []
    for a, b in combinations(list(values), 2):
        x, y = values[a], values[b]
        difference, ci = paired_difference_ci(x, y, n_boot, seed)
        entry: dict[str, Any] = {
            "arms": [a, b],
            "metric": metric,
            "n": len(x),
            "difference": round(difference, 6),
            "ci95": [round(ci[0], 6), round(ci[1], 6)],
        }
        if binary:
            test = mcnemar_exact(x, y)
            entry.update(
                test="mcnemar-exact",
                p_value=test.p_value,
                discordance={"a_only": test.a_only, "b_only": test.b_only},
                discordant_fraction=round(test.discordance, 6),
                mde=round(mde_paired_proportions(len(x), test.discordance), 6),
            )
        else:
            entry.update(
                test="paired-bootstrap",
                p_value=paired_bootstrap_p(x, y, n_boot, seed),
                mde=round(mde_paired_means(x - y), 6),
            )
        entries.append(entry)
    for entry, adjusted in zip(entries, holm([e["p_value"] for e in entries]), strict=True):
        entry["p_holm"] = adjusted
        entry["verdict"], entry["winner"] = _verdict(entry)
    return entries


def _verdict(entry: dict[str, Any]) -> tuple[str, str | None]:
    """``<arm> better`` only when significant after Holm and at least as large as the MDE."""
    difference = float(entry["difference"])
    if entry["p_holm"] >= ALPHA or abs(difference) < float(entry["mde"]):
        return INCONCLUSIVE, None
    winner = entry["arms"][0] if difference > 0 else entry["arms"][1]
    return f"{winner} better", winner
