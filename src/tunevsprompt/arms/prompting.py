"""The prompting arms: zero-shot and few-shot. No weights change; only the prompt does."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from tunevsprompt.arms.base import ArmConfig, LearnsFromExamples, RunContext
from tunevsprompt.data import stratified_sample
from tunevsprompt.errors import RunError
from tunevsprompt.generation.base import DecodingSettings, Generator
from tunevsprompt.labels import LabelSet, ParseMode
from tunevsprompt.prompts import build_prompt
from tunevsprompt.types import Example, Prediction, Prompt


class PromptingConfig(ArmConfig):
    """Keys shared by the prompting arms."""

    decide: Literal["rank", "generate"] = Field(
        "rank",
        description="classification: rank = pick the label with the highest log-likelihood; "
        "generate = greedy text mapped to a label. Generation tasks always generate.",
    )
    parse: ParseMode = Field(
        "nearest",
        description="How generated text maps to a label: exact, normalised (case, punctuation, "
        "containment) or nearest (closest label by string similarity).",
    )
    max_new_tokens: int = Field(24, ge=1, description="Generation length cap.")
    batch_size: int = Field(8, ge=1, description="Prompts per generate call in the batched pass.")
    instruction: str | None = Field(None, description="Overrides task.instruction for this arm.")
    show_labels: bool = Field(True, description="List the label set in the system message.")

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        if task_type == "generation" and self.decide == "rank":
            return [
                ("decide", "rank needs a label set; a generation task must use decide: generate")
            ]
        return []


class ZeroShotConfig(PromptingConfig):
    """Instruction + label list + input."""

    type: Literal["zero-shot"] = "zero-shot"


class FewShotConfig(PromptingConfig, LearnsFromExamples):
    """Instruction + label list + k demonstrations from the train split + input.

    With ``train_sizes`` the demonstrations are drawn from pools of those sizes."""

    type: Literal["few-shot"] = "few-shot"
    k: int = Field(8, ge=1, description="Number of demonstrations.")
    selection: Literal["random", "fixed"] = Field(
        "random",
        description="random: stratified over labels, seeded; fixed: the train ids in `ids`.",
    )
    ids: list[str] | None = Field(None, description="Train example ids, for selection: fixed.")
    seed: int | None = Field(None, description="Seed for selection; default: sampling.seed.")

    @model_validator(mode="after")
    def _ids_match_selection(self) -> FewShotConfig:
        if self.selection == "fixed" and not self.ids:
            raise ValueError("selection: fixed needs `ids` (train example ids)")
        if self.selection != "fixed" and self.ids:
            raise ValueError("`ids` is only used with selection: fixed")
        if self.seeds and self.seed is not None:
            raise ValueError("set either `seed` or `seeds`, not both")
        return self


class PromptingArm:
    """Shared prediction logic; subclasses choose the demonstrations."""

    config_model: ClassVar[type[ArmConfig]] = ZeroShotConfig

    def __init__(self, config: PromptingConfig):
        self.config = config
        self.name = config.name
        self.demonstrations: list[Example] = []
        self._ctx: RunContext | None = None

    def choose_demonstrations(self, train: Sequence[Example], seed: int) -> list[Example]:
        return []

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        self._ctx = ctx
        problems = self.config.problems_for_task(ctx.task.type)
        if problems:
            raise RunError(f"arm {self.name}: {problems[0][0]}: {problems[0][1]}")
        self.demonstrations = self.choose_demonstrations(train, ctx.seed)
        record: dict[str, Any] = {
            "decide": self._decide(),
            "demonstration_ids": [d.id for d in self.demonstrations],
        }
        return {"prompting": record}

    def _decide(self) -> str:
        assert self._ctx is not None
        return self.config.decide if self._ctx.task.type == "classification" else "generate"

    def _answer_form(self, target: str) -> str:
        labels = self._labels()
        return labels.surface.get(target, target) if labels else target

    def _labels(self) -> LabelSet | None:
        assert self._ctx is not None
        return self._ctx.task.labels

    def prompt_for(self, example: Example) -> Prompt:
        assert self._ctx is not None
        demos = [(d.input, self._answer_form(d.target)) for d in self.demonstrations]
        instruction = self.config.instruction or self._ctx.task.instruction
        return build_prompt(
            instruction, self._labels(), example.input, demos, self.config.show_labels
        )

    def generator(self) -> Generator:
        """The model this arm predicts with (the run's base model for prompting arms)."""
        assert self._ctx is not None, "prepare() must run before predict()"
        return self._ctx.generator

    def predict(self, batch: Sequence[Example]) -> list[Prediction]:
        return self.predict_with(self.generator(), batch)

    def predict_with(self, generator: Generator, batch: Sequence[Example]) -> list[Prediction]:
        """This arm's prompts and decision rule, answered by ``generator``."""
        assert self._ctx is not None, "prepare() must run before predict()"
        prompts = [self.prompt_for(e) for e in batch]
        if self._decide() == "rank":
            return [self._rank(generator, e, p) for e, p in zip(batch, prompts, strict=True)]
        settings = DecodingSettings(self.config.max_new_tokens, 0.0, self.config.batch_size)
        outputs = generator.generate(prompts, settings)
        predictions = []
        labels = self._labels()
        for example, out in zip(batch, outputs, strict=True):
            label: str | None
            if labels is None:
                label, how = out.text, "text"
            else:
                label, how = labels.parse(out.text, self.config.parse)
            predictions.append(
                Prediction(example.id, out.text, label, out.input_tokens, out.output_tokens, how)
            )
        return predictions

    def _rank(self, generator: Generator, example: Example, prompt: Prompt) -> Prediction:
        labels = self._labels()
        assert labels is not None
        forms = labels.shown()
        scores = generator.score(prompt, forms)
        order = sorted(range(len(forms)), key=lambda i: scores.logprobs[i], reverse=True)
        best = order[0]
        margin = scores.logprobs[best] - scores.logprobs[order[1]] if len(order) > 1 else 0.0
        return Prediction(
            example.id,
            forms[best],
            labels.labels[best],
            scores.input_tokens,
            scores.token_counts[best],
            "rank",
            extra={"logprob": scores.logprobs[best], "margin": margin},
        )

    def visible_texts(self) -> list[str]:
        return [d.input for d in self.demonstrations]


class ZeroShotArm(PromptingArm):
    config_model = ZeroShotConfig


class FewShotArm(PromptingArm):
    config_model = FewShotConfig

    def choose_demonstrations(self, train: Sequence[Example], seed: int) -> list[Example]:
        config = self.config
        assert isinstance(config, FewShotConfig)
        seed = config.seed if config.seed is not None else seed
        if config.selection == "fixed":
            by_id = {e.id: e for e in train}
            missing = [i for i in config.ids or [] if i not in by_id]
            if missing:
                raise RunError(
                    f"arm {self.name}: ids not in the (sampled) train split: "
                    + ", ".join(missing[:5])
                )
            return [by_id[i] for i in config.ids or []]
        stratify = self._ctx is not None and self._ctx.task.type == "classification"
        chosen = stratified_sample(train, None, config.k, seed, f"few-shot-{self.name}", stratify)
        random.Random(f"{seed}-{self.name}-order").shuffle(chosen)
        if len(chosen) < config.k:
            raise RunError(
                f"arm {self.name}: k={config.k} but the train split has only {len(chosen)} examples"
            )
        return chosen
