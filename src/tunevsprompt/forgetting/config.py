"""The suite's ``forgetting:`` block: which probe sets measure what tuning cost the model
elsewhere, and which one gives an arm's headline forgetting figure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from tunevsprompt.suite.strict import STRICT

BUILTIN_SOURCES: dict[str, str] = {
    "builtin:prose": "perplexity",
    "builtin:trivia": "multiple-choice",
    "builtin:mmlu": "multiple-choice",
}
"""Probe sets shipped with (or installed beside) tvp, and the probe kind each one feeds."""


class ProbeConfig(BaseModel):
    """One probe set, run on the base model and on every arm that changes the weights."""

    model_config = STRICT
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Probe name, used in results."
    )
    kind: Literal["perplexity", "multiple-choice", "suite"] = Field(
        description="perplexity: token log-likelihood of held-out general text; "
        "multiple-choice: questions scored by log-likelihood of each option; "
        "suite: another suite's eval set (a task the model must keep doing)."
    )
    source: str = Field(
        description="builtin:prose (perplexity), builtin:trivia or builtin:mmlu "
        "(multiple-choice), or a path relative to this suite's folder: a .txt/.md file or folder "
        "(perplexity), a JSONL file with question/choices/answer (multiple-choice), a suite "
        "YAML file (suite)."
    )
    n: int | None = Field(
        None,
        ge=1,
        description="Questions (multiple-choice) or test examples (suite) used; default: all.",
    )
    max_tokens: int | None = Field(
        None, ge=2, description="perplexity: tokens of the text used; default: all of it."
    )
    window: int = Field(
        256,
        ge=2,
        description="perplexity: tokens per scored window; windows are the resampled units of "
        "the bootstrap CI.",
    )
    metric: Literal["acc", "acc_norm"] = Field(
        "acc",
        description="multiple-choice headline: acc (highest log-likelihood) or acc_norm "
        "(log-likelihood per character of the option, as lm-evaluation-harness).",
    )
    choices: int = Field(
        4,
        ge=2,
        le=10,
        description="builtin:trivia: options per question (the answer plus distractors drawn "
        "from the other questions' answers).",
    )
    arm: str | None = Field(
        None,
        description="suite: the prompting arm of that suite to run (default: its first "
        "zero-shot or few-shot arm).",
    )

    @model_validator(mode="after")
    def _source_fits_kind(self) -> ProbeConfig:
        expected = BUILTIN_SOURCES.get(self.source)
        if self.source.startswith("builtin:") and expected is None:
            raise ValueError(
                f"unknown built-in probe source {self.source!r}; "
                f"known: {', '.join(BUILTIN_SOURCES)}"
            )
        if expected is not None and expected != self.kind:
            raise ValueError(f"source {self.source} is a {expected} probe, not {self.kind}")
        if self.kind == "suite" and self.source.startswith("builtin:"):
            raise ValueError("a suite probe's source is the path of a suite YAML file")
        if self.arm is not None and self.kind != "suite":
            raise ValueError("`arm` applies to suite probes only")
        return self


def default_probes() -> list[ProbeConfig]:
    """Sized for CPU: well under a minute per probed model with the packaged 135M model."""
    return [
        ProbeConfig(name="prose", kind="perplexity", source="builtin:prose", max_tokens=4096),
        ProbeConfig(name="trivia", kind="multiple-choice", source="builtin:trivia", n=120),
    ]


class ForgettingConfig(BaseModel):
    """Forgetting probes. When the block is absent, the built-in probes run (general prose
    perplexity and general-knowledge trivia); built-ins whose package is missing are skipped
    with a note."""

    model_config = STRICT
    enabled: bool = Field(True, description="Probe the arms that change the model's weights.")
    probes: list[ProbeConfig] = Field(
        default_factory=default_probes, description="Probe sets (default: prose and trivia)."
    )
    primary: str | None = Field(
        None,
        description="The probe whose delta is an arm's headline forgetting figure "
        "(default: the first probe).",
    )
    bootstrap_samples: int = Field(
        10_000,
        ge=100,
        description="Resamples for the 95% CIs (percentile bootstrap over the probe's items); "
        "10,000 keep the bootstrap seed from moving a forgetting bar.",
    )

    @model_validator(mode="after")
    def _names(self) -> ForgettingConfig:
        names = [p.name for p in self.probes]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"probe names must be unique; repeated: {', '.join(doubled)}")
        if self.primary is not None and self.primary not in names:
            raise ValueError(
                f"primary names {self.primary!r}, which is not a probe here "
                f"(probes: {', '.join(names) or 'none'})"
            )
        return self

    @property
    def primary_probe(self) -> str | None:
        return self.primary or (self.probes[0].name if self.probes else None)
