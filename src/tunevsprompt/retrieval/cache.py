"""Build a corpus index once and keep it: embeddings and FAISS indexes in the user cache.

Two levels, each keyed by a content hash and written atomically:

- ``retrieval/embeddings/<key>/``: the chunk vectors, keyed by the embedder's fingerprint and
  the chunks (ids and texts, so the corpus and the chunking settings);
- ``retrieval/indexes/<key>/``: the FAISS index, keyed by the embeddings key and the index
  settings, so switching flat → hnsw reuses the vectors and re-embeds nothing.

A changed corpus changes the chunks, hence both keys: it is embedded and indexed again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunevsprompt.retrieval.chunking import Chunk
from tunevsprompt.retrieval.embedder import Embedder
from tunevsprompt.retrieval.index import (
    IndexSettings,
    build_index,
    configure_search,
    index_bytes,
    read_index,
    write_index,
)
from tunevsprompt.runfolder.store import content_key, write_dir_atomic

if TYPE_CHECKING:
    import faiss


@dataclass
class CorpusIndex:
    """Chunks and the index over their vectors (row i of the index is chunk i)."""

    chunks: list[Chunk]
    index: faiss.Index
    record: dict[str, Any]
    """Build facts for results.json: sizes, times, whether the cache was used."""


def chunks_digest(chunks: Sequence[Chunk]) -> str:
    return content_key({"chunks": [[c.id, c.source_id, c.text] for c in chunks]})


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta


def _has(data_file: str) -> Callable[[Path], bool]:
    """Whether a cache folder is complete: its meta.json readable and its data file there."""
    return lambda folder: _read_meta(folder) is not None and (folder / data_file).is_file()


def _embeddings(
    chunks: Sequence[Chunk], embedder: Embedder, folder: Path, use_cache: bool
) -> tuple[np.ndarray | None, dict[str, Any], bool]:
    """Cached vectors (loaded only when asked), or freshly embedded ones (then stored)."""
    meta = _read_meta(folder) if use_cache else None
    if meta is not None and (folder / "vectors.npy").is_file():
        return None, meta, True
    began = time.perf_counter()
    vectors = embedder.encode([c.text for c in chunks])
    meta = {
        "embedder": embedder.model_id,
        "embedder_fingerprint": embedder.fingerprint,
        "chunks": len(chunks),
        "dim": int(vectors.shape[1]),
        "embed_s": round(time.perf_counter() - began, 4),
    }

    def fill(staging: Path) -> None:
        np.save(staging / "vectors.npy", vectors)
        (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    write_dir_atomic(folder, fill, keep_complete=_has("vectors.npy") if use_cache else None)
    return vectors, meta, False


def _embeddings_dir(chunks: Sequence[Chunk], embedder: Embedder, cache_root: Path) -> Path:
    key = content_key({"embedder": embedder.fingerprint, "chunks": chunks_digest(chunks)})
    return cache_root / "retrieval" / "embeddings" / key[:32]


def load_or_embed(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    cache_root: Path,
    use_cache: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The vectors of ``chunks`` (row i is chunk i), from the same cache the indexes use, and
    ``{embed_s, reused}``."""
    folder = _embeddings_dir(chunks, embedder, cache_root)
    vectors, meta, reused = _embeddings(chunks, embedder, folder, use_cache)
    if vectors is None:
        vectors = np.load(folder / "vectors.npy")
    elif not reused:
        log(f"embedded {len(chunks)} texts with {embedder.model_id}")
    return vectors, {"embed_s": meta.get("embed_s"), "reused": reused}


def load_or_build(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    settings: IndexSettings,
    cache_root: Path,
    use_cache: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> CorpusIndex:
    """The index over ``chunks``, from the cache when an identical one was built before."""
    digest = chunks_digest(chunks)
    embeddings_key = content_key({"embedder": embedder.fingerprint, "chunks": digest})
    index_key = content_key({"embeddings": embeddings_key, "index": settings.key()})
    emb_dir = _embeddings_dir(chunks, embedder, cache_root)
    idx_dir = cache_root / "retrieval" / "indexes" / index_key[:32]
    index_meta = _read_meta(idx_dir) if use_cache else None
    index_reused = index_meta is not None and (idx_dir / "index.faiss").is_file()
    if index_reused:
        assert index_meta is not None
        index = read_index(str(idx_dir / "index.faiss"))
        emb_meta = _read_meta(emb_dir) or {}
        embeddings_reused = True
    else:
        log(f"embedding {len(chunks)} chunks with {embedder.model_id}")
        vectors, emb_meta, embeddings_reused = _embeddings(chunks, embedder, emb_dir, use_cache)
        if vectors is None:
            vectors = np.load(emb_dir / "vectors.npy")
        began = time.perf_counter()
        index, params = build_index(vectors, settings)
        index_meta = {"params": params, "build_s": round(time.perf_counter() - began, 4)}

        def fill(staging: Path) -> None:
            write_index(index, str(staging / "index.faiss"))
            (staging / "meta.json").write_text(
                json.dumps(index_meta, indent=2) + "\n", encoding="utf-8"
            )

        write_dir_atomic(idx_dir, fill, keep_complete=_has("index.faiss") if use_cache else None)
    search_params = configure_search(index, settings)
    record = {
        "index_type": settings.type,
        "index_params": {**index_meta["params"], **search_params},
        "corpus_chunks": len(chunks),
        "corpus_sha256": digest,
        "embed_dim": int(index.d),
        "embed_s": emb_meta.get("embed_s"),
        "index_build_s": index_meta["build_s"],
        "index_bytes": index_bytes(index),
        "embedded_chunks": 0 if embeddings_reused else len(chunks),
        "embeddings_reused": embeddings_reused,
        "index_reused": index_reused,
        "cache_key": index_key,
    }
    return CorpusIndex(list(chunks), index, record)
