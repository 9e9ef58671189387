"""Did a tuned arm really change the model? Compare its outputs with the base model's.

peft has shipped bugs where a trained adapter was silently not applied (e.g. soft prompts
ignored by ``generate``, peft issue 2123); a LoRA whose B matrices stayed zero changes
nothing either. Either way the "tuned" figures would be the base model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunevsprompt.task.types import Prediction

LOGPROB_TOLERANCE = 1e-4
"""Rank scores closer than this count as unchanged (float noise between code paths)."""


def output_changed(tuned: Prediction, base: Prediction) -> bool:
    """Different text, or (rank decisions) a different log-likelihood for the answer."""
    if tuned.raw_output != base.raw_output:
        return True
    a, b = tuned.extra.get("logprob"), base.extra.get("logprob")
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) > LOGPROB_TOLERANCE
    return False


def integrity_record(
    tuned: Sequence[Prediction], base: Sequence[Prediction], min_changed: float
) -> dict[str, Any]:
    """``changed_fraction``: share of outputs that differ at all; ``ok`` when it reaches
    ``min_changed``. ``prediction_changed_fraction``: share whose decided label/text differs."""
    pairs = list(zip(tuned, base, strict=True))
    n = len(pairs)
    changed = sum(output_changed(t, b) for t, b in pairs)
    decided = sum(t.prediction != b.prediction for t, b in pairs)
    fraction = changed / n if n else 0.0
    return {
        "sample": n,
        "changed_fraction": round(fraction, 6),
        "prediction_changed_fraction": round(decided / n, 6) if n else 0.0,
        "min_changed_fraction": min_changed,
        "ok": bool(n) and fraction >= min_changed,
    }


def quality_against_base(
    tuned: Sequence[float | None], base: Sequence[float | None], metric: str
) -> dict[str, Any] | None:
    """The tuned model's 0/1 metric against the base model's on the same examples: both
    means, the paired difference (tuned − base) and its 95% Tango score interval. None when
    the metric is not 0/1 per example (a graded metric, or one scored on the whole set)."""
    import numpy as np

    from tunevsprompt.measure.stats.proportions import PairedCounts, tango_interval

    values = {*tuned, *base}
    if not tuned or len(tuned) != len(base) or not values <= {0.0, 1.0}:
        return None
    first, second = [float(v or 0.0) for v in tuned], [float(v or 0.0) for v in base]
    counts = PairedCounts.of(np.asarray(first), np.asarray(second))
    low, high = tango_interval(counts, 0.95)
    return {
        "metric": metric,
        "n": len(tuned),
        "tuned": round(sum(first) / len(first), 6),
        "base": round(sum(second) / len(second), 6),
        "difference": round(counts.difference, 6),
        "ci95": [round(low, 6), round(high, 6)],
        "method": "tango-score",
    }
