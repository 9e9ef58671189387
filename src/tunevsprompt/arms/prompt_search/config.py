"""The `optimized-prompt` arm's suite keys: what the search may try, who proposes
instructions, and how much it may spend."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from tunevsprompt.arms.prompting import PromptingConfig
from tunevsprompt.generation.endpoint import HostedArmKeys
from tunevsprompt.retrieval.config import EmbedderConfig, IndexConfig
from tunevsprompt.suite.strict import STRICT, Seed

DemoStrategy = Literal["random", "stratified", "similar", "bootstrapped"]
MANY_SHOT = "max"
"""In ``k``: as many demonstrations as the model's context window holds."""


def _default_strategies() -> list[DemoStrategy]:
    return ["stratified", "similar"]


class SearchBudget(BaseModel):
    """`budget:` how much the search may spend. Whichever limit is reached first ends it;
    the final choice on the full dev split is reserved before the search starts, so the
    limits hold for the whole search, proposals included."""

    model_config = STRICT
    model_calls: int | None = Field(
        600,
        ge=1,
        description="Most model calls: one per dev example a candidate is scored on (a rank "
        "scoring or a generation), and one per proposer request.",
    )
    seconds: float | None = Field(
        None,
        gt=0,
        description="Most wall-clock seconds of search; checked between evaluations, so a "
        "candidate being scored finishes. A resumed search counts the seconds spent before.",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> SearchBudget:
        if self.model_calls is None and self.seconds is None:
            raise ValueError("set model_calls, seconds or both")
        return self


class ProposerConfig(HostedArmKeys):
    """`proposer:` the model that writes candidate instructions and label descriptions.
    Default: the suite's local model. A small model proposing for itself writes weak
    instructions; a stronger hosted one (`backend: openai`) usually helps more."""

    max_new_tokens: int = Field(
        96, ge=8, description="Longest instruction or label description it may write."
    )


class OptimizedPromptConfig(PromptingConfig):
    """Instruction and demonstration search on the dev split, scored with the suite's metric
    and decoded like the other prompting arms; the test split is scored once, with the
    winner."""

    type: Literal["optimized-prompt"] = "optimized-prompt"
    start_from: list[str] = Field(
        default_factory=list,
        description="Prompting arms of this suite (zero-shot, few-shot, at most one rag) whose "
        "prompts are candidates as written, so that the winner is never worse on dev than "
        "them. A rag arm also adds its prompt to the search: every instruction with `top_k` "
        "passages from its corpus, in its layout.",
    )
    top_k: list[int] | None = Field(
        None,
        description="With a rag arm in `start_from`: the numbers of retrieved passages to try "
        "(default: that arm's top_k).",
    )
    proposals: int = Field(
        4, ge=0, le=32, description="Instructions the proposer writes from the task and examples."
    )
    reflections: int = Field(
        1,
        ge=0,
        le=8,
        description="Rounds in which the proposer rewrites the best instruction so far from "
        "its failures on the dev examples scored so far.",
    )
    label_descriptions: bool = Field(
        True,
        description="classification: also try the label list with one line per label, written "
        "by the proposer from training examples.",
    )
    k: list[int | Literal["max"]] = Field(
        default_factory=lambda: [0, 4, 8],  # type: ignore[arg-type]
        min_length=1,
        description="Numbers of demonstrations to try (0 = none). `max`: many-shot, as many "
        "random or stratified demonstrations as the model's context window holds (found by "
        "bisection on the prompt's length). Counts whose prompts exceed the context window "
        "are skipped.",
    )
    strategies: list[DemoStrategy] = Field(
        default_factory=_default_strategies,
        min_length=1,
        description="How demonstration sets are drawn from train: random, stratified (over "
        "labels), similar (the nearest training examples to each input), bootstrapped (after "
        "the first rung, training examples the leading candidate answers right: the largest "
        "k of `k`, drawn from twice as many answered, counted in the budget).",
    )
    dev_limit: int = Field(
        128, ge=4, description="Dev examples the search may use (stratified sample)."
    )
    minibatch: int = Field(
        16,
        ge=2,
        description="Dev examples in the first rung of successive halving; each rung scores "
        "the surviving candidates on `eta` times as many.",
    )
    eta: int = Field(2, ge=2, le=4, description="Successive halving keeps 1/eta per rung.")
    budget: SearchBudget = Field(
        default_factory=SearchBudget, description="How much the search may spend."
    )
    proposer: ProposerConfig | None = Field(
        None, description="Who writes instructions (default: the suite's model)."
    )
    seed: Seed | None = Field(None, description="Seed of the search; default: sampling.seed.")
    embedder: EmbedderConfig | None = Field(
        None, description="strategy similar: the embedder (default: packaged all-MiniLM-L6-v2)."
    )
    index: IndexConfig | None = Field(
        None, description="strategy similar: the FAISS index over the train split."
    )

    def counts(self) -> list[int]:
        """The fixed counts of ``k`` (without ``max``)."""
        return [k for k in self.k if isinstance(k, int)]

    def arm_references(self) -> dict[tuple[str | int, ...], str]:
        return {("start_from", i): name for i, name in enumerate(self.start_from)}

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        problems = super().problems_for_task(task_type)
        classification = task_type == "classification"
        asked = "label_descriptions" in self.model_fields_set and self.label_descriptions
        if not classification and asked:
            problems.append(("label_descriptions", "needs a classification task"))
        if not classification and "stratified" in self.strategies:
            problems.append(("strategies", "stratified needs labels; use random"))
        if len(set(self.k)) != len(self.k) or any(k < 0 for k in self.counts()):
            problems.append(("k", "give distinct counts of 0 or more (or max)"))
        if len(set(self.start_from)) != len(self.start_from):
            problems.append(("start_from", "names an arm twice"))
        if MANY_SHOT in self.k and not {"random", "stratified"} & set(self.strategies):
            problems.append(("k", "max (many-shot) needs strategy random or stratified"))
        if self.top_k is not None and (
            not self.top_k or len(set(self.top_k)) != len(self.top_k) or min(self.top_k) < 1
        ):
            problems.append(("top_k", "give distinct counts of 1 or more"))
        return problems
