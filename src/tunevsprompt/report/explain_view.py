"""The report's "Where the arms differ" section from results.json's ``explanations``: the
anchor's per-class table (worst first), each arm's worst classes and most confused pairs,
and what choosing the anchor over each rival changes, example by example."""

from __future__ import annotations

from typing import Any

from tunevsprompt.report.confusion_chart import PREFIX as CONFUSION_PREFIX
from tunevsprompt.runfolder.results import Results
from tunevsprompt.runfolder.results.explanations import ClassFigures

WORST_PER_ARM = 3
CONFUSIONS_PER_ARM = 5


def worst_first(rows: list[ClassFigures]) -> list[ClassFigures]:
    """The labels the test split holds, lowest F1 first (ties: more examples first)."""
    held = [r for r in rows if r.support > 0]
    return sorted(held, key=lambda r: (r.f1.value if r.f1.value is not None else 0.0, -r.support))


def explanation_view(results: Results, shown_ids: set[str]) -> dict[str, Any] | None:
    """None without explanations. ``shown_ids``: the examples the report's disagreement
    table lists (those ids become links to their rows)."""
    explained = results.explanations
    if explained is None:
        return None
    anchor = explained.anchor
    return {
        "anchor": anchor,
        "anchor_is": explained.anchor_is,
        "per_class": worst_first(explained.per_class.get(anchor or "", [])),
        "worst": {
            arm: worst_first(rows)[:WORST_PER_ARM] for arm, rows in explained.per_class.items()
        },
        "confusions": {
            arm: rows[:CONFUSIONS_PER_ARM] for arm, rows in explained.confusions.items()
        },
        "disagreements": [
            {
                **d.model_dump(),
                "anchor_only_links": [(i, i in shown_ids) for i in d.anchor_only_ids[:20]],
                "rival_only_links": [(i, i in shown_ids) for i in d.rival_only_ids[:20]],
            }
            for d in explained.disagreements
        ],
        "heatmaps": [CONFUSION_PREFIX + arm for arm in explained.matrices or {}],
        "calibration": explained.calibration or {},
        "slices": explained.slices or {},
        "abstention": explained.abstention or {},
    }
