"""The measured figures results.json is made of: a figure with its 95% interval (the headline
metric with its method and seeds), latency percentiles with their intervals, token counts."""

from __future__ import annotations

from pydantic import Field

from tunevsprompt.runfolder.results.base import Count, Interval, Num, OpenInterval, Record


class Percentiles(Record):
    """Milliseconds per request: median, 95th percentile and mean."""

    p50: Num | None = Field(None, description="Median, ms.")
    p95: Num | None = Field(None, description="95th percentile, ms.")
    mean: Num | None = Field(None, description="Mean, ms.")


class QueryTimes(Record):
    """Per-query milliseconds of one retrieval stage (embedding the query, or searching)."""

    p50: Num | None = Field(None, description="Median, ms.")
    p95: Num | None = Field(None, description="95th percentile, ms.")
    n: Count | None = Field(None, description="Queries timed.")
    batch_size: Count | None = Field(
        None, description="Largest number of queries per call among those timed (1: one at a time)."
    )


class Figure(Record):
    """A figure with its 95% interval."""

    value: Num | None = Field(None, description="The figure.")
    ci95: Interval | None = Field(None, description="Its 95% interval [low, high].")
    method: str | None = Field(
        None,
        description="How the interval was made: clopper-pearson, t or bootstrap-se (schema 2.0; "
        "absent in 1.0, whose intervals are percentile bootstrap).",
    )


class QualitySeeds(Record):
    """The headline figure's seeds (an arm run with several `seeds`)."""

    n: Count | None = Field(None, description="Number of seeds.")
    values: list[Count] | None = Field(None, description="The seeds, in the order they ran.")
    per_seed: list[Num] | None = Field(None, description="The headline metric of each seed.")
    range: Interval | None = Field(None, description="[lowest, highest] of `per_seed`.")


class QualityFigure(Record):
    """The headline metric of an arm (or of one pass: a seed, a learning-curve point, a sweep
    trial on dev)."""

    metric: str | None = Field(None, description="The metric (the suite's primary metric).")
    value: Num | None = Field(
        None,
        description="Its value on the test split; for an arm run with several seeds, the mean "
        "over its seeds (schema 2.0; 1.0: the first seed's).",
    )
    ci95: Interval | None = Field(None, description="95% interval [low, high].")
    method: str | None = Field(
        None,
        description="How the interval was made: clopper-pearson (0/1 metrics), t (graded "
        'metrics) or bootstrap-se (macro-F1), with ", seeds × examples" when it includes the '
        "seed-to-seed variance. Absent in schema 1.0 (percentile bootstrap).",
    )
    n: Count | None = Field(None, description="Test examples scored.")
    clusters: Count | None = Field(
        None, description="Clusters (with `metrics.cluster_field`): the interval is cluster-robust."
    )
    design_effect: Num | None = Field(
        None, description="Variance inflation from clustering (with `metrics.cluster_field`)."
    )
    seeds: QualitySeeds | None = Field(
        None, description="Per-seed figures, for an arm run with several seeds."
    )


class TokenFigures(Record):
    """Tokens per request, counted with the model's tokenizer on the rendered prompt (hosted
    arms: the API's usage)."""

    input_mean: Num | None = Field(None, description="Mean prompt tokens.")
    input_p95: Num | None = Field(None, description="95th percentile of prompt tokens.")
    input_max: Count | None = Field(None, description="Longest prompt, tokens.")
    output_mean: Num | None = Field(
        None,
        description="Mean answer tokens (rank mode: the chosen label's, end of turn included).",
    )


class LatencyFigures(Record):
    """Per-request latency: `latency.sample` requests one at a time after `latency.warmup`
    untimed ones, never from the prediction cache."""

    p50: Num | None = Field(None, description="Median, ms.")
    p95: Num | None = Field(None, description="95th percentile, ms.")
    mean: Num | None = Field(None, description="Mean, ms.")
    p50_ci95: OpenInterval | None = Field(
        None,
        description="Order-statistic 95% interval of the p50; a side is null when too few "
        "requests were timed to bound it (schema 2.0).",
    )
    p95_ci95: OpenInterval | None = Field(
        None,
        description="Order-statistic 95% interval of the p95 (an upper bound needs 72 timed "
        "requests; null below) (schema 2.0).",
    )
    n: Count | None = Field(None, description="Requests timed.")
    batch_size: Count | None = Field(None, description="Requests per call (always 1).")
    warmup: Count | None = Field(None, description="Untimed requests before the timed ones.")
    stages: dict[str, Percentiles] | None = Field(
        None,
        description="Retrieving arms: each request split into `retrieval` and `generation` "
        "(the rest), p50/p95/mean ms each.",
    )
