"""Forgetting: what tuning cost the model elsewhere. Each arm's ``forgetting`` record, and the
run-level ``forgetting`` block (each probe with the base model's score)."""

from __future__ import annotations

from pydantic import Field

from tunevsprompt.runfolder.results.base import Count, Flag, Interval, Num, Record

_DELTA = "after − base in the probe's metric"
_CHANGE = "worse or better when the 95% interval of the delta excludes 0, else `none detected`"


class ProbeMetric(Record):
    """One metric of a probe, base and tuned model side by side."""

    base: Num | None = Field(None, description="The base model's value.")
    base_ci95: Interval | None = Field(None, description="Its 95% bootstrap interval.")
    value: Num | None = Field(None, description="The tuned model's value.")
    delta: Num | None = Field(None, description=_DELTA + ".")
    ci95: Interval | None = Field(None, description="Paired 95% bootstrap interval of the delta.")
    relative_delta: Num | None = Field(None, description="delta / base (null when base is 0).")
    change: str | None = Field(None, description=_CHANGE + ".")


class ProbeDescription(Record):
    """What a probe is and what it reads (shared by the run-level block and the arms')."""

    kind: str | None = Field(None, description="perplexity, multiple-choice or suite.")
    source: str | None = Field(
        None, description="builtin:<name>, a file, or a probe suite, relative to the suite."
    )
    source_note: str | None = Field(None, description="Where the text comes from, its licence.")
    window: Count | None = Field(None, description="Perplexity: tokens per window.")
    max_tokens: Count | None = Field(None, description="Perplexity: tokens read in all.")
    options: list[Count] | None = Field(
        None, description="Multiple choice: the numbers of options the questions have."
    )
    chance: Num | None = Field(None, description="Multiple choice: the score of guessing.")
    suite: str | None = Field(None, description="Suite probe: the probe suite's name.")
    arm: str | None = Field(None, description="Suite probe: the arm of that suite it runs.")
    task: str | None = Field(None, description="Suite probe: its task type.")
    metric: str | None = Field(None, description="The probe's headline metric.")
    higher_is_better: Flag | None = Field(None, description="Direction of the metric.")
    n: Count | None = Field(None, description="Items (windows, questions, examples).")
    base: Num | None = Field(None, description="The base model's score.")
    base_ci95: Interval | None = Field(None, description="Its 95% bootstrap interval.")


class ArmProbe(ProbeDescription):
    """One probe on one arm: for a tuned arm the tuned model against the base model; for an
    arm that changes no weight, 0 by construction."""

    value: Num | None = Field(None, description="The tuned model's score.")
    delta: Num | None = Field(None, description=_DELTA + " (0 by construction for other arms).")
    ci95: Interval | None = Field(None, description="Paired 95% bootstrap interval of the delta.")
    relative_delta: Num | None = Field(None, description="delta / base (null when base is 0).")
    change: str | None = Field(None, description=_CHANGE + ".")
    wall_s: Num | None = Field(
        None, description="Seconds probing the tuned model took in this run."
    )
    metrics: dict[str, ProbeMetric] | None = Field(
        None, description="Every metric of the probe (the headline one included)."
    )
    by_construction: Flag | None = Field(
        None, description="true: the arm changes no weight, so the delta is 0."
    )


class ArmForgetting(Record):
    """``arms.<name>.forgetting``. Tuned arms: measured on each probe. Other arms: 0 by
    construction, one entry per probe that ran."""

    by_construction: Flag | None = Field(
        None, description="true for arms that change no weight (prompting, RAG, no-LLM arms)."
    )
    measured: Flag | None = Field(None, description="Tuned arms: at least one probe ran.")
    reason: str | None = Field(
        None, description="Why it is 0 by construction, or why it was not measured."
    )
    probed_as: str | None = Field(None, description="Tuned arms: the form probed, in words.")
    primary: str | None = Field(
        None, description="The probe reported here (the next one when the primary was skipped)."
    )
    metric: str | None = Field(None, description="That probe's headline metric.")
    delta: Num | None = Field(None, description=_DELTA + ", on the primary probe.")
    ci95: Interval | None = Field(None, description="Its paired 95% bootstrap interval.")
    change: str | None = Field(None, description=_CHANGE + ".")
    probes: dict[str, ArmProbe] | None = Field(None, description="Each probe that ran.")
    skipped: dict[str, str] | None = Field(None, description="Probes skipped, and why.")


class ForgettingSummary(Record):
    """The run-level ``forgetting`` block."""

    enabled: Flag | None = Field(None, description="The suite's `forgetting.enabled`.")
    primary: str | None = Field(
        None, description="The probe the arms report (the next one when the primary was skipped)."
    )
    probed_arms: list[str] | None = Field(None, description="Arms that were probed.")
    unchanged_arms: list[str] | None = Field(
        None, description="Arms that change no weight (0 by construction)."
    )
    probes: dict[str, ProbeDescription] | None = Field(
        None,
        description="Each probe that ran, with the base model's score and interval (whether "
        "the probe can detect anything at this n).",
    )
    skipped: dict[str, str] | None = Field(None, description="Probes skipped, and why.")
