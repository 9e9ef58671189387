"""Does an arm's confidence mean anything? From each answer's confidence (the probability
the arm gave the label it answered) and whether it was right:

- expected calibration error over 10 equal-width bins, with an interval built from each
  bin's Clopper–Pearson interval (``ece_interval``), honest where a bootstrap is not;
- the top-label Brier score, mean((confidence − right)²), with a t interval;
- the reliability diagram: per bin, the mean confidence and the accuracy (Clopper–Pearson);
- risk–coverage: the accuracy of the answers kept when the arm may decline the least
  confident ones, at each coverage from 10% to 100% (Clopper–Pearson; ties in confidence
  broken at random, in expectation), and its mean over coverage."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.measure.stats import CI_LEVEL
from tunevsprompt.measure.stats.means import t_quantile
from tunevsprompt.measure.stats.proportions import clopper_pearson

BINS = 10
COVERAGES = tuple(round(0.1 * k, 1) for k in range(1, 11))


def _bin_of(confidence: NDArray[np.float64]) -> NDArray[np.int64]:
    """Bin k holds (k/10, (k+1)/10]; a confidence of 0 falls in the first."""
    index: NDArray[np.int64] = np.clip(np.ceil(confidence * BINS).astype(np.int64) - 1, 0, BINS - 1)
    return index


def ece(confidence: NDArray[np.float64], right: NDArray[np.float64]) -> float:
    """Σ over bins of (bin share) × |accuracy − mean confidence|."""
    bins = _bin_of(confidence)
    counts = np.bincount(bins, minlength=BINS)
    gap = np.bincount(bins, weights=right - confidence, minlength=BINS)
    return float(np.abs(gap).sum() / max(len(confidence), 1)) if counts.any() else 0.0


def ece_interval(
    confidence: NDArray[np.float64], right: NDArray[np.float64]
) -> tuple[float, float]:
    """A 95% interval for the calibration error given the answers' confidences: in each bin
    the accuracy's Clopper–Pearson interval (Bonferroni over the non-empty bins) bounds
    |accuracy − mean confidence| from below (the distance from the confidence to the
    interval, 0 inside it) and from above (the farther end), and the bins' shares weigh them.
    A bootstrap cannot do this: ECE is biased upward on few examples (noise in each bin's
    accuracy reads as error), and a perfectly calibrated arm's percentile interval almost
    never reaches 0."""
    bins = _bin_of(confidence)
    n = len(confidence)
    filled = [k for k in range(BINS) if (bins == k).any()]
    level = 1 - (1 - CI_LEVEL) / max(len(filled), 1)
    low = high = 0.0
    for k in filled:
        inside = bins == k
        count = int(inside.sum())
        mean = float(confidence[inside].mean())
        a_low, a_high = clopper_pearson(float(right[inside].sum()), float(count), level)
        weight = count / n
        low += weight * max(0.0, mean - a_high, a_low - mean)
        high += weight * max(a_high - mean, mean - a_low)
    return low, high


def _figure(value: float, ci: tuple[float, float], method: str) -> dict[str, Any]:
    return {"value": round(value, 6), "ci95": [round(ci[0], 6), round(ci[1], 6)], "method": method}


def brier(confidence: NDArray[np.float64], right: NDArray[np.float64]) -> dict[str, Any]:
    values = (confidence - right) ** 2
    n = len(values)
    mean = float(values.mean())
    if n < 2:
        return _figure(mean, (mean, mean), "t")
    half = t_quantile(1 - (1 - CI_LEVEL) / 2, n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
    return _figure(mean, (max(0.0, mean - half), min(1.0, mean + half)), "t")


def reliability(
    confidence: NDArray[np.float64], right: NDArray[np.float64]
) -> list[dict[str, Any]]:
    bins = _bin_of(confidence)
    rows = []
    for k in range(BINS):
        inside = bins == k
        n = int(inside.sum())
        if not n:
            continue
        hits = float(right[inside].sum())
        low, high = clopper_pearson(hits, float(n), CI_LEVEL)
        rows.append(
            {
                "bin": [k / BINS, (k + 1) / BINS],
                "n": n,
                "confidence": round(float(confidence[inside].mean()), 6),
                "accuracy": _figure(hits / n, (low, high), "clopper-pearson"),
            }
        )
    return rows


def expected_hits(
    confidence: NDArray[np.float64], right: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Element k−1: the expected number right among the k most confident answers, ties in
    confidence broken at random (a tied block counts its mean accuracy per answer), so the
    figures do not depend on the order of the examples."""
    order = np.argsort(-confidence, kind="stable")
    ranked, hits = confidence[order], right[order]
    expected = np.empty(len(order))
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and ranked[end + 1] == ranked[start]:
            end += 1
        mean = float(hits[start : end + 1].mean())
        expected[start : end + 1] = mean
        start = end + 1
    cumulative: NDArray[np.float64] = np.cumsum(expected)
    return cumulative


def risk_coverage(
    confidence: NDArray[np.float64], right: NDArray[np.float64]
) -> tuple[list[dict[str, Any]], float]:
    """Accuracy of the most confident share of answers at each coverage, and its mean over
    every coverage step (1 = right whenever it answers); ties broken at random, in
    expectation (``expected_hits``). The interval is Clopper–Pearson on the expected count."""
    cumulative = expected_hits(confidence, right)
    ranked = np.sort(confidence)[::-1]
    n = len(confidence)
    rows = []
    for coverage in COVERAGES:
        kept = max(1, round(coverage * n))
        hits = float(cumulative[kept - 1])
        low, high = clopper_pearson(hits, float(kept), CI_LEVEL)
        rows.append(
            {
                "coverage": coverage,
                "answered": kept,
                "threshold": round(float(ranked[kept - 1]), 6),
                "accuracy": _figure(hits / kept, (low, high), "clopper-pearson"),
            }
        )
    area = float((cumulative / np.arange(1, n + 1)).mean()) if n else 0.0
    return rows, round(area, 6)


def calibration(confidence: NDArray[np.float64], right: NDArray[np.float64]) -> dict[str, Any]:
    """Every figure for one arm (``confidence`` and ``right`` aligned, right as 0/1)."""
    curve, area = risk_coverage(confidence, right)
    return {
        "n": len(confidence),
        "mean_confidence": round(float(confidence.mean()), 6),
        "accuracy": round(float(right.mean()), 6),
        "ece": _figure(
            ece(confidence, right), ece_interval(confidence, right), "bonferroni-clopper-pearson"
        ),
        "brier": brier(confidence, right),
        "bins": BINS,
        "reliability": reliability(confidence, right),
        "risk_coverage": curve,
        "accuracy_coverage_area": area,
    }
