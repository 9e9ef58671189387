"""``arms.<name>``: one arm's record. Every arm has the measurements (quality, latency,
tokens, cost...); each kind of arm adds its own records (prompting, training, retrieval, api,
embedding...). An arm's ``prepare`` may return records of its own, merged into this one:
those keys are kept as written (the record allows extra keys)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tunevsprompt.runfolder.results.base import Count, Flag, Interval, Num, OpenRecord, Record
from tunevsprompt.runfolder.results.decision import ArmCost
from tunevsprompt.runfolder.results.figures import (
    Figure,
    LatencyFigures,
    QualityFigure,
    TokenFigures,
)
from tunevsprompt.runfolder.results.forgetting import ArmForgetting
from tunevsprompt.runfolder.results.retrieval import EmbeddingRecord, RetrievalRecord
from tunevsprompt.runfolder.results.search import SearchRecord
from tunevsprompt.runfolder.results.training import (
    CurvePoint,
    SeedStudy,
    SweepRecord,
    TrainingRecord,
)


class CacheCounts(Record):
    """Test predictions computed in this run, and answered from the prediction cache."""

    computed: Count | None = Field(None, description="Predictions computed in this run.")
    cached: Count | None = Field(None, description="Predictions read from the cache.")


class PromptingRecord(OpenRecord):
    """How an arm that prompts a model decides (arms may add keys of their own)."""

    decide: str | None = Field(
        None, description="rank (score each label) or generate (free text, then parse)."
    )
    demonstration_ids: list[str] | None = Field(
        None,
        description="Few-shot: the demonstrations' ids (null with `selection: similar`: they "
        "differ per example and are in the sample rows' `context`).",
    )
    selection: str | None = Field(None, description="Few-shot: how demonstrations were chosen.")
    context_budget: Count | None = Field(None, description="RAG: passage tokens per prompt.")
    show_labels: Flag | None = Field(
        None, description="Tuned arms: whether the label list is in the prompt."
    )


class ApiRecord(Record):
    """An arm on a hosted endpoint: where, which model, and what its requests met. Never the
    key, never the URL's credentials or query."""

    base_url: str | None = Field(None, description="Endpoint URL without credentials or query.")
    model: str | None = Field(None, description="Model name sent to the endpoint.")
    provider: str | None = Field(None, description="genai-prices provider id, when given.")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the key (never the key)."
    )
    concurrency: Count | None = Field(None, description="Requests in flight per base_url.")
    timeout_s: Num | None = Field(None, description="Request timeout, seconds.")
    max_retries: Count | None = Field(None, description="The openai client's retries.")
    requests: Count | None = Field(None, description="Requests made (each answer asked once).")
    http_attempts: Count | None = Field(None, description="HTTP responses, retries included.")
    retries: Count | None = Field(None, description="http_attempts − requests.")
    rate_limited: Count | None = Field(
        None, description="429 responses, even when a retry then succeeded."
    )
    server_errors: Count | None = Field(None, description="5xx responses.")
    statuses: dict[str, Count] | None = Field(None, description="Responses per HTTP status.")
    errors: Count | None = Field(None, description="Requests that failed after the retries.")
    error_kinds: dict[str, Count] | None = Field(None, description="Failed requests per kind.")
    usage_missing: Count | None = Field(
        None, description="Answers whose response carried no token usage."
    )


class AdapterRecord(OpenRecord):
    """Tuned arms: the trained adapter (encoder arms: the whole model) in the run folder."""

    method: str | None = Field(None, description="lora, soft-prompt, encoder-finetune or setfit.")
    format: str | None = Field(
        None, description="peft, or sentence-transformers (the encoder arms' model folder)."
    )
    path: str | None = Field(
        None, description="Folder relative to the run folder (adapters/..., models/...)."
    )
    sha256: str | None = Field(
        None,
        description="sha256 of the adapter's weights file (peft), or over every file of the "
        "encoder arms' model folder but training.json and README.md.",
    )
    training_key: str | None = Field(
        None, description="Key of the adapter cache entry it was trained or reused under."
    )


class InferenceRecord(OpenRecord):
    """Tuned arms: the form that was evaluated."""

    head: str | None = Field(None, description="Encoder arms: linear (one score per label).")
    max_seq_length: Count | None = Field(None, description="Encoder arms: tokens read per input.")
    merged: Flag | None = Field(None, description="LoRA: merged into the weights.")
    latency_variants: list[str] | None = Field(
        None, description="LoRA: other forms timed (`latency_variants`)."
    )
    virtual_tokens: Count | None = Field(None, description="Soft prompt: its length in tokens.")


class QualityAgainstBase(Record):
    """The tuned arm against the base model (encoder arms: the frozen encoder under the same
    head) on the integrity sample, paired."""

    metric: str | None = Field(None, description="The primary metric (0/1 per example).")
    n: Count | None = Field(None, description="Test examples compared.")
    tuned: Num | None = Field(None, description="The tuned arm's mean.")
    base: Num | None = Field(None, description="The base model's mean.")
    difference: Num | None = Field(None, description="tuned − base.")
    ci95: Interval | None = Field(None, description="Its paired 95% interval.")
    method: str | None = Field(None, description="tango-score.")


class IntegrityRecord(Record):
    """Tuned arms: did the adapter change the model's outputs at all?"""

    sample: Count | None = Field(None, description="Test examples compared with the base model.")
    changed_fraction: Num | None = Field(
        None, description="Share whose output (text or answer log-likelihood) differs."
    )
    prediction_changed_fraction: Num | None = Field(
        None, description="Share whose decided label or text differs."
    )
    min_changed_fraction: Num | None = Field(
        None, description="The arm's `integrity_min_changed` threshold."
    )
    ok: Flag | None = Field(None, description="changed_fraction reaches the threshold.")
    quality_against_base: QualityAgainstBase | None = Field(
        None, description="0/1 primary metrics: the paired difference from the base model."
    )


class AbstentionRecord(Record):
    """The threshold below which the arm answers the out-of-scope label, chosen on dev."""

    label: str | None = Field(None, description="task.abstain_label.")
    threshold: Num | None = Field(
        None, description="Confidence below which it abstains (null: see reason)."
    )
    reason: str | None = Field(None, description="Why there is no threshold, or why it is shaky.")
    dev_n: Count | None = Field(None, description="Dev examples it was chosen on.")
    dev_out_of_scope: Count | None = Field(
        None, description="Of them, out of scope (fewer than 10: `reason` says it is shaky)."
    )
    dev_accuracy_as_answered: Num | None = Field(None, description="Dev accuracy without it.")
    dev_accuracy_abstaining: Num | None = Field(None, description="Dev accuracy with it.")


class ArmRecord(OpenRecord):
    """One arm's measurements and records. Keys an arm's ``prepare`` returns beyond those
    listed here are kept as written."""

    type: str | None = Field(None, description="The arm type (zero-shot, lora, rag...).")
    n: Count | None = Field(None, description="Test examples evaluated.")
    quality: QualityFigure | None = Field(None, description="The headline metric.")
    metrics: dict[str, Figure] | None = Field(
        None, description="Every metric of the task type, with its 95% interval."
    )
    parse_failure_rate: Num | None = Field(
        None, description="Share of answers that could not be parsed (they count as wrong)."
    )
    parse_counts: dict[str, Count] | None = Field(
        None, description="Answers per parse outcome (rank, exact, nearest, error...)."
    )
    errors: Count | None = Field(
        None, description="Requests that failed after retries (0 for local arms)."
    )
    error_rate: Num | None = Field(None, description="errors / n.")
    tokens: TokenFigures | None = Field(None, description="Prompt and answer tokens per request.")
    latency_ms: LatencyFigures | None = Field(
        None, description="Per-request latency at batch size 1 (null when latency.sample is 0)."
    )
    throughput_eps: Num | None = Field(
        None,
        description="Examples per second of model compute in the batched pass (answers from "
        "the cache count with the compute time recorded when they were computed).",
    )
    prepare_s: Num | None = Field(None, description="Seconds the arm's prepare took.")
    cache: CacheCounts | None = Field(None, description="Prediction-cache use.")
    seed: Count | None = Field(None, description="Seed of the headline pass.")
    config: dict[str, Any] | None = Field(
        None,
        description="The arm's configuration as it ran (its suite entry with defaults; for a "
        "swept arm the winning settings, with `sweep: null`).",
    )
    prompting: PromptingRecord | None = Field(None, description="Arms that prompt a model.")
    uses_llm: Flag | None = Field(None, description="false for the arms that run no LLM.")
    compute_device: str | None = Field(
        None,
        description="No-LLM arms: where their embedder ran, the device their cost is priced at.",
    )
    embedding: EmbeddingRecord | None = Field(None, description="No-LLM arms: the embedding model.")
    training: TrainingRecord | None = Field(
        None, description="Tuned arms and embed-linear: how training went."
    )
    adapter: AdapterRecord | None = Field(None, description="Tuned arms: the trained adapter.")
    inference: InferenceRecord | None = Field(None, description="Tuned arms: the form evaluated.")
    latency_variants: dict[str, LatencyFigures | None] | None = Field(
        None, description="Tuned arms: latency of other forms (LoRA: `unmerged`)."
    )
    abstention: AbstentionRecord | None = Field(
        None, description="Suites with task.abstain_label: the dev-chosen threshold."
    )
    integrity: IntegrityRecord | None = Field(
        None, description="Tuned arms: the check that the adapter changed the outputs."
    )
    forgetting: ArmForgetting | None = Field(
        None, description="What this arm costs the model elsewhere (every arm has it)."
    )
    retrieval: RetrievalRecord | None = Field(
        None, description="Retrieving arms (rag, similar-example few-shot, embed-knn...)."
    )
    api: ApiRecord | None = Field(None, description="Arms on hosted endpoints.")
    seeds: SeedStudy | None = Field(None, description="Arms run with several `seeds`.")
    learning_curve: list[CurvePoint] | None = Field(
        None, description="Arms with `train_sizes`: one point per size, smallest first."
    )
    sweep: SweepRecord | None = Field(None, description="Tuning arms with a `sweep:` block.")
    search: SearchRecord | None = Field(
        None, description="optimized-prompt arms: the prompt search and its winner."
    )
    cost: ArmCost | None = Field(
        None, description="The cost model's figures (recomputed by `tvp report`)."
    )
