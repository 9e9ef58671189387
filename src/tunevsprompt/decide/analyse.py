"""Turn a run's measurements into its decision: pairwise comparisons, costs, break-even
volumes and the recommendation, all from results.json and samples.jsonl, so `tvp report
RUN_DIR` can redo it from the run folder alone."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunevsprompt.comparisons import compare_arms, per_example_values
from tunevsprompt.decide.config import DecisionConfig, GatesConfig, PricingConfig
from tunevsprompt.decide.costs import arm_cost, break_even
from tunevsprompt.decide.recommend import DecisionInputs, recommend

if TYPE_CHECKING:
    from tunevsprompt.suite import Suite

COMPARISON_BOOTSTRAP = 2000


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
        from tunevsprompt.run_folder import RunFolderError

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


def comparison_metric(results: Mapping[str, Any], samples: list[Mapping[str, Any]]) -> str | None:
    """The headline metric when it is scored per example, else accuracy (classification),
    else none."""
    scored = {k for row in samples for k in (row.get("scores") or {})}
    for metric in (headline_metric(results), "accuracy"):
        if metric in scored:
            return str(metric)
    return None


def decide(
    results: dict[str, Any], samples: Iterable[Mapping[str, Any]], policy: Policy
) -> dict[str, Any]:
    """``results`` with ``policy``, ``comparisons``, ``break_even``, ``recommendation`` and
    ``arms.<name>.cost`` (re)computed. Without samples the comparisons already in ``results``
    are kept: only the costs and the recommendation are recomputed."""
    rows = list(samples)
    arms: dict[str, dict[str, Any]] = results["arms"]
    volume = policy.decision_volume()
    for record in arms.values():
        record["cost"] = arm_cost(record, results.get("manifest") or {}, policy.pricing, volume)
    metric = comparison_metric(results, rows)
    comparisons: list[dict[str, Any]] = []
    if not rows:
        # samples.jsonl is gone (results.json copied on its own, e.g. a CI artifact): the
        # paired tests cannot be redone, so keep the ones the run computed from its samples.
        comparisons = [dict(entry) for entry in results.get("comparisons") or []]
    elif metric is not None and len(arms) > 1:
        _, values = per_example_values(rows, metric)
        ordered = {name: values[name] for name in arms if name in values}
        seed = int((results.get("manifest") or {}).get("seed") or 0)
        pairs = len(ordered) * (len(ordered) - 1) // 2
        # Enough resamples that a bootstrap p-value can pass Holm's strictest threshold.
        n_boot = max(COMPARISON_BOOTSTRAP, math.ceil(20 * pairs / 0.05))
        comparisons = compare_arms(ordered, metric, n_boot, seed)
    costs = {name: record["cost"] for name, record in arms.items()}
    crossings = break_even(costs, policy.pricing.amortise_months)
    inputs = DecisionInputs(
        comparisons,
        crossings,
        policy.decision,
        volume,
        headline_metric(results),
        smallest_volume=min(policy.pricing.monthly_requests) / 100,
    )
    return {
        **results,
        "policy": {**policy.to_json(), "decision_volume": volume},
        "comparisons": comparisons,
        "break_even": crossings,
        "recommendation": recommend(arms, inputs),
    }
