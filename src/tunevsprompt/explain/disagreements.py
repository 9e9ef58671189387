"""What choosing one arm over another changes, example by example: against the anchor (the
recommended arm, else the leading one), each rival's paired table — both right, only the
anchor right, only the rival right, both wrong — with the examples of the two discordant
cells. Those cells are the discordant pairs the paired tests of the decision count."""

from __future__ import annotations

from typing import Any

import numpy as np

from tunevsprompt.explain.outcomes import ArmOutcomes

MAX_IDS = 100
"""Example ids kept per discordant cell (the counts are always complete)."""


def against(
    anchor: str, outcomes: dict[str, ArmOutcomes], most: int = MAX_IDS
) -> list[dict[str, Any]]:
    """The anchor against every other arm, on the test examples both answered."""
    base = outcomes[anchor]
    rows = []
    for rival, theirs in outcomes.items():
        if rival == anchor:
            continue
        shared = sorted(set(base.ids) & set(theirs.ids))
        mine_ok = _correct_on(base, shared)
        rival_ok = _correct_on(theirs, shared)
        anchor_only = [i for i, a, b in zip(shared, mine_ok, rival_ok, strict=True) if a and not b]
        rival_only = [i for i, a, b in zip(shared, mine_ok, rival_ok, strict=True) if b and not a]
        rows.append(
            {
                "rival": rival,
                "n": len(shared),
                "both_right": int(np.sum(mine_ok & rival_ok)),
                "anchor_only": len(anchor_only),
                "rival_only": len(rival_only),
                "both_wrong": int(np.sum(~mine_ok & ~rival_ok)),
                "anchor_only_ids": anchor_only[:most],
                "rival_only_ids": rival_only[:most],
            }
        )
    return rows


def _correct_on(outcomes: ArmOutcomes, ids: list[str]) -> np.ndarray:
    position = {ident: i for i, ident in enumerate(outcomes.ids)}
    return np.array([bool(outcomes.correct[position[i]]) for i in ids], dtype=bool)
