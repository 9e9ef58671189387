"""results.json's ``explanations``: per-class figures and top confusions of every arm, the
whole confusion matrix of the anchor and of the best arm (for the heatmaps), and the
anchor's disagreements with each rival, from a classification run's samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tunevsprompt.explain.abstention import abstention_figures
from tunevsprompt.explain.calibration import calibration
from tunevsprompt.explain.confusions import confusion_matrix, top_confusions
from tunevsprompt.explain.disagreements import against
from tunevsprompt.explain.outcomes import classification_outcomes
from tunevsprompt.explain.per_class import per_class
from tunevsprompt.explain.slices import slices


def anchor_arm(results: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The arm the others are held against, and why: the recommended one, else the one the
    decision says leads, else the one with the highest headline figure."""
    recommendation = results.get("recommendation") or {}
    if recommendation.get("arm"):
        return str(recommendation["arm"]), "recommended"
    if recommendation.get("leading"):
        return str(recommendation["leading"]), "leading"
    best = best_arm(results)
    return (best, "highest headline figure") if best is not None else (None, None)


def best_arm(results: Mapping[str, Any]) -> str | None:
    """The arm with the highest headline figure (the first of equals)."""
    scored = [
        (-record["quality"]["value"], i, name)
        for i, (name, record) in enumerate((results.get("arms") or {}).items())
        if (record.get("quality") or {}).get("value") is not None
    ]
    return min(scored)[2] if scored else None


def explanations(
    results: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """None without samples, and for a generation task without slices."""
    task = results.get("task") or {}
    fields = sorted({f for row in rows for f in row.get("slices") or {}})
    sliced = slices(rows, fields, str(task.get("primary_metric") or "accuracy"))
    if task.get("type") != "classification" or not rows:
        if not rows or sliced is None:
            return None
        anchor, why = anchor_arm(results)
        return {
            "anchor": anchor,
            "anchor_is": why,
            "per_class": {},
            "confusions": {},
            "disagreements": [],
            "slices": sliced,
        }
    labels, outcomes = classification_outcomes(rows, task.get("labels") or [])
    anchor, why = anchor_arm(results)
    drawn = [arm for arm in dict.fromkeys([anchor, best_arm(results)]) if arm in outcomes]
    return {
        "anchor": anchor,
        "anchor_is": why,
        "labels": labels,
        "matrices": {arm: confusion_matrix(outcomes[arm], len(labels)).tolist() for arm in drawn},
        "per_class": {arm: per_class(o, labels) for arm, o in outcomes.items()},
        "confusions": {arm: top_confusions(o, labels) for arm, o in outcomes.items()},
        "disagreements": against(anchor, outcomes) if anchor in outcomes else [],
        "calibration": calibrations(rows),
        "slices": sliced,
        "abstention": _abstention(results, rows),
    }


def _abstention(
    results: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Per arm with a dev-chosen threshold: its test figures without and with abstention."""
    out = {}
    for arm, record in (results.get("arms") or {}).items():
        chosen = record.get("abstention") or {}
        if chosen.get("threshold") is None:
            continue
        own = [row for row in rows if row.get("arm") == arm]
        figures = abstention_figures(own, str(chosen["label"]), float(chosen["threshold"]))
        if figures is not None:
            out[arm] = figures
    return out or None


def calibrations(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Per arm whose every test answer carries a confidence: its calibration figures (None
    when no arm's does)."""
    by_arm: dict[str, list[tuple[str, Any, bool]]] = {}
    for row in rows:
        item = (str(row.get("id")), row.get("confidence"), bool(row.get("correct")))
        by_arm.setdefault(str(row.get("arm")), []).append(item)
    out = {}
    for arm, items in by_arm.items():
        if any(confidence is None for _, confidence, _ in items):
            continue
        items.sort(key=lambda item: item[0])
        confidence = np.array([float(c) for _, c, _ in items])
        right = np.array([float(r) for _, _, r in items])
        out[arm] = calibration(confidence, right)
    return out or None
