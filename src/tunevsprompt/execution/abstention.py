"""The dev pass of an arm in a suite with ``task.abstain_label`` whose test answers carry a
confidence: the arm answers a sample of the dev split drawn at random (so the out-of-scope
share is the data's, as on the test split), and the confidence below which it should answer
the out-of-scope label instead is chosen there (never on the test split). Tuned and
searched arms chose their weights or prompt on dev too, so their dev accuracy is somewhat
optimistic, and the threshold leans towards abstaining too little."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tunevsprompt.explain.abstention import choose_threshold
from tunevsprompt.task.data import stratified_sample
from tunevsprompt.task.types import Example, Prediction

DEV_LIMIT = 1000
"""Dev examples answered to choose the threshold (a random sample beyond that)."""

FEW_OUT_OF_SCOPE = 10
"""Fewer out-of-scope dev examples than this: the record says the threshold is shaky."""


def dev_threshold(
    label: str,
    dev: Sequence[Example],
    predict: Callable[[Sequence[Example]], list[Prediction]],
    batch_size: int,
    seed: int,
) -> dict[str, Any]:
    """``arms.<name>.abstention``: the threshold and the dev figures it was chosen on."""
    sample = stratified_sample(dev, None, DEV_LIMIT, seed, "abstain-dev", False)
    if not sample:
        return {"label": label, "threshold": None, "reason": "the dev split is empty"}
    predictions: list[Prediction] = []
    for start in range(0, len(sample), batch_size):
        predictions.extend(predict(sample[start : start + batch_size]))
    if any(p.extra.get("confidence") is None for p in predictions):
        return {
            "label": label,
            "threshold": None,
            "reason": "the arm's answers carry no confidence (answers by generation)",
        }
    threshold, without, with_it = choose_threshold(
        [float(p.extra["confidence"]) for p in predictions],
        [p.prediction for p in predictions],
        [e.target for e in sample],
        label,
    )
    out_of_scope = sum(e.target == label for e in sample)
    return {
        "label": label,
        "threshold": round(threshold, 6),
        "dev_n": len(sample),
        "dev_out_of_scope": out_of_scope,
        "dev_accuracy_as_answered": round(without, 6),
        "dev_accuracy_abstaining": round(with_it, 6),
        **(
            {"reason": f"only {out_of_scope} out-of-scope dev examples: a shaky threshold"}
            if out_of_scope < FEW_OUT_OF_SCOPE
            else {}
        ),
    }
