"""The prompting arms: zero-shot and few-shot. No weights change; only the prompt does."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from tunevsprompt.arms.base import ArmConfig, RunContext
from tunevsprompt.arms.capabilities import LearnsFromExamples
from tunevsprompt.errors import RunError
from tunevsprompt.generation.base import DecodingSettings, Generator
from tunevsprompt.generation.endpoint import HostedArmKeys
from tunevsprompt.retrieval.config import EmbedderConfig, IndexConfig
from tunevsprompt.suite.strict import Seed
from tunevsprompt.task.data import stratified_sample
from tunevsprompt.task.labels import LabelSet, ParseMode, answer_form
from tunevsprompt.task.prompts import build_prompt
from tunevsprompt.task.types import Example, Prediction, Prompt

if TYPE_CHECKING:
    from tunevsprompt.arms.hosted import HostedModel
    from tunevsprompt.arms.retrieving import ArmRetrieval


class PromptingConfig(ArmConfig, HostedArmKeys):
    """Keys shared by the prompting arms."""

    decide: Literal["rank", "generate"] = Field(
        "rank",
        description="classification: rank = pick the label with the highest log-likelihood; "
        "generate = greedy text mapped to a label. Generation tasks always generate, and so do "
        "arms with backend: openai (chat endpoints cannot score given answers).",
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
        problems = self.hosted_key_problems()
        ranks = self.decide == "rank" and "decide" in self.model_fields_set
        if self.backend == "openai" and ranks:
            problems.append(
                (
                    "decide",
                    "backend: openai cannot rank: chat-completions endpoints do not return the "
                    "log-likelihood of given answers; use decide: generate (the default there)",
                )
            )
        elif task_type == "generation" and ranks:
            problems.append(
                ("decide", "rank needs a label set; a generation task must use decide: generate")
            )
        return problems

    def decide_for(self, task_type: str) -> str:
        """The decision rule this arm runs with on this task."""
        if task_type == "classification" and self.backend == "local":
            return self.decide
        return "generate"


class ZeroShotConfig(PromptingConfig):
    """Instruction + label list + input."""

    type: Literal["zero-shot"] = "zero-shot"


class FewShotConfig(PromptingConfig, LearnsFromExamples):
    """Instruction + label list + k demonstrations from the train split + input.

    With ``train_sizes`` the demonstrations are drawn from pools of those sizes."""

    type: Literal["few-shot"] = "few-shot"
    k: int = Field(8, ge=1, description="Number of demonstrations.")
    selection: Literal["random", "fixed", "similar"] = Field(
        "random",
        description="random: stratified over labels, seeded; fixed: the train ids in `ids`; "
        "similar: for each input, the k training examples nearest to it (sentence embeddings "
        "+ FAISS), the most similar one last, next to the input.",
    )
    ids: list[str] | None = Field(None, description="Train example ids, for selection: fixed.")
    seed: Seed | None = Field(None, description="Seed for selection; default: sampling.seed.")
    embedder: EmbedderConfig | None = Field(
        None, description="selection: similar: the embedder (default: packaged all-MiniLM-L6-v2)."
    )
    index: IndexConfig | None = Field(
        None, description="selection: similar: the FAISS index over the train split (default flat)."
    )

    @model_validator(mode="after")
    def _ids_match_selection(self) -> FewShotConfig:
        if self.selection == "fixed" and not self.ids:
            raise ValueError("selection: fixed needs `ids` (train example ids)")
        if self.selection != "fixed" and self.ids:
            raise ValueError("`ids` is only used with selection: fixed")
        if self.seeds and self.seed is not None:
            raise ValueError("set either `seed` or `seeds`, not both")
        if self.selection != "similar" and (self.embedder or self.index):
            raise ValueError("`embedder` and `index` are only used with selection: similar")
        return self


class PromptingArm:
    """Shared prediction logic; subclasses choose the demonstrations."""

    config_model: ClassVar[type[ArmConfig]] = ZeroShotConfig

    def __init__(self, config: PromptingConfig):
        self.config = config
        self.name = config.name
        self.demonstrations: list[Example] = []
        self._ctx: RunContext | None = None
        self._hosted: HostedModel | None = None
        self._extras: dict[str, dict[str, Any]] = {}
        """Per-example facts gathered while building prompts (what was retrieved), merged
        into each Prediction's ``extra``."""

    def choose_demonstrations(self, train: Sequence[Example], seed: int) -> list[Example]:
        return []

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        self._ctx = ctx
        problems = self.config.problems_for_task(ctx.task.type)
        if problems:
            raise RunError(f"arm {self.name}: {problems[0][0]}: {problems[0][1]}")
        self.demonstrations = self.choose_demonstrations(train, ctx.seed)
        if self.config.backend == "openai":
            self._hosted = ctx.open_hosted(self.config)
        record: dict[str, Any] = {
            "decide": self._decide(),
            "demonstration_ids": [d.id for d in self.demonstrations],
        }
        return {"prompting": record}

    def api_record(self) -> dict[str, Any] | None:
        """``arms.<name>.api`` for an arm on a hosted endpoint: where, which model, and what
        the requests met (retries, rate limits, errors)."""
        if self._hosted is None:
            return None
        return self._hosted.record()

    def _decide(self) -> str:
        assert self._ctx is not None
        return self.config.decide_for(self._ctx.task.type)

    def _answer_form(self, target: str) -> str:
        return answer_form(self._labels(), target)

    def _labels(self) -> LabelSet | None:
        assert self._ctx is not None
        return self._ctx.task.labels

    def prompt_for(
        self, example: Example, demonstrations: Sequence[Example] | None = None
    ) -> Prompt:
        """The prompt for ``example``: the arm's demonstrations, or the ones given."""
        assert self._ctx is not None
        chosen = self.demonstrations if demonstrations is None else demonstrations
        demos = [(d.input, self._answer_form(d.target)) for d in chosen]
        instruction = self.config.instruction or self._ctx.task.instruction
        return build_prompt(
            instruction, self._labels(), example.input, demos, self.config.show_labels
        )

    def prompts_for(self, batch: Sequence[Example]) -> list[Prompt]:
        """Prompts for a batch; arms that retrieve do it here, once for the whole batch."""
        return [self.prompt_for(e) for e in batch]

    def generator(self) -> Generator:
        """The model this arm predicts with: the run's base model, or the arm's hosted one."""
        assert self._ctx is not None, "prepare() must run before predict()"
        if self._hosted is not None:
            return self._hosted.generator
        return self._ctx.generator

    def predict(self, batch: Sequence[Example]) -> list[Prediction]:
        return self.predict_with(self.generator(), batch)

    def predict_with(self, generator: Generator, batch: Sequence[Example]) -> list[Prediction]:
        """This arm's prompts and decision rule, answered by ``generator``."""
        assert self._ctx is not None, "prepare() must run before predict()"
        prompts = self.prompts_for(batch)
        if self._decide() == "rank":
            ranked = [self._rank(generator, e, p) for e, p in zip(batch, prompts, strict=True)]
            return self._with_extras(ranked)
        settings = DecodingSettings(self.config.max_new_tokens, 0.0, self.config.batch_size)
        outputs = generator.generate(prompts, settings)
        predictions = []
        labels = self._labels()
        for example, out in zip(batch, outputs, strict=True):
            label: str | None
            if out.error is not None:
                predictions.append(
                    Prediction(example.id, "", None, 0, 0, "error", extra={"error": out.error})
                )
                continue
            if labels is None:
                label, how = out.text, "text"
            else:
                label, how = labels.parse(out.text, self.config.parse)
            predictions.append(
                Prediction(example.id, out.text, label, out.input_tokens, out.output_tokens, how)
            )
        return self._with_extras(predictions)

    def _with_extras(self, predictions: list[Prediction]) -> list[Prediction]:
        for prediction in predictions:
            prediction.extra.update(self._extras.pop(prediction.example_id, {}))
        return predictions

    def _rank(self, generator: Generator, example: Example, prompt: Prompt) -> Prediction:
        labels = self._labels()
        assert labels is not None
        forms = labels.shown()
        scores = generator.score(prompt, forms)
        order = sorted(range(len(forms)), key=lambda i: scores.logprobs[i], reverse=True)
        best = order[0]
        margin = scores.logprobs[best] - scores.logprobs[order[1]] if len(order) > 1 else 0.0
        # The softmax over the label scores the choice was made on: the answer's probability.
        confidence = 1.0 / sum(math.exp(lp - scores.logprobs[best]) for lp in scores.logprobs)
        return Prediction(
            example.id,
            forms[best],
            labels.labels[best],
            scores.input_tokens,
            scores.token_counts[best],
            "rank",
            extra={
                "logprob": scores.logprobs[best],
                "margin": margin,
                "confidence": round(confidence, 6),
            },
        )

    def visible_texts(self) -> list[str]:
        return [d.input for d in self.demonstrations]


class ZeroShotArm(PromptingArm):
    config_model = ZeroShotConfig


class FewShotArm(PromptingArm):
    config_model = FewShotConfig

    def __init__(self, config: PromptingConfig):
        super().__init__(config)
        self._pool: dict[str, Example] = {}
        self._retrieval: ArmRetrieval | None = None

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        record = super().prepare(train, ctx)
        config = self.config
        assert isinstance(config, FewShotConfig)
        if config.selection == "similar":
            self._open_index(train, ctx, config)
            record["prompting"]["demonstration_ids"] = None
            record["prompting"]["selection"] = "similar"
        return record

    def _open_index(self, train: Sequence[Example], ctx: RunContext, config: FewShotConfig) -> None:
        from tunevsprompt.arms.retrieving import open_retrieval
        from tunevsprompt.retrieval.corpus import documents_from_examples

        self._pool = {e.id: e for e in train}
        self._retrieval = open_retrieval(
            documents_from_examples(train),
            None,
            0,
            config.embedder or EmbedderConfig(),
            config.index or IndexConfig(),
            config.k,
            ctx,
        )

    def prompts_for(self, batch: Sequence[Example]) -> list[Prompt]:
        retrieval = self._retrieval
        if retrieval is None:
            return super().prompts_for(batch)
        assert self._ctx is not None
        hits, ms = retrieval.retrieve(batch)
        prompts = []
        classification = self._ctx.task.type == "classification"
        for example, found in zip(batch, hits, strict=True):
            demos = [self._pool[h.chunk.source_id] for h in found]
            gold = example.target if classification else None
            retrieval.log.add(example.id, [d.target for d in demos], gold)
            retrieval.shown.update((d.id, d.input) for d in demos)
            self._extras[example.id] = {
                "stage_ms": {"retrieval": ms},
                "context": {
                    "demonstrations": [d.id for d in demos],
                    "scores": [round(h.score, 4) for h in found],
                },
            }
            prompts.append(self.prompt_for(example, list(reversed(demos))))
        return prompts

    def retrieval_record(self, example_ids: Sequence[str]) -> dict[str, Any] | None:
        """For selection: similar, ``arms.<name>.retrieval``; hit@k asks whether the gold
        label is among the retrieved demonstrations' labels."""
        if self._retrieval is None:
            return None
        return self._retrieval.record(example_ids, "gold label")

    def visible_texts(self) -> list[str]:
        if self._retrieval is not None:
            return list(self._retrieval.shown.values())
        return super().visible_texts()

    def choose_demonstrations(self, train: Sequence[Example], seed: int) -> list[Example]:
        config = self.config
        assert isinstance(config, FewShotConfig)
        seed = config.seed if config.seed is not None else seed
        if config.selection != "fixed" and len(train) < config.k:
            raise RunError(
                f"arm {self.name}: k={config.k} but the train split has only {len(train)} examples"
            )
        if config.selection == "similar":
            return []
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
        return chosen
