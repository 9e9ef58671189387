"""Benchmark the retrieval indexes: exact (flat) vs HNSW vs IVF, side by side in one table.

Run: ``python bench/bench_retrieval.py [--sizes 10000,100000,1000000] [--dim 384]
[--queries 1000] [--k 10] [--types flat,hnsw,ivf] [--ef-search 64,256] [--nprobe 8,64]
[--threads N] [--seed 0]``. For each size
N it draws N random vectors (standard normal, L2-normalised, seeded) once, then for each index
type builds it through ``tunevsprompt.retrieval.index`` (the code the tool runs) and measures:
build time (IVF includes k-means training), the serialised index size, the process RSS growth
during the build (approximate: the allocator may keep or reuse freed pages), the throughput of
one batch of ``--queries`` queries, the median latency of 200 queries searched one at a time,
and recall@k against flat's exact top-k on the same queries. Each approximate index is built
once and searched at every ``--ef-search`` (HNSW) or ``--nprobe`` (IVF) value, one row each,
so the table shows the recall bought by searching harder.

Random vectors are the hardest case for approximate indexes: they have no cluster structure,
so IVF cells and HNSW neighbourhoods say little about where the true neighbours are. Recall
here is typically far below what real sentence embeddings get at the same settings.
Timings are only comparable on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunevsprompt.retrieval.index import (
    IndexSettings,
    build_index,
    configure_search,
    import_faiss,
    index_bytes,
    search,
)

LATENCY_QUERIES = 200
CHUNK_ROWS = 100_000
MB = 1024 * 1024
BEGAN = time.perf_counter()


@dataclass
class Row:
    n: int
    kind: str
    params: str
    build_s: float
    index_mb: float
    rss_mb: float
    batch_qps: float
    p50_ms: float
    recall: float | None


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - BEGAN:7.1f}s] {message}", file=sys.stderr, flush=True)


def release_memory() -> None:
    """Collect garbage and ask glibc to hand freed heap pages back to the OS, so the next
    build's RSS growth is not hidden by pages the previous index left behind."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS stays approximate
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_mb() -> float:
    """Resident set size of this process in MB, from /proc (0 where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def random_unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """``n`` standard-normal float32 rows scaled to unit length, drawn in chunks so the peak
    memory stays near the result's size."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        block = rng.standard_normal((min(CHUNK_ROWS, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def describe(params: dict[str, Any], search_params: dict[str, Any]) -> str:
    """Short text for the params column: what was built and how it is searched."""
    if params["type"] == "hnsw":
        return f"M={params['m']} efC={params['ef_construction']} efS={search_params['ef_search']}"
    if params["type"] == "ivf":
        return f"nlist={params['nlist']} nprobe={search_params['nprobe']}"
    return "exact"


def batch_search(index: Any, queries: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """Queries per second for all ``queries`` in one call, and the ids found."""
    search(index, queries[:10], k)  # warm-up
    began = time.perf_counter()
    _, ids = search(index, queries, k)
    return len(queries) / (time.perf_counter() - began), ids


def single_query_p50_ms(index: Any, queries: np.ndarray, k: int) -> float:
    """Median milliseconds for one query searched on its own."""
    times = []
    for query in queries:
        began = time.perf_counter()
        search(index, query, k)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each query's exact top-k that the index also returned."""
    pairs = zip(found, truth, strict=True)
    hits = sum(len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in pairs)
    return hits / truth.size


def search_variants(kind: str, ef_search: list[int], nprobe: list[int]) -> list[IndexSettings]:
    """One index is built per type; each variant only changes how it is searched."""
    if kind == "hnsw":
        return [IndexSettings(type="hnsw", ef_search=ef) for ef in ef_search]
    if kind == "ivf":
        return [IndexSettings(type="ivf", nprobe=probes) for probes in nprobe]
    return [IndexSettings(type="flat")]


def measure(
    kind: str,
    data: np.ndarray,
    queries: np.ndarray,
    k: int,
    truth: np.ndarray | None,
    variants: list[IndexSettings],
) -> tuple[list[Row], np.ndarray]:
    """Build one index through the retrieval module, search it with each variant's settings,
    and free it. Returns a row per variant and the first variant's ids."""
    release_memory()
    rss_before = rss_mb()
    began = time.perf_counter()
    index, params = build_index(data, variants[0])
    build_s = time.perf_counter() - began
    rss_growth = rss_mb() - rss_before
    progress(f"  {kind}: built in {build_s:.1f}s, searching")
    rows: list[Row] = []
    first_ids: np.ndarray | None = None
    for settings in variants:
        search_params = configure_search(index, settings)
        qps, ids = batch_search(index, queries, k)
        p50 = single_query_p50_ms(index, queries[:LATENCY_QUERIES], k)
        first_ids = ids if first_ids is None else first_ids
        recall = 1.0 if kind == "flat" else (recall_at_k(ids, truth) if truth is not None else None)
        rows.append(
            Row(
                n=len(data),
                kind=kind,
                params=describe(params, search_params),
                build_s=build_s,
                index_mb=index_bytes(index) / MB,
                rss_mb=rss_growth,
                batch_qps=qps,
                p50_ms=p50,
                recall=recall,
            )
        )
    del index
    release_memory()
    assert first_ids is not None
    return rows, first_ids


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Flat's exact top-k ids (used for recall when flat itself is not benchmarked)."""
    index, _ = build_index(data, IndexSettings(type="flat"))
    _, ids = search(index, queries, k)
    del index
    release_memory()
    return ids


def bench_size(
    n: int,
    kinds: list[str],
    dim: int,
    queries: np.ndarray,
    k: int,
    rng: np.random.Generator,
    effort: tuple[list[int], list[int]],
) -> list[Row]:
    progress(f"N={n:,}: generating {n:,} x {dim} vectors")
    data = random_unit_vectors(rng, n, dim)
    truth = None if "flat" in kinds else exact_top_k(data, queries, k)
    rows = []
    for kind in sorted(kinds, key=lambda name: name != "flat"):  # flat first: the truth
        progress(f"N={n:,}: building {kind}")
        found, ids = measure(kind, data, queries, k, truth, search_variants(kind, *effort))
        if kind == "flat":
            truth = ids
        rows.extend(found)
    del data
    release_memory()
    return rows


def print_machine(faiss: Any, args: argparse.Namespace) -> None:
    defaults = IndexSettings()
    print(
        f"cpus: {os.cpu_count()}, faiss {faiss.__version__}, numpy {np.__version__}, "
        f"faiss threads: {faiss.omp_get_max_threads()}"
    )
    print(
        f"dim {args.dim}, {args.queries} batch queries, {LATENCY_QUERIES} single queries, "
        f"k={args.k}, seed {args.seed}; search: efSearch {args.ef_search}, "
        f"nprobe {args.nprobe} (each on the same build; tvp defaults efSearch="
        f"{defaults.ef_search}, nprobe={defaults.nprobe}); HNSW M={defaults.hnsw_m}, "
        f"efConstruction={defaults.ef_construction}; IVF nlist≈4·sqrt(N)"
    )
    print("RSS +MB is VmRSS growth during the build: approximate.\n", flush=True)


def print_table(rows: list[Row], k: int) -> None:
    columns = ["N", "index", "params", "build s", "index MB", "RSS +MB", "batch q/s"]
    columns += ["p50 ms/query", f"recall@{k}"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        recall = "–" if row.recall is None else f"{row.recall:.3f}"
        cells = [
            f"{row.n:,}",
            row.kind,
            row.params,
            f"{row.build_s:.2f}",
            f"{row.index_mb:.1f}",
            f"{row.rss_mb:.0f}",
            f"{row.batch_qps:,.0f}",
            f"{row.p50_ms:.3f}",
            recall,
        ]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--types", default="flat,hnsw,ivf")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ef-search", default="64,256", help="HNSW efSearch values to search with (one build)"
    )
    parser.add_argument("--nprobe", default="8,64", help="IVF nprobe values (one build)")
    args = parser.parse_args()
    effort = (
        [int(v) for v in args.ef_search.split(",")],
        [int(v) for v in args.nprobe.split(",")],
    )
    kinds = [t.strip() for t in args.types.split(",") if t.strip()]
    unknown = set(kinds) - {"flat", "hnsw", "ivf"}
    if unknown:
        parser.error(f"unknown index types: {', '.join(sorted(unknown))}")
    faiss = import_faiss()
    if args.threads is not None:
        faiss.omp_set_num_threads(args.threads)
    print_machine(faiss, args)
    query_seed, data_seed = np.random.SeedSequence(args.seed).spawn(2)
    queries = random_unit_vectors(np.random.default_rng(query_seed), args.queries, args.dim)
    rows: list[Row] = []
    for n in [int(s.replace("_", "")) for s in args.sizes.split(",")]:
        rng = np.random.default_rng(data_seed)
        rows += bench_size(n, kinds, args.dim, queries, args.k, rng, effort)
    progress("done")
    print_table(rows, args.k)


if __name__ == "__main__":
    main()
