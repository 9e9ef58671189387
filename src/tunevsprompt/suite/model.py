"""The suite file's schema (pydantic v2). Every field is documented where it is declared."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tunevsprompt.decide.config import DecisionConfig, GatesConfig, PricingConfig
from tunevsprompt.forgetting.config import ForgettingConfig
from tunevsprompt.generation.endpoint import EndpointDefaults
from tunevsprompt.suite.strict import DEVICE_HELP, STRICT, DeviceName, Seed


class Strict(BaseModel):
    """Base for every suite model: unknown keys are errors, not silently ignored."""

    model_config = STRICT


class DataConfig(Strict):
    """Where the task's examples live. Paths are relative to the suite file's folder."""

    train: str | None = Field(
        None,
        description="Training split: a .jsonl/.json, .csv, .parquet file or a save_to_disk folder.",
    )
    dev: str | None = Field(
        None, description="Dev split. When absent, dev is carved from train (see dev_fraction)."
    )
    test: str | None = Field(None, description="Test split, the one every arm is evaluated on.")
    dataset: str | None = Field(
        None,
        description="A `datasets` save_to_disk DatasetDict folder holding the splits (instead of "
        "train/dev/test files), or `hub:<id>` to load from the Hugging Face hub (needs network).",
    )
    split_names: dict[str, str] = Field(
        default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"},
        description="Split names inside `dataset`, for the keys train, dev and test.",
    )
    dev_fraction: float = Field(
        0.1, gt=0, lt=1, description="Share of train carved into dev when no dev split is given."
    )
    max_test_overlap: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Largest share of test inputs that may also appear (verbatim, or equal "
        "after lower-casing and dropping punctuation and articles) in train, dev or an arm's "
        "corpus: `tvp validate` and `tvp compare` stop above it, and warn with counts below "
        "it. 1 turns the stop off.",
    )

    @model_validator(mode="after")
    def _has_test(self) -> DataConfig:
        if self.dataset is None and self.test is None:
            raise ValueError("give `test` (a file) or `dataset` (a folder holding the splits)")
        if self.dataset is not None and any((self.train, self.dev, self.test)):
            raise ValueError("give either `dataset` or train/dev/test files, not both")
        return self


class TaskConfig(Strict):
    """What the model must do, and on which data."""

    type: Literal["classification", "generation"] = Field(
        description="classification: pick one label; generation: free-text answer."
    )
    data: DataConfig
    input_field: str = Field("text", description="Column/key holding the model input.")
    target_field: str = Field("label", description="Column/key holding the label or reference.")
    id_field: str | None = Field(
        None, description="Column/key with a stable example id; default: split name + row number."
    )
    labels: list[str] | None = Field(
        None, description="The label set (classification). Default: every label seen in the data."
    )
    instruction: str = Field(description="What the model is asked to do, in plain words.")
    abstain_label: str | None = Field(
        None,
        description="A label of the data that means out of scope (CLINC150's `oos`): every "
        "arm whose answers carry a confidence also answers it below a threshold chosen on "
        "the dev split, and the report gives out-of-scope recall and in-scope accuracy "
        "without and with that abstention (classification).",
    )


class ModelConfig(Strict):
    """The model under test. Any hub id or local path works where the network allows."""

    id: str = Field(
        "packaged:smollm2-135m-instruct",
        description="`packaged:<name>` (offline, from an installed package), a hub id, or a path.",
    )
    gguf_file: str | None = Field(None, description="GGUF file name inside `id`, if any.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    device: DeviceName = Field("auto", description=DEVICE_HELP)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 on CUDA, float32 on CPU."
    )


class SamplingConfig(Strict):
    """Deterministic, stratified caps that keep a run within its time budget."""

    seed: Seed = Field(
        0, description="Seed for every sampling step (splits, caps, demonstrations)."
    )
    train_per_class: int | None = Field(None, ge=1, description="Cap on train examples per label.")
    dev_per_class: int | None = Field(None, ge=1, description="Cap on dev examples per label.")
    test_per_class: int | None = Field(None, ge=1, description="Cap on test examples per label.")
    train_max: int | None = Field(None, ge=1, description="Cap on train examples in total.")
    dev_max: int | None = Field(None, ge=1, description="Cap on dev examples in total.")
    test_max: int | None = Field(None, ge=1, description="Cap on test examples in total.")


class MetricsConfig(Strict):
    """Quality metrics and how their uncertainty is estimated."""

    primary: str | None = Field(
        None,
        description="Headline metric. Default: accuracy (classification), token_f1 (generation). "
        "Built-in: accuracy, macro_f1 (classification); exact_match, token_f1, rouge_l "
        "(generation); or a user metric of the task's type (register_metric, or a plugin in "
        "the entry-point group tunevsprompt.metrics).",
    )
    bootstrap_samples: int = Field(
        10_000,
        ge=100,
        description="Bootstrap resamples for the standard error of metrics that are not a "
        "mean over examples (macro-F1). The decision always uses at least 10,000, so that the "
        "bootstrap seed cannot change a verdict.",
    )
    cluster_field: str | None = Field(
        None,
        description="A field of the data whose examples are not independent of each other "
        "(the source document, the template, the intent): every interval and test then "
        "treats each cluster as one unit (cluster-robust standard errors, whole clusters "
        "resampled), and the design effect is reported.",
    )


DEFAULT_LATENCY_SAMPLE = 50


class LatencyConfig(Strict):
    """Per-request latency, measured one request at a time after a warm-up."""

    sample: int | None = Field(
        None,
        ge=0,
        description="Examples timed at batch size 1 (0 turns it off). Default: 50, or 72 when "
        "the decision or the gates set a p95 bar (the fewest requests whose slowest one bounds "
        "a p95 with 95% confidence).",
    )
    warmup: int = Field(2, ge=0, description="Untimed requests before timing.")


class OutputConfig(Strict):
    """Where results go."""

    dir: str | None = Field(
        None, description="Run folder. Default: reports/<suite name>/<timestamp>/ (cwd-relative)."
    )


class ArmEntry(Strict):
    """The common part of every arm; the rest of its keys are validated by the arm's own config."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Unique name of the arm in this suite, used in results and as a folder "
        "name (letters, digits, `_`, `.`, `-`).",
    )
    type: str = Field(description="Arm type, e.g. zero-shot, few-shot.")


class Suite(Strict):
    """One task, one model, several arms: the unit `tvp compare` runs."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Suite name (folder-safe)."
    )
    description: str = Field("", description="Free text shown in reports.")
    task: TaskConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    openai: EndpointDefaults | None = Field(
        None,
        description="Defaults for arms with backend: openai (an OpenAI-compatible endpoint): "
        "base_url, model, api_key_env, concurrency, timeouts, retries.",
    )
    arms: list[ArmEntry] = Field(min_length=1, description="The arms to compare.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    forgetting: ForgettingConfig | None = Field(
        None,
        description="Forgetting probes run on the base model and every arm that changes the "
        "weights. Absent: the built-in probes (prose perplexity, trivia).",
    )
    pricing: PricingConfig = Field(
        default_factory=PricingConfig,
        description="Prices and traffic for the cost model (placeholder defaults: set yours).",
    )
    decision: DecisionConfig = Field(
        default_factory=DecisionConfig,
        description="Bars the recommended arm must clear, and the monthly volume to decide at.",
    )
    gates: GatesConfig | None = Field(
        None,
        description="CI gates checked at the end of `tvp compare` (exit 1 when one fails) and by "
        "`tvp gate RUN_DIR`.",
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Fields of the test data whose values split the test set (a channel, a "
        "language): the report gives every arm's quality on each value, with its interval.",
    )

    @field_validator("arms")
    @classmethod
    def _unique_arm_names(cls, arms: list[ArmEntry]) -> list[ArmEntry]:
        seen: set[str] = set()
        for arm in arms:
            if arm.name in seen:
                raise ValueError(f"two arms are named {arm.name!r}; arm names must be unique")
            seen.add(arm.name)
        return arms

    def forgetting_config(self) -> ForgettingConfig:
        """The suite's forgetting block, or the built-in default when it has none."""
        return self.forgetting or ForgettingConfig()

    def latency_sample(self) -> int:
        """The timed sample: the suite's, else enough to bound a p95 bar when one is set."""
        if self.latency.sample is not None:
            return self.latency.sample
        from tunevsprompt.measure.stats import CI_LEVEL, samples_to_bound_quantile

        bars = (self.decision.max_p95_ms, self.gates.max_p95_ms if self.gates else None)
        if any(bar is not None for bar in bars):
            return max(DEFAULT_LATENCY_SAMPLE, samples_to_bound_quantile(0.95, CI_LEVEL))
        return DEFAULT_LATENCY_SAMPLE

    def sample_warnings(self, test_examples: int) -> list[str]:
        """Bars this suite sets that its sample sizes can never show to hold."""
        import math

        from tunevsprompt.measure.stats import CI_LEVEL, samples_to_bound_quantile

        warnings = []
        bars = (self.decision.max_p95_ms, self.gates.max_p95_ms if self.gates else None)
        needed = samples_to_bound_quantile(0.95, CI_LEVEL)
        timed = min(self.latency_sample(), test_examples)
        if any(bar is not None for bar in bars) and timed < needed:
            warnings.append(
                f"a p95 bar is set but only {timed} requests are timed (latency.sample, test "
                f"size), and bounding a p95 takes at least {needed}: the bar will be 'not "
                "demonstrated'; raise latency.sample (or remove it to use the default)"
            )
        rates = (
            self.decision.max_parse_failure_rate,
            self.gates.max_parse_failure_rate if self.gates else None,
        )
        for rate in {r for r in rates if r is not None}:
            least = math.inf if rate <= 0 else math.log((1 - CI_LEVEL) / 2) / math.log(1 - rate)
            if test_examples < least:
                takes = f"{math.ceil(least)}" if math.isfinite(least) else "infinitely many"
                warnings.append(
                    f"max_parse_failure_rate {rate:g} cannot be shown on {test_examples} test "
                    f"examples even with no failure (it takes {takes}): raise the limit or "
                    "the test size"
                )
        return warnings

    def primary_metric(self) -> str:
        if self.metrics.primary:
            return self.metrics.primary
        return "accuracy" if self.task.type == "classification" else "token_f1"


def arm_params(entry: ArmEntry) -> dict[str, Any]:
    """The arm's own keys (everything but name and type)."""
    return dict(entry.model_extra or {})
