"""Every pair of arms compared on the same examples, in the headline metric: the difference
with its paired interval and a two-sided test (see ``quality`` for which), Holm's correction
across all pairs, and the minimum detectable effect at this n. This table describes the run;
the recommendation makes its own, narrower family of comparisons (``decide.rule``).

A significant difference is a difference. The minimum detectable effect is information (how
large a difference this many examples would find 80% of the time), never a filter."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from tunevsprompt.measure.quality import Figures
from tunevsprompt.measure.stats import holm

ALPHA = 0.05
INCONCLUSIVE = "INCONCLUSIVE"


def compare_arms(figures: Figures) -> list[dict[str, Any]]:
    """One entry per pair of arms (in the table's order), Holm-corrected across all pairs."""
    entries = [figures.pair(a, b) for a, b in combinations(list(figures.table.arms), 2)]
    for entry, adjusted in zip(entries, holm([e["p_value"] for e in entries]), strict=True):
        entry["p_holm"] = adjusted
        entry["verdict"], entry["winner"] = verdict(entry)
    return entries


def verdict(entry: dict[str, Any]) -> tuple[str, str | None]:
    """``<arm> better`` when significant after Holm, else INCONCLUSIVE."""
    if entry["p_holm"] >= ALPHA:
        return INCONCLUSIVE, None
    winner = entry["arms"][0] if float(entry["difference"]) > 0 else entry["arms"][1]
    return f"{winner} better", winner
