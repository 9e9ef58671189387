"""The headline metric's per-example scores of every arm on the examples all arms share, in
one order: one row per seed pass whose examples are known, the per-seed figures, the label
codes for macro-F1, and the cluster of each example. Built from samples.jsonl and
seed_samples.jsonl rows; the figures are computed from it in ``quality``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.measure.metrics import macro_f1_codes

MetricKind = Literal["mean", "macro_f1"]
MACRO_F1 = "macro_f1"


@dataclass(frozen=True)
class ArmScores:
    """One arm on the shared examples: ``rows`` holds one row per pass whose examples are
    known (the headline pass first, then further seeds): per-example values for a mean
    metric, prediction codes for macro-F1 (−1: no label). ``seed_values`` holds the headline
    figure of every seed the arm ran (one entry for a single seed)."""

    name: str
    rows: NDArray[Any]
    seed_values: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def multi_seed(self) -> bool:
        return len(self.seed_values) > 1


@dataclass(frozen=True)
class ScoreTable:
    """Every arm's scores on the examples all arms share, in one order."""

    metric: str
    kind: MetricKind
    ids: list[str]
    clusters: NDArray[np.int64] | None
    targets: NDArray[np.int64] | None
    n_labels: int
    arms: dict[str, ArmScores]
    note: str | None = None
    """Why the tested metric is not the headline one, when it is not."""

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def units(self) -> int:
        """Resampling units: clusters when there are clusters, else examples."""
        if self.clusters is None:
            return self.n
        return len(np.unique(self.clusters))

    def is_binary(self, arm: str) -> bool:
        """0/1 scores from one seed on independent examples: the exact and score methods
        apply (with clusters or seeds the t path does)."""
        scores = self.arms[arm]
        return (
            self.kind == "mean"
            and self.clusters is None
            and not scores.multi_seed
            and bool(np.isin(scores.rows[0], (0.0, 1.0)).all())
        )


# -- building the table from sample rows ---------------------------------------------------


def tested_metric(primary: str, rows: Sequence[Mapping[str, Any]]) -> tuple[str, MetricKind] | None:
    """The metric the comparisons test: the headline metric when the samples carry it per
    example (or it is macro-F1, computed from targets and predictions), else accuracy."""
    scored = {k for row in rows for k in (row.get("scores") or {})}
    if primary in scored:
        return primary, "mean"
    if primary == MACRO_F1 and rows and all("target" in r and "prediction" in r for r in rows):
        return MACRO_F1, "macro_f1"
    if "accuracy" in scored:
        return "accuracy", "mean"
    return None


def _codes(values: Iterable[str | None], vocab: dict[str, int]) -> NDArray[np.int64]:
    return np.array([-1 if v is None else vocab[str(v)] for v in values], dtype=np.int64)


def score_table(
    samples: Sequence[Mapping[str, Any]],
    seed_samples: Sequence[Mapping[str, Any]],
    arms: Mapping[str, Mapping[str, Any]],
    primary: str,
) -> ScoreTable | None:
    """The table of the run's headline metric (None when no metric is scored per example).
    Rows of ``seed_samples`` (further seeds) are used for an arm when they cover every shared
    example for every seed; otherwise its seed-to-seed spread comes from the seed study in
    results.json and its example-level part from the headline pass alone (conservative)."""
    chosen = tested_metric(primary, samples)
    if chosen is None:
        return None
    metric, kind = chosen
    by_arm: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in samples:
        if kind == "mean" and metric not in (row.get("scores") or {}):
            continue
        by_arm.setdefault(str(row["arm"]), {})[str(row["id"])] = row
    ordered = [name for name in arms if name in by_arm]
    if not ordered:
        return None
    ids = sorted(set.intersection(*(set(by_arm[a]) for a in ordered)))
    first = by_arm[ordered[0]]
    clusters = cluster_codes([first[i].get("cluster") for i in ids])
    vocab: dict[str, int] = {}
    if kind == "macro_f1":
        labels = {str(first[i]["target"]) for i in ids}
        for name in ordered:
            labels |= {
                str(by_arm[name][i]["prediction"])
                for i in ids
                if by_arm[name][i].get("prediction") is not None
            }
        for row in seed_samples:
            if row.get("prediction") is not None:
                labels.add(str(row["prediction"]))
        vocab = {label: i for i, label in enumerate(sorted(labels))}
    targets = _codes([first[i]["target"] for i in ids], vocab) if kind == "macro_f1" else None
    seed_rows: dict[tuple[str, int], dict[str, Mapping[str, Any]]] = {}
    for row in seed_samples:
        seed_rows.setdefault((str(row["arm"]), int(row["seed"])), {})[str(row["id"])] = row

    def row_values(rows: Mapping[str, Mapping[str, Any]]) -> NDArray[Any]:
        if kind == "mean":
            return np.array([float(rows[i]["scores"][metric]) for i in ids], dtype=np.float64)
        return _codes([rows[i].get("prediction") for i in ids], vocab)

    table_arms: dict[str, ArmScores] = {}
    n_labels = len(vocab)
    for name in ordered:
        record = arms[name]
        study = record.get("seeds") or {}
        seeds = [int(s) for s in study.get("values") or []] or [int(record.get("seed") or 0)]
        rows = [row_values(by_arm[name])]
        extra = [seed_rows.get((name, s), {}) for s in seeds[1:]]
        complete = all(all(i in r for i in ids) for r in extra)
        if complete:
            rows += [row_values(r) for r in extra]
        matrix = np.vstack(rows)
        if complete:
            values = tuple(statistic(kind, r, targets, n_labels) for r in matrix)
        else:
            stored = [float(p["quality"]["value"]) for p in study.get("per_seed") or []]
            same_metric = study.get("metric") in (None, metric)
            head = statistic(kind, matrix[0], targets, n_labels)
            values = (head, *stored[1:]) if stored and same_metric else (head,)
        table_arms[name] = ArmScores(name, matrix, values, tuple(seeds[: len(values)]))
    note = (
        None
        if metric == primary
        else (f"{primary} is not scored per example, so the comparisons test {metric}")
    )
    return ScoreTable(metric, kind, ids, clusters, targets, n_labels, table_arms, note)


def cluster_codes(values: list[Any]) -> NDArray[np.int64] | None:
    if not values or any(v is None for v in values):
        return None
    codes: dict[str, int] = {}
    return np.array([codes.setdefault(str(v), len(codes)) for v in values], dtype=np.int64)


def statistic(
    kind: MetricKind, row: NDArray[Any], targets: NDArray[np.int64] | None, n_labels: int
) -> float:
    if kind == "mean":
        return float(row.mean())
    assert targets is not None
    return macro_f1_codes(targets, row, n_labels)
