"""A candidate's chat prompts: the prompting arms' layout (system instruction with the label
list, demonstrations as earlier turns, then the input), with the candidate's instruction,
label descriptions and demonstrations. Similar-example demonstrations are retrieved once per
input and shared by every candidate that uses them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from tunevsprompt.arms.prompt_search.candidate import Candidate
from tunevsprompt.task.labels import LabelSet, answer_form
from tunevsprompt.task.prompts import build_prompt
from tunevsprompt.task.types import Example, Prompt

if TYPE_CHECKING:
    from tunevsprompt.arms.prompt_search.passages import PassagePrompts
    from tunevsprompt.arms.retrieving import ArmRetrieval


class Renderer:
    """Prompts for any candidate over one train split."""

    def __init__(
        self,
        train: Sequence[Example],
        labels: LabelSet | None,
        show_labels: bool,
        retrieval: ArmRetrieval | None = None,
        passages: PassagePrompts | None = None,
    ):
        self.by_id = {e.id: e for e in train}
        self.labels = labels
        self.show_labels = show_labels
        self.retrieval = retrieval
        self.passages = passages
        """The rag arm the search starts from, for candidates that show passages."""
        self._nearest: dict[str, list[str]] = {}
        self.keep_nearest = True
        """During the search, each input's neighbours are retrieved once for all candidates."""
        """Input id -> ids of the nearest training examples, most similar first."""
        self.shown: dict[str, str] = {}
        """Training texts retrieved as demonstrations at prediction time (contamination)."""

    def nearest(self, batch: Sequence[Example]) -> None:
        """Retrieve the nearest training examples for the inputs not seen yet (every input,
        after the search)."""
        missing = [e for e in batch if e.id not in self._nearest or not self.keep_nearest]
        if not missing or self.retrieval is None:
            return
        hits, _ = self.retrieval.retrieve(missing)
        for example, found in zip(missing, hits, strict=True):
            self._nearest[example.id] = [h.chunk.source_id for h in found]

    def demonstrations(self, candidate: Candidate, example: Example) -> list[Example]:
        demos = candidate.demos
        if demos.k == 0:
            return []
        if demos.strategy == "similar":
            ids = self._nearest[example.id][: demos.k]
            # The most similar example last, next to the input (as few-shot-similar does).
            return [self.by_id[i] for i in reversed(ids)]
        return [self.by_id[i] for i in demos.ids]

    def prompts(self, candidate: Candidate, batch: Sequence[Example]) -> list[Prompt]:
        if candidate.passages:
            assert self.passages is not None, "a candidate with passages needs a rag arm"
            return self.passages.prompts(candidate.instruction, candidate.passages, batch)
        if candidate.demos.strategy == "similar" and candidate.demos.k:
            self.nearest(batch)
        descriptions: Mapping[str, str] | None = (
            dict(candidate.descriptions) if candidate.descriptions else None
        )
        prompts = []
        for example in batch:
            chosen = self.demonstrations(candidate, example)
            demos = [(d.input, answer_form(self.labels, d.target)) for d in chosen]
            prompts.append(
                build_prompt(
                    candidate.instruction,
                    self.labels,
                    example.input,
                    demos,
                    candidate.show_labels,
                    descriptions,
                )
            )
        return prompts

    def finish_search(self, winner: Candidate) -> None:
        """From now on the winner answers the test split: forget what was retrieved and shown
        for dev (and training) inputs, and retrieve afresh for every input, so that latency
        includes retrieval and the contamination check sees only what the test split saw."""
        self._nearest.clear()
        self.keep_nearest = False
        self.shown.clear()
        if self.passages is not None:
            self.passages.finish_search(winner.passages)

    def remember_shown(self, candidate: Candidate, batch: Sequence[Example]) -> None:
        """Note the training texts shown with ``batch`` (the winner's, on the test split)."""
        for example in batch:
            for demo in self.demonstrations(candidate, example):
                self.shown[demo.id] = demo.input
