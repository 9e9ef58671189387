"""The RAG arm: retrieve passages for each input from a knowledge corpus (or the train split),
put them into the prompt under a token budget, then decide as the prompting arms do."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from tunevsprompt.arms.base import RunContext
from tunevsprompt.arms.prompting import PromptingArm, PromptingConfig
from tunevsprompt.retrieval.config import CorpusConfig, EmbedderConfig, IndexConfig
from tunevsprompt.task.prompts import build_prompt
from tunevsprompt.task.types import Example, Message, Prompt

if TYPE_CHECKING:
    from tunevsprompt.arms.retrieving import ArmRetrieval
    from tunevsprompt.retrieval.chunking import Document
    from tunevsprompt.retrieval.context import PackedContext
    from tunevsprompt.retrieval.retriever import Hit

_SLOT = re.compile(r"\{context\}|\{input\}")
DEFAULT_TEMPLATE = "Reference passages:\n\n{context}\n\n{input}"
# Small models echo a long meta-instruction back instead of answering: keep it short.
DEFAULT_CONTEXT_INSTRUCTION = "Use the reference passages when they are relevant."


class RagConfig(PromptingConfig):
    """Instruction + retrieved passages (with their ids) + input."""

    type: Literal["rag"] = "rag"
    corpus: CorpusConfig = Field(
        description="The knowledge corpus (path, chunking), or `train`: the task's train "
        "split, each example a passage showing its input and answer."
    )
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    top_k: int = Field(4, ge=1, description="Passages retrieved per input.")
    context_tokens: int = Field(
        512,
        ge=16,
        description="Most tokens (the model's tokenizer) the passages may take in the prompt. "
        "Lowered per prompt when the model's context window needs room for the rest of the "
        "prompt and the answer; the last passage that does not fit whole is cut.",
    )
    gold_field: str | None = Field(
        None,
        description="Field of the eval examples holding the id of the document that answers "
        "them (may be the target field), for hit@k and MRR of retrieval. With corpus: train, "
        "hit@k and MRR judge whether a retrieved example has the gold label.",
    )
    template: str = Field(
        DEFAULT_TEMPLATE,
        description="The user message: `{context}` (the passages) and `{input}` (the input).",
    )
    context_instruction: str = Field(
        DEFAULT_CONTEXT_INSTRUCTION,
        description="Appended to the instruction: how to use the passages.",
    )

    @field_validator("template")
    @classmethod
    def _template_has_slots(cls, value: str) -> str:
        for slot in ("{context}", "{input}"):
            if slot not in value:
                raise ValueError(f"template must contain {slot}")
        return value

    def data_paths(self) -> dict[str, str]:
        return {} if self.corpus.path is None else {"corpus.path": self.corpus.path}

    def problems_for_data(self, folder: Path) -> list[tuple[str, str, str | None]]:
        from tunevsprompt.retrieval.corpus import CorpusError, read_corpus

        if self.corpus.path is None:
            return []
        try:
            read_corpus(folder / self.corpus.path, self.corpus.id_field, self.corpus.text_field)
        except CorpusError as error:
            return [(f"corpus.{error.key}", str(error), error.hint)]
        return []

    def shown_texts(self, folder: Path) -> list[str]:
        from tunevsprompt.retrieval.corpus import read_corpus

        if self.corpus.path is None:
            return []
        path = folder / self.corpus.path
        return [d.text for d in read_corpus(path, self.corpus.id_field, self.corpus.text_field)]


class RagArm(PromptingArm):
    config_model = RagConfig

    def __init__(self, config: PromptingConfig):
        super().__init__(config)
        self._retrieval: ArmRetrieval | None = None
        self._examples: dict[str, Example] = {}
        self._reserve: int | None = None

    @property
    def rag(self) -> RagConfig:
        assert isinstance(self.config, RagConfig)
        return self.config

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        from tunevsprompt.arms.retrieving import open_retrieval

        record = super().prepare(train, ctx)
        config = self.rag
        if config.corpus.train_split:
            self._examples = {e.id: e for e in train}
            documents = self._train_documents(train)
            size, overlap = None, 0
        else:
            documents = self._read_corpus(config.corpus, ctx)
            size, overlap = config.corpus.chunk_size, config.corpus.chunk_overlap
        self._retrieval = open_retrieval(
            documents, size, overlap, config.embedder, config.index, config.top_k, ctx
        )
        record["prompting"]["context_budget"] = config.context_tokens
        return record

    def _train_documents(self, train: Sequence[Example]) -> list[Document]:
        from tunevsprompt.retrieval.chunking import Document

        return [
            Document(e.id, f"{e.input}\nAnswer: {self._answer_form(e.target)}", {}) for e in train
        ]

    def _read_corpus(self, corpus: CorpusConfig, ctx: RunContext) -> list[Document]:
        from tunevsprompt.retrieval.corpus import CorpusError, read_corpus

        root = ctx.data_root or Path.cwd()
        assert corpus.path is not None
        try:
            return read_corpus(root / corpus.path, corpus.id_field, corpus.text_field)
        except CorpusError as error:
            raise ctx.config_error(f"corpus.{error.key}", str(error), error.hint) from None

    def _gold(self, example: Example) -> str | None:
        assert self._ctx is not None
        field = self.rag.gold_field
        if self.rag.corpus.train_split:
            return example.target if self._ctx.task.type == "classification" else None
        if field is None:
            return None
        if field == self._ctx.task.target_field:
            return example.target
        if field not in example.meta:
            raise self._ctx.config_error(
                "gold_field",
                f"the eval examples have no field {field!r}",
                f"their fields: {', '.join([self._ctx.task.target_field, *example.meta])}",
            )
        return str(example.meta[field])

    def _instruction(self) -> str:
        assert self._ctx is not None
        base = self.config.instruction or self._ctx.task.instruction
        return f"{base}\n\n{self.rag.context_instruction}".strip()

    def _prompt(self, example: Example, context: str) -> Prompt:
        system = build_prompt(self._instruction(), self._labels(), "", (), self.config.show_labels)
        # One pass, so a passage or input that itself contains "{input}" stays as written.
        slots = {"{context}": context, "{input}": example.input}
        message = _SLOT.sub(lambda match: slots[match.group(0)], self.rag.template)
        return (system[0], Message("user", message))

    def _answer_reserve(self) -> int:
        """Tokens to leave for the answer: the longest label (rank) or max_new_tokens."""
        assert self._ctx is not None
        if self._reserve is None:
            labels = self._labels()
            if self._decide() == "rank" and labels is not None:
                count = self.generator().count_tokens
                self._reserve = max(count(form) for form in labels.shown()) + 2
            else:
                self._reserve = self.config.max_new_tokens
        return self._reserve

    def budget_for(self, example: Example) -> int:
        """Passage tokens this example's prompt can take: the configured budget, lowered so
        that prompt + passages + answer fit the model's context window."""
        assert self._ctx is not None
        generator = self.generator()
        window = generator.context_window
        if window is None:
            return self.rag.context_tokens
        rest = generator.prompt_tokens(self._prompt(example, ""))
        return max(0, min(self.rag.context_tokens, window - rest - self._answer_reserve()))

    def _pack(self, example: Example, found: list[Hit]) -> PackedContext:
        """Passages under the budget; then the whole prompt is measured, and where joining the
        passages into the template cost a few tokens more than counted apart, the budget
        shrinks by the excess and the passages are packed again."""
        from tunevsprompt.retrieval.context import pack_passages

        assert self._ctx is not None
        generator = self.generator()
        budget = self.budget_for(example)
        packed = pack_passages(found, budget, generator.count_tokens)
        window = generator.context_window
        while window is not None and packed.text:
            total = generator.prompt_tokens(self._prompt(example, packed.text))
            excess = total + self._answer_reserve() - window
            if excess <= 0:
                break
            budget = max(0, packed.tokens - excess)
            packed = pack_passages(found, budget, generator.count_tokens)
        return packed

    def contexts_for(self, batch: Sequence[Example]) -> list[PackedContext]:
        """Retrieve for the whole batch at once, then fit each example's passages into its
        budget. Records what was retrieved for the retrieval record and the samples."""
        assert self._retrieval is not None
        hits, ms = self._retrieval.retrieve(batch)
        contexts = []
        for example, found in zip(batch, hits, strict=True):
            packed = self._pack(example, found)
            self._note(example, found, packed, ms)
            contexts.append(packed)
        return contexts

    def prompts_for(self, batch: Sequence[Example]) -> list[Prompt]:
        contexts = self.contexts_for(batch)
        return [self._prompt(e, c.text) for e, c in zip(batch, contexts, strict=True)]

    def _note(self, example: Example, found: list[Hit], packed: PackedContext, ms: float) -> None:
        assert self._retrieval is not None
        if self.rag.corpus.train_split:
            keys = [self._examples[h.chunk.source_id].target for h in found]
        else:
            keys = [h.chunk.source_id for h in found]
        log = self._retrieval.log
        log.add(example.id, keys, self._gold(example), packed.tokens, packed.truncated)
        shown = set(packed.included)
        self._retrieval.shown.update(
            (h.chunk.id, h.chunk.text) for h in found if h.chunk.id in shown
        )
        self._extras[example.id] = {
            "stage_ms": {"retrieval": ms},
            "context": {
                "retrieved": [{"id": h.chunk.id, "score": round(h.score, 4)} for h in found],
                "included": packed.included,
                "tokens": packed.tokens,
                "truncated": packed.truncated,
            },
        }

    def retrieval_record(self, example_ids: Sequence[str]) -> dict[str, Any] | None:
        assert self._retrieval is not None
        relevance = (
            "gold label"
            if self.rag.corpus.train_split
            else ("gold document" if self.rag.gold_field else "none")
        )
        record = self._retrieval.record(example_ids, relevance)
        record["context_budget"] = self.rag.context_tokens
        return record

    def visible_texts(self) -> list[str]:
        return list(self._retrieval.shown.values()) if self._retrieval else []
