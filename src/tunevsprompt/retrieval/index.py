"""FAISS indexes over normalised vectors (inner product = cosine): exact, HNSW and IVF.

``faiss`` is imported inside the functions; a missing install names the extra to add.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tunevsprompt.errors import RunError

if TYPE_CHECKING:
    import faiss

IndexType = Literal["flat", "hnsw", "ivf"]

IVF_POINTS_PER_CENTROID = 39
"""faiss's k-means wants at least this many training points per centroid (it warns below)."""


@dataclass(frozen=True)
class IndexSettings:
    """Which FAISS index to build and how to search it."""

    type: IndexType = "flat"
    hnsw_m: int = 32
    ef_construction: int = 40
    ef_search: int = 64
    nlist: int | None = None
    """IVF cells; None picks about 4·sqrt(n), capped so each cell gets enough training points."""
    nprobe: int = 8

    def key(self) -> dict[str, Any]:
        """The settings that change what is built (search-time knobs are not part of it)."""
        if self.type == "hnsw":
            return {"type": "hnsw", "m": self.hnsw_m, "ef_construction": self.ef_construction}
        if self.type == "ivf":
            return {"type": "ivf", "nlist": self.nlist}
        return {"type": "flat"}


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise RunError(
            "retrieval needs faiss and sentence-transformers: pip install 'tunevsprompt[rag]'"
        ) from None
    return faiss


def effective_nlist(requested: int | None, n: int) -> int:
    """IVF cells for ``n`` vectors: the requested number, or about 4·sqrt(n), never more than
    ``n / 39`` (k-means needs points per centroid) and never less than 1."""
    wanted = requested if requested is not None else round(4 * math.sqrt(max(n, 1)))
    return max(1, min(wanted, n // IVF_POINTS_PER_CENTROID))


def build_index(vectors: np.ndarray, settings: IndexSettings) -> tuple[faiss.Index, dict[str, Any]]:
    """Build an inner-product index over float32 row vectors. Returns the index and the
    parameters actually used (IVF's nlist may be lower than asked for a small corpus)."""
    faiss = import_faiss()
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = data.shape
    params: dict[str, Any] = {"type": settings.type}
    if settings.type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif settings.type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.ef_construction
        params.update(m=settings.hnsw_m, ef_construction=settings.ef_construction)
    elif settings.type == "ivf":
        nlist = effective_nlist(settings.nlist, n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        if n:
            index.train(data)
        params.update(nlist=nlist, nlist_requested=settings.nlist)
    else:  # pragma: no cover - the config's Literal rules it out
        raise ValueError(f"unknown index type {settings.type!r}")
    if n:
        index.add(data)
    configure_search(index, settings)
    return index, params


def configure_search(index: faiss.Index, settings: IndexSettings) -> dict[str, Any]:
    """Set the search-time knobs (efSearch, nprobe); returns what was set."""
    faiss = import_faiss()
    if settings.type == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = settings.ef_search
        return {"ef_search": settings.ef_search}
    if settings.type == "ivf":
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = min(settings.nprobe, ivf.nlist)
        return {"nprobe": int(ivf.nprobe)}
    return {}


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, row ids) per query; ids are -1 where fewer than k were found."""
    data = np.ascontiguousarray(queries, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    k = max(1, min(k, int(index.ntotal))) if index.ntotal else 1
    scores, ids = index.search(data, k)
    return scores, ids


def index_bytes(index: faiss.Index) -> int:
    """Size of the index as FAISS serialises it (what the cache stores on disk)."""
    faiss = import_faiss()
    return int(faiss.serialize_index(index).nbytes)


def write_index(index: faiss.Index, path: str) -> None:
    import_faiss().write_index(index, path)


def read_index(path: str) -> faiss.Index:
    index: faiss.Index = import_faiss().read_index(path)
    return index
