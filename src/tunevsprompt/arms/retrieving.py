"""What the retrieving arms (rag, few-shot with selection: similar) share: the retriever built
from suite settings, the log of what it retrieved, and the ``retrieval`` record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunevsprompt.arms.base import RunContext
from tunevsprompt.generation.model_source import cache_root
from tunevsprompt.retrieval.cache import load_or_build
from tunevsprompt.retrieval.chunking import Document, chunk_documents
from tunevsprompt.retrieval.config import EmbedderConfig, IndexConfig
from tunevsprompt.retrieval.embedder import load_embedder
from tunevsprompt.retrieval.retriever import Hit, RetrievalLog, Retriever
from tunevsprompt.task.types import Example


class ArmRetrieval:
    """One arm's retriever, with what it retrieved per example (for hit@k, MRR and the
    timings) and the texts it put in front of the model (for the contamination check)."""

    def __init__(self, retriever: Retriever, k: int) -> None:
        self.retriever = retriever
        self.log = RetrievalLog(k)
        self.shown: dict[str, str] = {}

    def retrieve(self, batch: Sequence[Example]) -> tuple[list[list[Hit]], float]:
        """The top k for each input of the batch (one embed/search call), and the
        milliseconds it took per input."""
        hits, timing = self.retriever.retrieve([e.input for e in batch], self.log.k)
        self.log.timings.append(timing)
        return hits, timing.embed_ms + timing.search_ms

    def record(self, example_ids: Sequence[str], relevance: str) -> dict[str, Any]:
        """``arms.<name>.retrieval``: how the index was built and how well and fast it
        retrieved. ``relevance`` says what hit@k and MRR judge (e.g. "gold document")."""
        embedder = self.retriever.embedder
        return {
            **self.retriever.corpus.record,
            **self.log.summary(example_ids),
            "relevance": relevance,
            "embedder": {
                "id": embedder.model_id,
                "fingerprint": embedder.fingerprint,
                "device": embedder.device,
                "max_tokens": embedder.max_tokens,
            },
        }


def open_retrieval(
    documents: Sequence[Document],
    chunk_size: int | None,
    chunk_overlap: int,
    embedder: EmbedderConfig,
    index: IndexConfig,
    k: int,
    ctx: RunContext,
) -> ArmRetrieval:
    """Chunk, embed and index ``documents`` (or take all of it from the cache)."""
    device = embedder.device if embedder.device != "auto" else ctx.device
    model = load_embedder(embedder.id, embedder.revision, device, embedder.batch_size)
    if chunk_size is not None and chunk_size > model.max_tokens:
        raise ctx.config_error(
            "corpus.chunk_size",
            f"{chunk_size} tokens is more than the embedder reads ({model.max_tokens}); "
            "the rest of each chunk would be ignored",
            f"set chunk_size to {model.max_tokens} or less",
        )
    chunks = chunk_documents(documents, model.token_spans, chunk_size, chunk_overlap)
    corpus = load_or_build(
        chunks, model, index.settings(), ctx.cache_dir or cache_root(), ctx.use_cache, ctx.log
    )
    return ArmRetrieval(Retriever(model, corpus), k)
