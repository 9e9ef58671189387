"""The headline metric's figures, computed from per-example scores: each arm's value with its
interval, and each pair of arms' difference with its interval, its test and the variance a
power calculation needs. Which interval depends on the data:

- one seed, a 0/1 metric (accuracy, exact match), independent examples: Clopper–Pearson for
  an arm; Tango's score interval and score test for a difference;
- a mean of graded per-example scores (token F1, ROUGE-L), or any metric over several seeds:
  a t interval on the standard error (two-level when the arm ran several seeds: the
  examples' part plus the seed-to-seed part, with Welch–Satterthwaite degrees of freedom);
- macro-F1 (not a mean over examples): the bootstrap standard error over ``n_boot``
  resamples (vectorised; the same resamples for every arm, so differences are paired), with
  a t reference.

With a cluster field every example-level part is cluster-robust (a sandwich variance on
C − 1 degrees of freedom for means, 0/1 metrics included; whole clusters resampled for
macro-F1) and the design effect is reported. The examples' variance is never taken below the
width Tango's interval keeps when no example differs (``stats.floored``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.measure.score_table import (
    ArmScores,
    MetricKind,
    ScoreTable,
    cluster_codes,
    statistic,
)
from tunevsprompt.measure.stats import (
    Z_80,
    PairedCounts,
    Variance,
    clopper_pearson,
    cluster_variance,
    combine,
    floored,
    mde_paired_proportions,
    resampled_sums,
    satterthwaite_df,
    t_quantile,
    tango_interval,
    tango_p_two_sided,
)

__all__ = ["Figures", "QualitySettings", "single_pass_figure"]


@dataclass(frozen=True)
class QualitySettings:
    confidence: float = 0.95
    n_boot: int = 10_000
    seed: int = 0


ARM = "arm"
"""The arm's name in a one-arm table."""


def single_pass_figure(
    metric: str,
    kind: MetricKind,
    row: NDArray[Any],
    targets: NDArray[np.int64] | None,
    n_labels: int,
    clusters: Sequence[str] | None,
    settings: QualitySettings,
) -> dict[str, Any]:
    """``{value, ci95, method}`` of one pass of one arm (a seed, a learning-curve point, a
    headline pass before the comparisons)."""
    value = statistic(kind, row, targets, n_labels)
    codes = cluster_codes(list(clusters)) if clusters is not None else None
    scores = ArmScores(ARM, np.asarray(row)[None, :], (value,), (0,))
    ids = [str(i) for i in range(len(row))]
    table = ScoreTable(metric, kind, ids, codes, targets, n_labels, {ARM: scores})
    figure = Figures(table, settings).arm(ARM)
    return {k: figure[k] for k in ("value", "ci95", "method")}


# -- macro-F1 from per-unit counts ------------------------------------------------------


def _label_counts(
    y_true: NDArray[np.int64],
    y_pred: NDArray[np.int64],
    n_labels: int,
    units: NDArray[np.int64],
    n_units: int,
) -> NDArray[np.float64]:
    """Per resampling unit: true positives, true counts and predicted counts per label
    (3 × n_labels columns)."""
    stats = np.zeros((n_units, 3 * n_labels), dtype=np.float64)
    hit = (y_pred == y_true) & (y_pred >= 0)
    np.add.at(stats, (units[hit], y_true[hit]), 1.0)
    np.add.at(stats, (units, n_labels + y_true), 1.0)
    parsed = y_pred >= 0
    np.add.at(stats, (units[parsed], 2 * n_labels + y_pred[parsed]), 1.0)
    return stats


def _macro_f1(sums: NDArray[np.float64], n_labels: int) -> NDArray[np.float64]:
    tp = sums[:, :n_labels]
    support = sums[:, n_labels : 2 * n_labels] + sums[:, 2 * n_labels :]
    present = support > 0
    f1 = np.divide(2 * tp, support, out=np.zeros_like(tp), where=present)
    count = present.sum(axis=1)
    out: NDArray[np.float64] = np.divide(
        f1.sum(axis=1), count, out=np.zeros(len(f1)), where=count > 0
    )
    return out


# -- figures ---------------------------------------------------------------------------------


class Figures:
    """Arm and pair figures for one table; macro-F1 bootstrap replicates are drawn once per
    arm, with the same resamples for every arm."""

    def __init__(self, table: ScoreTable, settings: QualitySettings):
        self.table, self.settings = table, settings
        self._replicates: dict[tuple[str, bool], NDArray[np.float64]] = {}

    # the example-level part of the variance -------------------------------------------

    def _mean_part(self, values: NDArray[np.float64]) -> tuple[Variance, float]:
        part, deff = cluster_variance(values, self.table.clusters)
        return floored(part, len(values)), deff

    def _replicates_of(self, arm: str, clustered: bool) -> NDArray[np.float64]:
        """Bootstrap replicates of the arm's macro-F1 (averaged over its seed rows)."""
        key = (arm, clustered)
        if key not in self._replicates:
            table = self.table
            assert table.targets is not None
            n = table.n
            units = table.clusters if clustered and table.clusters is not None else np.arange(n)
            n_units = int(units.max()) + 1 if n else 0
            blocks = [
                _label_counts(table.targets, row, table.n_labels, units, n_units)
                for row in table.arms[arm].rows
            ]
            stats = np.hstack(blocks)
            width = 3 * table.n_labels
            out = []
            for sums in resampled_sums(stats, self.settings.n_boot, self.settings.seed):
                per_row = [
                    _macro_f1(sums[:, i * width : (i + 1) * width], table.n_labels)
                    for i in range(len(blocks))
                ]
                out.append(np.mean(per_row, axis=0))
            self._replicates[key] = np.concatenate(out) if out else np.zeros(0)
        return self._replicates[key]

    def _bootstrap_part(
        self, arms: Sequence[str], signs: Sequence[float]
    ) -> tuple[Variance, float]:
        """Variance of a signed sum of arms' macro-F1 under the bootstrap, and the design
        effect (cluster resampling over example resampling)."""
        table = self.table

        def variance(clustered: bool) -> float:
            combined = sum(
                s * self._replicates_of(a, clustered) for a, s in zip(arms, signs, strict=True)
            )
            return float(np.var(combined, ddof=1))

        if table.units < 2:
            return Variance(math.inf, 1), 1.0
        iid = variance(False)
        if table.clusters is None:
            return floored(Variance(iid, table.n - 1), table.n), 1.0
        clustered = variance(True)
        deff = clustered / iid if iid > 0 else 1.0
        return floored(Variance(clustered, table.units - 1), table.n), deff

    def _seed_parts(self, arms: Sequence[str]) -> list[Variance]:
        parts = []
        for arm in arms:
            values = self.table.arms[arm].seed_values
            if len(values) > 1:
                parts.append(Variance(float(np.var(values, ddof=1)) / len(values), len(values) - 1))
        return parts

    # one arm ------------------------------------------------------------------------

    def arm(self, name: str) -> dict[str, Any]:
        """The arm's ``quality`` record: value, interval, method, n, design effect, seeds."""
        table, confidence = self.table, self.settings.confidence
        scores = table.arms[name]
        value = float(np.mean(scores.seed_values))
        if table.is_binary(name):
            low, high = clopper_pearson(float(scores.rows[0].sum()), table.n, confidence)
            method, deff = "clopper-pearson", 1.0
        else:
            if table.kind == "mean":
                part, deff = self._mean_part(scores.rows.mean(axis=0))
                method = "t"
            else:
                part, deff = self._bootstrap_part([name], [1.0])
                method = "bootstrap-se"
            estimate = combine(value, [part, *self._seed_parts([name])])
            low, high = (min(max(b, 0.0), 1.0) for b in estimate.interval(confidence))
            if scores.multi_seed:
                method += ", seeds × examples"
        figure: dict[str, Any] = {
            "metric": table.metric,
            "value": round(value, 6),
            "ci95": [round(low, 6), round(high, 6)],
            "method": method,
            "n": table.n,
        }
        if table.clusters is not None:
            figure["clusters"] = table.units
            figure["design_effect"] = round(deff, 4)
        if scores.multi_seed:
            values = scores.seed_values
            figure["seeds"] = {
                "n": len(values),
                "values": list(scores.seeds),
                "per_seed": [round(v, 6) for v in values],
                "range": [round(min(values), 6), round(max(values), 6)],
            }
        return figure

    # a pair -------------------------------------------------------------------------

    def pair(self, a: str, b: str) -> dict[str, Any]:
        """The comparisons entry of a − b."""
        table, confidence = self.table, self.settings.confidence
        entry: dict[str, Any] = {"arms": [a, b], "metric": table.metric, "n": table.n}
        if table.is_binary(a) and table.is_binary(b):
            x, y = table.arms[a].rows[0], table.arms[b].rows[0]
            deff = 1.0
            counts = PairedCounts.of(x, y)
            low, high = tango_interval(counts, confidence)
            entry.update(
                difference=round(counts.difference, 6),
                ci95=[round(low, 6), round(high, 6)],
                method="tango-score",
                # The score test at 0, so that the verdict and the interval never disagree.
                test="tango-score",
                p_value=tango_p_two_sided(counts),
                discordance={"a_only": int(counts.first_only), "b_only": int(counts.second_only)},
                discordant_fraction=round(counts.discordance, 6),
                mde=round(mde_paired_proportions(table.n, counts.discordance), 6),
            )
        else:
            difference = float(
                np.mean(table.arms[a].seed_values) - np.mean(table.arms[b].seed_values)
            )
            if table.kind == "mean":
                d = table.arms[a].rows.mean(axis=0) - table.arms[b].rows.mean(axis=0)
                example_part, deff = self._mean_part(d)
                method = "paired-t"
            else:
                example_part, deff = self._bootstrap_part([a, b], [1.0, -1.0])
                method = "paired-bootstrap-se"
            seed_parts = self._seed_parts([a, b])
            estimate = combine(difference, [example_part, *seed_parts])
            low, high = (min(max(v, -1.0), 1.0) for v in estimate.interval(confidence))
            if seed_parts:
                method += ", seeds × examples"
            finite = math.isfinite(estimate.se)
            entry.update(
                difference=round(difference, 6),
                ci95=[round(low, 6), round(high, 6)],
                method=method,
                test=method,
                p_value=estimate.p_two_sided(),
                se=round(estimate.se, 8) if finite else None,
                df=None if math.isinf(estimate.df) else round(estimate.df, 3),
                variance={
                    "examples": example_part.value if finite else None,
                    "examples_df": _finite_or_none(example_part.df),
                    "seeds": sum(p.value for p in seed_parts),
                    "seeds_df": _finite_or_none(satterthwaite_df(seed_parts)),
                },
                mde=round((t_quantile(0.975, estimate.df) + Z_80) * estimate.se, 6)
                if finite
                else None,
            )
        if table.clusters is not None:
            entry["clusters"] = table.units
            entry["design_effect"] = round(deff, 4)
        return entry


def _finite_or_none(value: float) -> float | None:
    """JSON has no infinity: an unbounded figure (no seed spread seen, no df) is null."""
    return value if math.isfinite(value) else None
