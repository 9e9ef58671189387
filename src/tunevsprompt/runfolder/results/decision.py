"""The decision, recomputed by `tvp report` from the measurements: each arm's ``cost``, the
pairwise ``comparisons``, ``break_even`` volumes, the ``recommendation`` and the ``policy``
it was made under (docs/decision.md states the rule)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tunevsprompt.runfolder.results.base import (
    Count,
    Flag,
    Interval,
    Num,
    NumOrText,
    OpenRecord,
    Record,
)

# -- costs -----------------------------------------------------------------------------------


class OneTimeBasis(Record):
    """What the one-time cost priced: training, a prompt search, embedding and index build,
    or preparation."""

    what: str | None = Field(
        None, description="training, prompt search, embedding + index build, or preparation."
    )
    seconds: Num | None = Field(None, description="Seconds priced.")
    device: str | None = Field(None, description="Device they ran on.")
    priced_as: str | None = Field(
        None, description="The price entry used: cpu, a GPU type, or default."
    )
    usd_per_hour: Num | None = Field(None, description="Its price per hour.")
    usd: Num | None = Field(None, description="The one-time cost, unrounded.")
    proposer_usd: Num | None = Field(
        None,
        description="A prompt search's hosted proposer: API dollars for its tokens (included "
        "in usd; null when its price is unknown, see proposer_note).",
    )
    proposer_price_source: str | None = Field(None, description="Where that price came from.")
    proposer_note: str | None = Field(None, description="Why the proposer is not priced.")


class PerRequestBasis(Record):
    """What a request costs: local compute priced by the hour, or an API's tokens."""

    kind: str | None = Field(None, description="local-compute or api-tokens.")
    device: str | None = Field(None, description="local-compute: the serving device.")
    priced_as: str | None = Field(None, description="local-compute: the price entry used.")
    usd_per_hour: Num | None = Field(None, description="local-compute: its price per hour.")
    compute_s_per_request: Num | None = Field(
        None, description="local-compute: 1 / throughput_eps."
    )
    utilisation: Num | None = Field(
        None, description="local-compute: share of paid serving time spent serving."
    )
    model: str | None = Field(None, description="api-tokens: the model priced.")
    input_tokens: Num | None = Field(None, description="api-tokens: mean input tokens.")
    output_tokens: Num | None = Field(None, description="api-tokens: mean output tokens.")
    input_usd_per_mtok: Num | None = Field(None, description="api-tokens: USD per Mtok in.")
    output_usd_per_mtok: Num | None = Field(None, description="api-tokens: USD per Mtok out.")
    price_source: str | None = Field(
        None, description="api-tokens: where the price came from (null: unknown)."
    )
    note: str | None = Field(None, description="api-tokens: why the price is unknown.")
    usd: Num | None = Field(None, description="USD per request (null: unknown).")


class CostBasis(Record):
    """The figures the cost came from."""

    one_time: OneTimeBasis | None = Field(None, description="The one-time cost's basis.")
    per_request: PerRequestBasis | None = Field(None, description="The per-request cost's basis.")
    amortise_months: Num | None = Field(
        None, description="Months the one-time cost is spread over."
    )


class ArmCost(Record):
    """``arms.<name>.cost``: one-time, per 1,000 requests, and monthly."""

    one_time_usd: Num | None = Field(None, description="Training or index build, USD.")
    per_1k_requests_usd: Num | None = Field(
        None, description="USD per 1,000 requests (null: unknown, never read as cheaper)."
    )
    monthly_usd: Num | None = Field(
        None,
        description="one_time_usd / amortise_months + volume / 1000 × per_1k_requests_usd, at "
        "the decision volume.",
    )
    volume: Num | None = Field(None, description="The decision volume, requests per month.")
    monthly_by_volume: dict[str, Num | None] | None = Field(
        None, description='Monthly cost at each priced volume: {"<requests>": usd}.'
    )
    basis: CostBasis | None = Field(None, description="What the figures came from.")


# -- comparisons and break-even ----------------------------------------------------------


class Discordance(Record):
    """0/1 metrics: examples only one arm of the pair got right."""

    a_only: Count | None = Field(None, description="Right for the first arm only.")
    b_only: Count | None = Field(None, description="Right for the second arm only.")


class VarianceParts(Record):
    """Graded metrics: the parts of the difference's variance."""

    examples: Num | None = Field(None, description="The examples' part.")
    examples_df: Num | None = Field(None, description="Its degrees of freedom.")
    seeds: Num | None = Field(None, description="The seed-to-seed part.")
    seeds_df: Num | None = Field(None, description="Its degrees of freedom (null: unbounded).")


class Comparison(Record):
    """Two arms on the same test examples, in the headline metric."""

    arms: list[str] | None = Field(None, description="[a, b].")
    metric: str | None = Field(None, description="The headline metric.")
    n: Count | None = Field(None, description="Paired examples.")
    difference: Num | None = Field(None, description="a − b.")
    ci95: Interval | None = Field(None, description="Paired 95% interval of the difference.")
    method: str | None = Field(
        None,
        description="The interval: tango-score, paired-t or paired-bootstrap-se (schema 2.0).",
    )
    test: str | None = Field(
        None, description="The two-sided test: tango-score, paired-t, paired-bootstrap-se."
    )
    p_value: Num | None = Field(None, description="Two-sided p-value.")
    discordance: Discordance | None = Field(None, description="0/1 metrics: discordant pairs.")
    discordant_fraction: Num | None = Field(
        None, description="0/1 metrics: share of discordant examples."
    )
    se: Num | None = Field(None, description="Graded metrics: standard error.")
    df: Num | None = Field(None, description="Graded metrics: degrees of freedom.")
    variance: VarianceParts | None = Field(None, description="Graded metrics: variance parts.")
    mde: Num | None = Field(
        None,
        description="Minimum detectable effect at 80% power (information only, never a filter).",
    )
    clusters: Count | None = Field(None, description="Clusters (with `metrics.cluster_field`).")
    design_effect: Num | None = Field(None, description="Variance inflation from clustering.")
    p_holm: Num | None = Field(None, description="p-value Holm-adjusted over all pairs.")
    verdict: str | None = Field(None, description='"<arm> better" or INCONCLUSIVE.')
    winner: str | None = Field(None, description="The better arm (null: INCONCLUSIVE).")


class BreakEven(Record):
    """Two arms' monthly totals against monthly requests: where they cross."""

    arms: list[str] | None = Field(None, description="[a, b].")
    volume: Num | None = Field(
        None, description="Requests per month where they cost the same (null: never)."
    )
    cheaper_below: str | None = Field(None, description="The cheaper arm below that volume.")
    cheaper_above: str | None = Field(None, description="The cheaper arm above it.")
    cheaper_always: str | None = Field(None, description="The arm cheaper at every volume.")
    note: str | None = Field(None, description="Why there is no crossing.")


# -- the recommendation --------------------------------------------------------------------


class DecisionRule(Record):
    """The non-inferiority rule the recommendation applied."""

    margin: NumOrText | None = Field(
        None, description="decision.margin: metric units, or a share of the dearer arm (5%)."
    )
    margin_kind: str | None = Field(None, description="absolute or relative.")
    confidence: Num | None = Field(None, description="Two-sided confidence level (0.95).")
    alpha: Num | None = Field(None, description="One-sided level of each test.")
    family: str | None = Field(None, description="The multiplicity correction, in words.")


class CheckRecord(Record):
    """One bar held against one arm."""

    name: str | None = Field(
        None, description="quality, p95_latency, forgetting.<limit>, error_rate..."
    )
    status: Literal["pass", "fail", "inconclusive", "missing"] | None = Field(
        None,
        description="pass: the whole interval clears the bar; fail: it misses it; inconclusive: "
        "it straddles it; missing: the figure was not measured.",
    )
    observed: Num | None = Field(None, description="The figure.")
    bound: Num | None = Field(
        None, description="The interval bound held against the limit (or the figure)."
    )
    limit: Num | None = Field(None, description="The bar.")
    message: str | None = Field(None, description="The check in one sentence.")


class Claim(Record):
    """An arm that claims a saving: it must be shown to lose less than the margin against
    every arm that costs more (or whose cost is unknown)."""

    arm: str | None = Field(None, description="The cheaper arm.")
    against: list[str] | None = Field(None, description="The arms it is tested against.")
    p_value: Num | None = Field(None, description="Its largest one-sided p-value.")
    p_holm: Num | None = Field(None, description="Holm-adjusted over the claims.")
    met: Flag | None = Field(None, description="The claim holds.")


class NonInferiorityTest(Record):
    """One test of the rule: does `arm` lose less than the margin against `against`?"""

    arm: str | None = Field(None, description="The cheaper arm.")
    against: str | None = Field(None, description="The arm that costs more.")
    difference: Num | None = Field(None, description="against − arm.")
    ci95: Interval | None = Field(None, description="Its 95% interval.")
    margin: Num | None = Field(None, description="The margin in metric units.")
    method: str | None = Field(None, description="How the interval was made.")
    p_value: Num | None = Field(None, description="One-sided p-value.")
    within_margin: Flag | None = Field(None, description="Shown within the margin by this test.")
    n_needed: Count | None = Field(
        None, description="Test examples for 80% power if the difference were as observed."
    )


class Recommendation(Record):
    """The arm to use at the decision volume, and why."""

    arm: str | None = Field(None, description="The recommended arm (null: none).")
    status: Literal["recommended", "undecided", "no-feasible-arm"] | None = Field(
        None,
        description="recommended; undecided (the leading arm is not yet shown to lose less than "
        "the margin); no-feasible-arm (no arm meets every bar). Absent in schema 1.0.",
    )
    leading: str | None = Field(None, description="undecided: the arm that leads.")
    volume: Num | None = Field(None, description="The decision volume, requests per month.")
    metric: str | None = Field(None, description="The headline metric.")
    rule: DecisionRule | None = Field(None, description="The rule applied.")
    verdicts: dict[str, str] | None = Field(
        None, description="Per arm: ALLOW, REJECT or INCONCLUSIVE against the bars."
    )
    checks: dict[str, list[CheckRecord]] | None = Field(None, description="Per arm: its checks.")
    claims: list[Claim] | None = Field(None, description="Arms that claim a saving.")
    tests: list[NonInferiorityTest] | None = Field(None, description="Every test the rule made.")
    dominated: dict[str, str] | None = Field(
        None, description="Arm → an arm that costs no more and scores higher."
    )
    same_system: dict[str, str] | None = Field(
        None,
        description="Arm → the arm it is as a deployed system (an optimized-prompt arm whose "
        "search kept that arm's prompt as written), which costs no more and stands in for it.",
    )
    reasons: list[str] | None = Field(None, description="Why, in sentences.")
    flip_conditions: list[str] | None = Field(None, description="What would change the answer.")
    by_volume: dict[str, str | None] | None = Field(
        None, description='The recommendation at each priced volume: {"<requests>": arm | null}.'
    )
    warnings: list[str] | None = Field(None, description="E.g. arms with many unparsed answers.")


# -- the policy ------------------------------------------------------------------------------


class ApiPriceRecord(OpenRecord):
    """A hosted model's token prices."""

    input_usd_per_mtok: Num | None = Field(None, description="USD per million input tokens.")
    output_usd_per_mtok: Num | None = Field(None, description="USD per million output tokens.")


class PricingRecord(OpenRecord):
    """The suite's `pricing:` block as used (see the suite reference for each key)."""

    gpu_usd_per_hour: dict[str, Num] | None = Field(None, description="USD per hour by GPU type.")
    cpu_usd_per_hour: Num | None = Field(None, description="USD per hour of a CPU machine.")
    api: dict[str, ApiPriceRecord] | None = Field(None, description="Token prices by model.")
    monthly_requests: list[Num] | None = Field(None, description="Volumes to price.")
    amortise_months: Num | None = Field(None, description="Months one-time costs are spread over.")
    utilisation: Num | None = Field(None, description="Share of paid serving time spent serving.")


class BarsRecord(OpenRecord):
    """The suite's `decision:` or `gates:` block as used (see the suite reference)."""

    min_quality: Num | None = Field(None, description="Lowest headline metric (CI lower bound).")
    max_p95_ms: Num | None = Field(None, description="Highest p95 latency, ms.")
    max_forgetting: dict[str, Any] | None = Field(
        None, description="Highest forgetting: {probe?, max_delta?, max_relative?}."
    )
    max_error_rate: Num | None = Field(None, description="Highest share of failed requests.")
    max_parse_failure_rate: Num | None = Field(
        None, description="Highest share of unparsed answers."
    )


class Policy(Record):
    """The suite's blocks the decision was made under."""

    pricing: PricingRecord | None = Field(None, description="The `pricing:` block.")
    decision: BarsRecord | None = Field(
        None, description="The `decision:` block (margin, volume and the bars)."
    )
    gates: BarsRecord | None = Field(
        None, description="The `gates:` block (null: none); `tvp gate` applies it."
    )
    decision_volume: Num | None = Field(
        None, description="The volume decided at, requests per month."
    )
