"""Query a corpus index, and keep what each query retrieved for the arm's retrieval record."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunevsprompt.retrieval.cache import CorpusIndex
from tunevsprompt.retrieval.chunking import Chunk
from tunevsprompt.retrieval.embedder import Embedder
from tunevsprompt.retrieval.index import search


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


@dataclass(frozen=True)
class QueryTiming:
    """Per-query milliseconds of one retrieve call (a batch call's time divided evenly)."""

    embed_ms: float
    search_ms: float
    batch_size: int


class Retriever:
    """Embeds queries and searches one corpus index."""

    def __init__(self, embedder: Embedder, corpus: CorpusIndex) -> None:
        self.embedder = embedder
        self.corpus = corpus

    def retrieve(self, queries: Sequence[str], k: int) -> tuple[list[list[Hit]], QueryTiming]:
        """Top-``k`` chunks per query, best first."""
        began = time.perf_counter()
        vectors = self.embedder.encode(queries)
        embedded = time.perf_counter()
        scores, ids = search(self.corpus.index, vectors, k)
        searched = time.perf_counter()
        n = max(len(queries), 1)
        timing = QueryTiming(
            (embedded - began) * 1000 / n, (searched - embedded) * 1000 / n, len(queries)
        )
        hits = [
            [
                Hit(self.corpus.chunks[int(i)], float(s))
                for s, i in zip(row_scores, row_ids, strict=True)
                if i >= 0
            ]
            for row_scores, row_ids in zip(scores, ids, strict=True)
        ]
        return hits, timing


def first_relevant_rank(keys: Sequence[str], gold: str) -> int | None:
    """1-based rank of the first ``gold`` among ``keys`` after removing repeats, or None."""
    seen: list[str] = []
    for key in keys:
        if key not in seen:
            seen.append(key)
            if key == gold:
                return len(seen)
    return None


@dataclass
class RetrievalLog:
    """What an arm retrieved per example (the last call wins) and how long queries took."""

    k: int
    per_example: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: list[QueryTiming] = field(default_factory=list)

    def add(
        self,
        example_id: str,
        keys: Sequence[str],
        gold: str | None,
        context_tokens: int | None = None,
        truncated: bool = False,
    ) -> None:
        """``keys`` are what relevance is judged on, best first: source document ids for a
        corpus, the label of each retrieved example for similar-example selection."""
        rank = first_relevant_rank(keys, gold) if gold is not None else None
        self.per_example[example_id] = {
            "gold": gold,
            "rank": rank,
            "context_tokens": context_tokens,
            "truncated": truncated,
        }

    def summary(self, example_ids: Sequence[str]) -> dict[str, Any]:
        """hit@k, MRR (over examples with a gold key), context size and query timings."""
        rows = [self.per_example[i] for i in example_ids if i in self.per_example]
        judged = [r for r in rows if r["gold"] is not None]
        contexts = [r["context_tokens"] for r in rows if r["context_tokens"] is not None]
        single = [t for t in self.timings if t.batch_size == 1]
        timed = single or self.timings
        return {
            "top_k": self.k,
            "hit_at_k": _mean([r["rank"] is not None for r in judged]) if judged else None,
            "mrr": _mean([1 / r["rank"] if r["rank"] else 0.0 for r in judged]) if judged else None,
            "judged": len(judged),
            "context_tokens_mean": round(float(np.mean(contexts)), 3) if contexts else None,
            "context_tokens_max": int(max(contexts)) if contexts else None,
            "context_truncated_fraction": _mean([r["truncated"] for r in rows]) if rows else None,
            "embed_ms": _percentiles([t.embed_ms for t in timed], timed),
            "search_ms": _percentiles([t.search_ms for t in timed], timed),
        }


def _mean(values: Sequence[float | bool]) -> float:
    return round(float(np.mean([float(v) for v in values])), 6)


def _percentiles(values: list[float], timed: list[QueryTiming]) -> dict[str, Any] | None:
    from tunevsprompt.measure.latency import percentiles

    if not values:
        return None
    figures = percentiles(values, digits=4)
    return {
        "p50": figures["p50"],
        "p95": figures["p95"],
        "n": len(values),
        "batch_size": max(t.batch_size for t in timed),
    }
