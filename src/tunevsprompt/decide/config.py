"""The suite's `pricing:`, `decision:` and `gates:` blocks. Every default is a placeholder a
team should replace with its own prices and bars; results.json records the values used."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from tunevsprompt.decide.rule import Margin
from tunevsprompt.suite.strict import STRICT

# Rough on-demand list prices per GPU-hour (USD, late 2026) from the large GPU clouds; set your
# own in `pricing.gpu_usd_per_hour`. Keys are matched as substrings of the CUDA device name.
DEFAULT_GPU_USD_PER_HOUR = {
    "H200": 3.80,
    "H100": 3.00,
    "A100": 1.80,
    "L40S": 1.20,
    "A10": 1.00,
    "L4": 0.80,
    "T4": 0.50,
    "default": 2.50,
}


class Strict(BaseModel):
    model_config = STRICT


class ApiPrice(Strict):
    """The price of a hosted model, per million tokens."""

    input_usd_per_mtok: float = Field(ge=0, description="USD per million input tokens.")
    output_usd_per_mtok: float = Field(ge=0, description="USD per million output tokens.")


class PricingConfig(Strict):
    """What compute and API calls cost, and how much traffic the feature will see."""

    gpu_usd_per_hour: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_GPU_USD_PER_HOUR),
        description="USD per GPU-hour by device type, matched as a substring of the CUDA "
        "device name (e.g. H100); `default` covers the rest. Replaces the built-in table.",
    )
    cpu_usd_per_hour: float = Field(
        0.10,
        ge=0,
        description="USD per hour of the CPU machine the run measured on (used when an arm "
        "served or trained on the CPU).",
    )
    api: dict[str, ApiPrice] = Field(
        default_factory=dict,
        description="Prices of hosted models by model name; overrides the genai-prices table.",
    )
    monthly_requests: list[int] = Field(
        default_factory=lambda: [10_000, 100_000, 1_000_000],
        min_length=1,
        description="Monthly request volumes to price (one figure or a list).",
    )
    amortise_months: float = Field(
        12, gt=0, description="Months over which one-time costs (training, index) are spread."
    )
    utilisation: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of paid serving time spent on requests; 0.5 doubles the measured "
        "compute cost per request.",
    )

    @field_validator("monthly_requests", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, int | float) else value

    @field_validator("monthly_requests")
    @classmethod
    def _positive(cls, volumes: list[int]) -> list[int]:
        if any(v <= 0 for v in volumes):
            raise ValueError("monthly request volumes must be positive")
        return sorted(set(volumes))


class ForgettingLimit(Strict):
    """The most a tuned arm may lose on a forgetting probe, in the probe's own direction
    (a rise for perplexity, a drop for accuracy). Judged on the CI: the arm passes when the
    whole CI of its loss is within the limit."""

    probe: str | None = Field(None, description="Probe name; default: the primary probe.")
    max_delta: float | None = Field(
        None, ge=0, description="Largest loss in the probe's units (e.g. +3 perplexity)."
    )
    max_relative: float | None = Field(
        None, ge=0, description="Largest loss as a share of the base score (0.1 = 10%)."
    )

    @model_validator(mode="after")
    def _one_limit(self) -> ForgettingLimit:
        if self.max_delta is None and self.max_relative is None:
            raise ValueError("give max_delta or max_relative (or both)")
        return self


class Constraints(Strict):
    """Bars an arm must clear. Absent bars are not checked."""

    min_quality: float | None = Field(
        None, description="Lowest acceptable headline metric, checked on the CI's lower bound."
    )
    max_p95_ms: float | None = Field(
        None, gt=0, description="Highest acceptable p95 latency per request, milliseconds."
    )
    max_forgetting: ForgettingLimit | None = Field(
        None, description="Highest acceptable forgetting (tuned arms)."
    )
    max_error_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Highest acceptable share of requests that failed (hosted endpoints: "
        "after the client's retries), in this run.",
    )
    max_parse_failure_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Highest acceptable share of answers that could not be parsed into a label "
        "or answer, checked on its Clopper–Pearson upper bound: with no failure, a limit r "
        "needs ln(0.025)/ln(1 − r) test examples (72 for 0.05, 183 for 0.02), and 0 can never "
        "be shown.",
    )


DEFAULT_MARGIN = 0.02


class DecisionConfig(Constraints):
    """What the recommended arm must satisfy, the quality loss worth accepting for a saving,
    and the volume to decide at."""

    margin: float | str = Field(
        DEFAULT_MARGIN,
        description="The largest loss in the headline metric worth accepting for a cheaper arm "
        "(non-inferiority margin): a cheaper arm is recommended over a dearer one only when "
        "the upper bound of the 95% interval of (dearer − cheaper) is below it. A number is "
        "in the metric's units (0.02 = 2 points of accuracy); a string such as '5%' is a "
        "share of the dearer arm's score. 0 never trades quality for cost.",
    )
    min_seeds: int | None = Field(
        None,
        ge=1,
        description="Arms that train weights (LoRA, soft prompts) must have run at least this "
        "many seeds (`seeds:` on the arm) to be recommended.",
    )

    max_monthly_usd: float | None = Field(
        None, gt=0, description="Highest acceptable monthly cost at the decision volume."
    )
    volume: int | None = Field(
        None,
        gt=0,
        description="Monthly requests to decide at. Default: the middle of "
        "pricing.monthly_requests.",
    )

    @field_validator("margin")
    @classmethod
    def _margin(cls, value: float | str) -> float | str:
        parse_margin(value)
        return value

    def margin_rule(self) -> Margin:
        return parse_margin(self.margin)


class GatesConfig(Constraints):
    """CI gates that `tvp gate` and the end of `tvp compare` check against results.json."""

    arm: str | None = Field(
        None, description="The arm the bars apply to. Default: the recommended arm."
    )
    require_recommendation: str | None = Field(
        None, description="Fail unless this arm is the recommendation."
    )
    min_class_recall: dict[str, Annotated[float, Field(ge=0, lt=1)]] | None = Field(
        None,
        description="Label → lowest acceptable recall of that class (classification), "
        "checked on its Clopper–Pearson lower bound: e.g. {card_arrival: 0.8}.",
    )
    max_ece: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Highest acceptable expected calibration error of the gated arm's "
        "confidence (arms that give one), checked on its interval's upper bound.",
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> GatesConfig:
        bars = (
            self.min_quality,
            self.max_p95_ms,
            self.max_forgetting,
            self.max_error_rate,
            self.max_parse_failure_rate,
            self.require_recommendation,
            self.min_class_recall,
            self.max_ece,
        )
        if all(v is None for v in bars):
            raise ValueError(
                "the gates check nothing: set min_quality, max_p95_ms, max_forgetting, "
                "max_error_rate, max_parse_failure_rate, min_class_recall, max_ece or "
                "require_recommendation"
            )
        return self


def parse_margin(value: float | str) -> Margin:
    """0.02 (absolute) or '5%' (relative to the dearer arm's score)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError(
                f"margin {value!r}: give a number in the metric's units (0.02) or a share "
                "of the dearer arm's score ('5%')"
            )
        try:
            share = float(text[:-1]) / 100
        except ValueError:
            raise ValueError(f"margin {value!r}: {text[:-1]!r} is not a number") from None
        if not 0 <= share < 1:
            raise ValueError(f"margin {value!r}: a share must be from 0% to below 100%")
        return Margin(share, relative=True)
    if not 0 <= float(value) < 1 or value != value:
        raise ValueError(f"margin {value!r}: must be from 0 to below 1 in the metric's units")
    return Margin(float(value))
