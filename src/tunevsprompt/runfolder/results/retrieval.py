"""``arms.<name>.retrieval`` (rag, few-shot with `selection: similar`, embed-knn,
nearest-answer) and ``arms.<name>.embedding`` (the arms that run no LLM)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tunevsprompt.runfolder.results.base import Count, Flag, Num, OpenRecord, Record
from tunevsprompt.runfolder.results.figures import QueryTimes


class EmbedderRecord(Record):
    """The sentence-embedding model a retriever used."""

    id: str | None = Field(None, description="Model id.")
    fingerprint: str | None = Field(None, description="Hash of its weights.")
    device: str | None = Field(None, description="Where it ran.")
    max_tokens: Count | None = Field(None, description="Tokens it reads per text.")


class RetrievalRecord(OpenRecord):
    """How the index was built, and how well and how fast it retrieved."""

    index_type: str | None = Field(None, description="flat, hnsw or ivf (FAISS).")
    index_params: dict[str, Any] | None = Field(
        None, description="The index's build and search settings."
    )
    corpus_chunks: Count | None = Field(None, description="Chunks in the index.")
    corpus_sha256: str | None = Field(None, description="Hash of the chunks' ids and texts.")
    embed_dim: Count | None = Field(None, description="Embedding dimension.")
    embed_s: Num | None = Field(
        None, description="Seconds embedding the corpus took when it was built (also when reused)."
    )
    index_build_s: Num | None = Field(
        None, description="Seconds building the index took (also when it came from the cache)."
    )
    index_bytes: Count | None = Field(None, description="Serialised index size.")
    embedded_chunks: Count | None = Field(None, description="Chunks embedded in this run.")
    embeddings_reused: Flag | None = Field(None, description="Embeddings came from the cache.")
    index_reused: Flag | None = Field(None, description="The index came from the cache.")
    cache_key: str | None = Field(None, description="Key of the index in the cache.")
    top_k: Count | None = Field(None, description="Items retrieved per query.")
    hit_at_k: Num | None = Field(
        None,
        description="Share of judged queries with a relevant item in the top k (null: no gold).",
    )
    mrr: Num | None = Field(None, description="Mean reciprocal rank (null: no gold).")
    judged: Count | None = Field(None, description="Queries with a gold key.")
    relevance: str | None = Field(
        None, description="What hit@k and MRR judge: gold document, gold label or none."
    )
    context_tokens_mean: Num | None = Field(None, description="RAG: mean passage tokens placed.")
    context_tokens_max: Count | None = Field(None, description="RAG: most passage tokens placed.")
    context_truncated_fraction: Num | None = Field(
        None, description="RAG: share of prompts whose passages were cut to the budget."
    )
    context_budget: Count | None = Field(None, description="RAG: passage tokens per prompt.")
    embed_ms: QueryTimes | None = Field(None, description="Embedding a query, ms.")
    search_ms: QueryTimes | None = Field(None, description="Searching the index, ms.")
    embedder: EmbedderRecord | None = Field(None, description="The embedding model.")


class EmbeddingRecord(OpenRecord):
    """The arms that run no LLM: a sentence embedder (frozen, or trained for the task by
    encoder-finetune and setfit, whose fingerprint is the untrained one's) and a light
    classifier."""

    method: str | None = Field(None, description="The classifier, in words.")
    embedder: str | None = Field(None, description="Embedding model id.")
    fingerprint: str | None = Field(None, description="Hash of its weights.")
    device: str | None = Field(None, description="Where it ran.")
    dim: Count | None = Field(None, description="Embedding dimension.")
    train_examples: Count | None = Field(None, description="Training examples embedded.")
    k: Count | None = Field(None, description="embed-knn: neighbours that vote.")
    weighting: str | None = Field(None, description="embed-knn: how votes are weighted.")
    C: Num | None = Field(None, description="embed-linear: inverse regularisation strength.")
    classes: Count | None = Field(None, description="embed-linear: labels learnt.")
