"""prompts/<arm>.json: the winner of a search verbatim (its demonstrations with their texts),
the chat messages around the input, and what the search cost (`tvp export --arm` reads it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tunevsprompt.arms.prompt_search.candidate import Candidate, Demos
from tunevsprompt.arms.prompt_search.rendering import Renderer
from tunevsprompt.runfolder.store import write_json_atomic
from tunevsprompt.task.labels import LabelSet, answer_form
from tunevsprompt.task.types import Example, Prompt

INPUT_PLACEHOLDER = "{input}"
"""Where the user's input goes in an exported prompt."""
CONTEXT_PLACEHOLDER = "{context}"
"""Where retrieved passages go in an exported rag-layout prompt."""


def write_winner(
    path: Path,
    arm: str,
    winner: Candidate,
    renderer: Renderer,
    labels: LabelSet | None,
    decide: str,
    record: dict[str, Any],
) -> None:
    similar = winner.demos.strategy == "similar"
    messages = _template(winner, renderer)
    write_json_atomic(
        path,
        {
            "arm": arm,
            **record["winner"],
            "demonstration_texts": None
            if similar or winner.passages
            else [
                {
                    "id": i,
                    "input": renderer.by_id[i].input,
                    "answer": answer_form(labels, renderer.by_id[i].target),
                }
                for i in winner.demos.ids
            ],
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "retrieved_demonstrations": {
                "k": winner.demos.k,
                "from": "the training examples nearest to the input (sentence embeddings), "
                "as user/assistant turns before it, the most similar last",
            }
            if similar
            else None,
            "retrieved_passages": {
                "k": winner.passages,
                "from": "the passages of the rag arm's corpus nearest to the input, packed into "
                f"its context budget, where {CONTEXT_PLACEHOLDER} is",
            }
            if winner.passages
            else None,
            "decide": decide,
            "labels": labels.shown() if labels else None,
            "search_spent": record["spent"],
        },
    )


def _template(winner: Candidate, renderer: Renderer) -> Prompt:
    """The messages with ``{input}`` (and ``{context}`` for passages) where they go.
    Retrieved demonstrations differ per input, so for them only the system message is
    fixed."""
    blank = Example("", INPUT_PLACEHOLDER, "")
    if winner.passages:
        assert renderer.passages is not None
        return renderer.passages.template(winner.instruction, blank, CONTEXT_PLACEHOLDER)
    fixed = replace(winner, demos=Demos()) if winner.demos.strategy == "similar" else winner
    return renderer.prompts(fixed, [blank])[0]
