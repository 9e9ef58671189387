"""Which rag arm a search starts from (at most one), what its candidates with passages
depend on, and its prompts opened once for the search."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunevsprompt.arms.base import RunContext
from tunevsprompt.arms.prompt_search.config import OptimizedPromptConfig
from tunevsprompt.arms.rag import RagConfig
from tunevsprompt.task.types import Example

if TYPE_CHECKING:
    from tunevsprompt.arms.prompt_search.passages import PassagePrompts


def rag_of(config: OptimizedPromptConfig, ctx: RunContext) -> RagConfig | None:
    """The rag arm among ``start_from`` (at most one)."""
    rags = [a for a in ctx.arms if a.name in config.start_from and isinstance(a, RagConfig)]
    if len(rags) > 1:
        raise ctx.config_error(
            "start_from", "names more than one rag arm", "keep the one whose corpus to use"
        )
    if not rags and config.top_k is not None:
        raise ctx.config_error(
            "top_k", "needs a rag arm in start_from (whose corpus to retrieve from)", None
        )
    return rags[0] if rags else None


def rag_identity(rag: RagConfig, ctx: RunContext) -> dict[str, Any]:
    """The rag arm's settings and its corpus files' contents (part of the search's key)."""
    from tunevsprompt.runfolder.store import path_digest

    root = ctx.data_root or Path.cwd()
    data = {key: path_digest(root / raw) for key, raw in rag.data_paths().items()}
    return {"config": rag.model_dump(mode="json"), "data": data}


def open_passages(
    rag: RagConfig, counts: Sequence[int], train: Sequence[Example], ctx: RunContext
) -> PassagePrompts:
    """The rag arm's prompts, opened once for the most passages any candidate shows."""
    from tunevsprompt.arms.prompt_search.passages import PassagePrompts

    prompts = PassagePrompts(rag, max([*counts, rag.top_k]))
    prompts.prepare(train, ctx)
    return prompts
