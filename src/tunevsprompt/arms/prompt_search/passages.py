"""A rag arm's prompts for the search: the arm's corpus, retriever, context packing and
template, with the candidate's instruction and number of passages. Retrieval runs once per
input (for the most passages any candidate shows) and each candidate takes its first k."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunevsprompt.arms.rag import RagArm, RagConfig
from tunevsprompt.retrieval.retriever import Hit
from tunevsprompt.task.types import Example, Prompt


class PassagePrompts(RagArm):
    """The rag arm ``config`` as a prompt builder (``prepare`` it once, on the train split)."""

    def __init__(self, config: RagConfig, most: int):
        super().__init__(config.model_copy(update={"top_k": most}))
        self._now: str | None = None
        self._found: dict[str, list[Hit]] = {}
        self._ms: dict[str, float] = {}
        self._keep = True
        """During the search, each input's passages are retrieved once for all candidates."""

    def _instruction(self) -> str:
        """The candidate's instruction in place of the rag arm's, before its context
        instruction (outside ``prompts`` and ``template``: the rag arm's own)."""
        if self._now is None:
            return super()._instruction()
        return f"{self._now}\n\n{self.rag.context_instruction}".strip()

    def prompts(self, instruction: str, k: int, batch: Sequence[Example]) -> list[Prompt]:
        assert self._retrieval is not None, "prepare() first"
        missing = [e for e in batch if e.id not in self._found or not self._keep]
        if missing:
            hits, ms = self._retrieval.retrieve(missing)
            for example, found in zip(missing, hits, strict=True):
                self._found[example.id] = found
                self._ms[example.id] = ms
        self._now = instruction
        try:
            prompts = []
            for example in batch:
                found = self._found[example.id][:k]
                packed = self._pack(example, found)
                self._note(example, found, packed, self._ms[example.id])
                prompts.append(self._prompt(example, packed.text))
            return prompts
        finally:
            self._now = None

    def finish_search(self, passages: int) -> None:
        """Forget what the search retrieved (its log, timings and shown passages) and
        retrieve afresh for every input from now on; hit@k is the winner's k."""
        from tunevsprompt.retrieval.retriever import RetrievalLog

        self._found.clear()
        self._ms.clear()
        self._extras.clear()
        self._keep = False
        if self._retrieval is not None:
            self._retrieval.log = RetrievalLog(passages or self.rag.top_k)
            self._retrieval.shown.clear()

    def _gold(self, example: Example) -> str | None:
        """The rag arm's gold key, or none for an input without it (a dev example may
        lack the field the test split has)."""
        field = self.rag.gold_field
        target = self._ctx.task.target_field if self._ctx is not None else None
        if field is not None and field != target and field not in example.meta:
            return None
        return super()._gold(example)

    def template(self, instruction: str, example: Example, context: str) -> Prompt:
        """The prompt with ``context`` in place of the passages (an exported template)."""
        self._now = instruction
        try:
            return self._prompt(example, context)
        finally:
            self._now = None

    def extras(self, example_id: str) -> dict[str, Any]:
        """What the rag arm records per example (the passages retrieved and included)."""
        return self._extras.pop(example_id, {})
