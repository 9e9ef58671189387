"""The top level of results.json: what ran (``task``, ``manifest``, ``contamination``), the
arms, forgetting, and the decision."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tunevsprompt.runfolder.results.arm import ArmRecord
from tunevsprompt.runfolder.results.base import Count, Flag, Num, Record
from tunevsprompt.runfolder.results.decision import BreakEven, Comparison, Policy, Recommendation
from tunevsprompt.runfolder.results.explanations import Explanations
from tunevsprompt.runfolder.results.forgetting import ForgettingSummary


class DataProvenance(Record):
    """Split sizes before and after the suite's sampling caps."""

    sizes: dict[str, Count] | None = Field(
        None, description="Examples per split in the data, before sampling."
    )
    dev: str | None = Field(
        None, description="Where dev came from: `from the data`, or carved from train."
    )
    sampled: dict[str, Count] | None = Field(
        None, description="Examples per split after sampling (train, dev, test)."
    )


class Task(Record):
    """The task, as the suite defines it."""

    type: str | None = Field(None, description="classification or generation.")
    primary_metric: str | None = Field(None, description="The headline metric.")
    cluster_field: str | None = Field(
        None, description="`metrics.cluster_field`: intervals are cluster-robust over it."
    )
    bootstrap_samples: Count | None = Field(
        None, description="`metrics.bootstrap_samples` (the decision uses at least 10,000)."
    )
    labels: list[str] | None = Field(None, description="Classification: the labels.")
    label_forms: dict[str, str] | None = Field(
        None, description="Classification: label → the form shown to the model."
    )
    data: DataProvenance | None = Field(None, description="Data sizes and sampling.")


class ModelManifest(Record):
    """The suite's local model as loaded (null when no arm ran a local model)."""

    id: str | None = Field(None, description="Model id or path.")
    source: str | None = Field(None, description="Where the weights came from, in words.")
    source_sha256: str | None = Field(None, description="sha256 of the source file.")
    fingerprint: str | None = Field(None, description="Hash of the loaded weights.")
    parameters: Count | None = Field(None, description="Parameter count.")
    dtype: str | None = Field(None, description="Weights' dtype.")
    load_s: Num | None = Field(None, description="Seconds loading took.")
    prompt_cache_reuse: Flag | None = Field(
        None, description="Rank scoring keeps the shared prompt prefix's KV cache."
    )


class RunOptions(Record):
    """`tvp compare`'s options."""

    arms: list[str] | None = Field(None, description="Arms run (--arms, else every arm).")
    limit: Count | None = Field(None, description="--limit: test examples.")
    train_limit: Count | None = Field(None, description="--train-limit: train examples.")
    device: str | None = Field(None, description="--device.")
    use_cache: Flag | None = Field(None, description="false with --no-cache.")


class Manifest(Record):
    """What produced the run: enough to reproduce it or to tell two runs apart."""

    suite_path: str | None = Field(None, description="The suite file.")
    suite_sha256: str | None = Field(None, description="Its sha256.")
    git_sha: str | None = Field(None, description="Commit of the suite's folder (null: no git).")
    packages: dict[str, str] | None = Field(None, description="Versions of the packages used.")
    python: str | None = Field(None, description="Python version.")
    platform: str | None = Field(None, description="Operating system and machine.")
    seed: Count | None = Field(None, description="`sampling.seed`.")
    options: RunOptions | None = Field(None, description="`tvp compare`'s options.")
    started_at: str | None = Field(None, description="Start, ISO 8601 UTC.")
    device: str | None = Field(None, description="Device of the local model.")
    device_name: str | None = Field(
        None, description="The GPU model (priced by type), null on CPU."
    )
    model: ModelManifest | None = Field(None, description="The local model as loaded.")
    model_spec: dict[str, Any] | None = Field(
        None, description="The suite's `model:` block (what `tvp export` loads)."
    )
    finished_at: str | None = Field(None, description="End, ISO 8601 UTC.")


class Overlap(Record):
    """How many evaluated test inputs appear in a source of texts."""

    source_texts: Count | None = Field(None, description="Texts in the source.")
    test_examples: Count | None = Field(None, description="Test inputs checked.")
    exact: Count | None = Field(
        None, description="Test inputs found verbatim (after normalisation)."
    )
    exact_fraction: Num | None = Field(None, description="exact / test_examples.")
    ngram13: Count | None = Field(None, description="Test inputs sharing a 13-word sequence.")
    ngram13_fraction: Num | None = Field(None, description="ngram13 / test_examples.")


class Contamination(Record):
    """Overlap of the evaluated test inputs with texts the arms can see."""

    ngram: Count | None = Field(None, description="Word n-gram length (13).")
    train: Overlap | None = Field(None, description="The train split.")
    dev: Overlap | None = Field(None, description="The dev split.")
    arms: dict[str, Overlap] | None = Field(
        None, description="Per arm: the texts placed in its prompts."
    )


class Results(Record):
    """results.json: everything `tvp compare` measured and `tvp report` decided. The reports
    and `tvp gate` read nothing else."""

    schema_version: str = Field(
        description="The contract's version: 2.0 (1.0 run folders are read and upgraded)."
    )
    upgraded_from: str | None = Field(
        None, description="The schema version `tvp report` upgraded this file from."
    )
    intervals_from: str | None = Field(
        None,
        description="The schema version whose intervals are kept (samples.jsonl was missing, so "
        "they could not be recomputed).",
    )
    suite: str | None = Field(None, description="The suite's name.")
    run_id: str | None = Field(None, description="The run folder's name.")
    task: Task | None = Field(None, description="The task.")
    manifest: Manifest | None = Field(None, description="What produced the run.")
    contamination: Contamination | None = Field(
        None, description="Test inputs the arms may have seen."
    )
    forgetting: ForgettingSummary | None = Field(
        None, description="The forgetting probes, with the base model's scores."
    )
    arms: dict[str, ArmRecord] = Field(description="Each arm's record, in the suite's order.")
    policy: Policy | None = Field(None, description="The blocks the decision was made under.")
    comparisons: list[Comparison] | None = Field(
        None, description="Every pair of arms, Holm-adjusted."
    )
    break_even: list[BreakEven] | None = Field(None, description="Every pair's break-even volume.")
    recommendation: Recommendation | None = Field(None, description="The decision.")
    explanations: Explanations | None = Field(
        None,
        description="Where the arms differ: per-class figures, confusions, disagreements "
        "with the anchor arm (classification runs).",
    )
