"""Turn a run's measurements into its decision: pairwise comparisons, costs, break-even
volumes and the recommendation, all from results.json and samples.jsonl, so `tvp report
RUN_DIR` can redo it from the run folder alone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunevsprompt.decide.config import DecisionConfig, GatesConfig, PricingConfig
from tunevsprompt.decide.costs import arm_cost, break_even
from tunevsprompt.decide.recommend import DecisionInputs, recommend
from tunevsprompt.explain.assemble import explanations
from tunevsprompt.measure.comparisons import compare_arms, verdict
from tunevsprompt.measure.latency import latency_intervals
from tunevsprompt.measure.quality import Figures, QualitySettings
from tunevsprompt.measure.score_table import score_table
from tunevsprompt.measure.stats import CI_LEVEL
from tunevsprompt.runfolder.versions import RESULTS_SCHEMA_VERSION

if TYPE_CHECKING:
    from tunevsprompt.suite.model import Suite

MIN_BOOTSTRAP = 10_000
"""Resamples for bootstrap standard errors (macro-F1): enough that the bootstrap seed
changes no verdict (its Monte Carlo error on a standard error is about 0.7%)."""


@dataclass(frozen=True)
class Policy:
    """The suite's pricing, decision and gate settings, as recorded in results.json."""

    pricing: PricingConfig
    decision: DecisionConfig
    gates: GatesConfig | None = None

    @classmethod
    def from_suite(cls, suite: Suite) -> Policy:
        return cls(suite.pricing, suite.decision, suite.gates)

    @classmethod
    def from_results(cls, results: Mapping[str, Any]) -> Policy:
        from tunevsprompt.runfolder.read import RunFolderError

        stored = results.get("policy") or {}
        gates = stored.get("gates")
        try:
            return cls(
                PricingConfig.model_validate(stored.get("pricing") or {}),
                DecisionConfig.model_validate(stored.get("decision") or {}),
                GatesConfig.model_validate(gates) if gates else None,
            )
        except ValueError as exc:
            raise RunFolderError(
                f"results.json `policy` is invalid ({exc}); decide under a suite's blocks "
                "instead: `tvp report RUN_DIR --suite SUITE`"
            ) from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "pricing": self.pricing.model_dump(mode="json"),
            "decision": self.decision.model_dump(mode="json", exclude_none=True),
            "gates": self.gates.model_dump(mode="json", exclude_none=True) if self.gates else None,
        }

    def decision_volume(self) -> int:
        """The suite's decision volume, else the middle priced volume."""
        if self.decision.volume is not None:
            return self.decision.volume
        volumes = self.pricing.monthly_requests
        return volumes[len(volumes) // 2]


def headline_metric(results: Mapping[str, Any]) -> str:
    return str((results.get("task") or {}).get("primary_metric") or "quality")


def _settings(results: Mapping[str, Any], bootstrap_seed: int | None) -> QualitySettings:
    task = results.get("task") or {}
    seed = int((results.get("manifest") or {}).get("seed") or 0)
    return QualitySettings(
        confidence=CI_LEVEL,
        n_boot=max(int(task.get("bootstrap_samples") or 0), MIN_BOOTSTRAP),
        seed=seed if bootstrap_seed is None else bootstrap_seed,
    )


def refresh_figures(
    results: dict[str, Any],
    samples: list[Mapping[str, Any]],
    seed_samples: Sequence[Mapping[str, Any]],
    settings: QualitySettings,
) -> Figures | None:
    """Recompute each arm's headline figure (and its latency intervals) from the samples,
    in place; returns the figures for the comparisons (None when no metric is scored per
    example)."""
    arms: dict[str, dict[str, Any]] = results["arms"]
    timings: dict[str, list[float]] = {}
    for row in samples:
        if row.get("latency_ms") is not None:
            timings.setdefault(str(row["arm"]), []).append(float(row["latency_ms"]))
    for name, values in timings.items():
        latency = (arms.get(name) or {}).get("latency_ms")
        if latency:
            latency.update(latency_intervals(values))
    table = score_table(samples, seed_samples, arms, headline_metric(results))
    if table is None:
        return None
    figures = Figures(table, settings)
    if table.metric == headline_metric(results):
        for name in table.arms:
            arms[name]["quality"] = figures.arm(name)
    return figures


def decide(
    results: dict[str, Any],
    samples: Iterable[Mapping[str, Any]],
    policy: Policy,
    seed_samples: Sequence[Mapping[str, Any]] = (),
    bootstrap_seed: int | None = None,
) -> dict[str, Any]:
    """``results`` with each arm's headline figure and cost, ``policy``, ``comparisons``,
    ``break_even`` and ``recommendation`` (re)computed under the current rule, whatever
    schema version wrote them. Without samples the comparisons already in ``results`` are
    kept: only the costs and the recommendation are recomputed."""
    rows = list(samples)
    arms: dict[str, dict[str, Any]] = results["arms"]
    volume = policy.decision_volume()
    for record in arms.values():
        record["cost"] = arm_cost(record, results.get("manifest") or {}, policy.pricing, volume)
    comparisons: list[dict[str, Any]] = []
    if not rows:
        # samples.jsonl is gone (results.json copied on its own, e.g. a CI artifact): the
        # paired tests cannot be redone, so keep the ones the run computed from its samples.
        comparisons = [dict(entry) for entry in results.get("comparisons") or []]
        for entry in comparisons:
            if entry.get("p_holm") is not None:
                entry["verdict"], entry["winner"] = verdict(entry)
    else:
        figures = refresh_figures(results, rows, seed_samples, _settings(results, bootstrap_seed))
        if figures is not None and len(figures.table.arms) > 1:
            comparisons = compare_arms(figures)
    costs = {name: record["cost"] for name, record in arms.items()}
    crossings = break_even(costs, policy.pricing.amortise_months)
    inputs = DecisionInputs(
        comparisons,
        crossings,
        policy.decision,
        volume,
        headline_metric(results),
        smallest_volume=min(policy.pricing.monthly_requests) / 100,
        volumes=tuple(policy.pricing.monthly_requests),
    )
    written_by = results.get("schema_version")
    upgraded: dict[str, Any] = {}
    if written_by not in (None, RESULTS_SCHEMA_VERSION):
        upgraded["upgraded_from"] = written_by
        if not rows:
            # Without samples the intervals cannot be recomputed: say whose they are.
            upgraded["intervals_from"] = written_by
    decided = {
        **results,
        "schema_version": RESULTS_SCHEMA_VERSION,
        **upgraded,
        "policy": {**policy.to_json(), "decision_volume": volume},
        "comparisons": comparisons,
        "break_even": crossings,
        "recommendation": recommend(arms, inputs),
    }
    if rows:
        # Without samples the explanations the run wrote are kept, like its comparisons.
        decided["explanations"] = explanations(decided, rows)
    return decided
