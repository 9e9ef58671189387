"""The statistics behind every interval and test tvp reports: proportions (Clopper–Pearson,
Tango's paired score interval, McNemar's exact test), means with cluster-robust and
two-level (seeds × examples) standard errors, a vectorised bootstrap over examples or
clusters, order-statistic intervals for latency percentiles, power and sample size, and
Holm's correction. Pure numpy/scipy; no model, no run folder."""

from tunevsprompt.measure.stats.bootstrap import (
    percentile_ci,
    resample_indices,
    resampled_sums,
    statistic_ci,
)
from tunevsprompt.measure.stats.means import (
    Estimate,
    Variance,
    cluster_variance,
    combine,
    floored,
    satterthwaite_df,
    t_quantile,
)
from tunevsprompt.measure.stats.multiplicity import holm
from tunevsprompt.measure.stats.power import (
    Z_80,
    Z_975,
    mde_paired_proportions,
    noninferiority_n,
    noninferiority_n_paired_binary,
)
from tunevsprompt.measure.stats.proportions import (
    McNemar,
    PairedCounts,
    clopper_pearson,
    mcnemar_exact,
    tango_interval,
    tango_noninferiority_p,
    tango_p_two_sided,
    tango_score,
)
from tunevsprompt.measure.stats.quantiles import quantile_interval, samples_to_bound_quantile

CI_LEVEL = 0.95
"""The confidence of every interval tvp reports (`ci95` keys)."""

__all__ = [
    "CI_LEVEL",
    "Z_80",
    "Z_975",
    "Estimate",
    "McNemar",
    "PairedCounts",
    "Variance",
    "clopper_pearson",
    "cluster_variance",
    "combine",
    "floored",
    "holm",
    "mcnemar_exact",
    "mde_paired_proportions",
    "noninferiority_n",
    "noninferiority_n_paired_binary",
    "percentile_ci",
    "quantile_interval",
    "resample_indices",
    "resampled_sums",
    "samples_to_bound_quantile",
    "satterthwaite_df",
    "statistic_ci",
    "t_quantile",
    "tango_interval",
    "tango_noninferiority_p",
    "tango_p_two_sided",
    "tango_score",
]
