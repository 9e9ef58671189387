"""Retrieval logic without a real embedder or language model: chunking, FAISS indexes, the
embedding/index cache (with a counting fake embedder), context packing, relevance figures,
corpus reading, suite validation of the RAG arm, latency stages, token figures and the
data digest that keys finished arms."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tunevsprompt.arms.rag import RagConfig
from tunevsprompt.errors import SuiteError, SuiteProblem
from tunevsprompt.measure.evaluate import _token_figures
from tunevsprompt.measure.latency import measure_latency
from tunevsprompt.retrieval.cache import CorpusIndex, load_or_build
from tunevsprompt.retrieval.chunking import Chunk, Document, chunk_document, chunk_documents
from tunevsprompt.retrieval.context import (
    MIN_PARTIAL_TOKENS,
    PASSAGE_SEPARATOR,
    cut_to_tokens,
    format_passage,
    pack_passages,
)
from tunevsprompt.retrieval.corpus import CorpusError, read_corpus
from tunevsprompt.retrieval.embedder import Embedder
from tunevsprompt.retrieval.index import (
    IVF_POINTS_PER_CENTROID,
    IndexSettings,
    build_index,
    configure_search,
    effective_nlist,
    index_bytes,
    search,
)
from tunevsprompt.retrieval.retriever import (
    Hit,
    QueryTiming,
    RetrievalLog,
    Retriever,
    first_relevant_rank,
)
from tunevsprompt.runfolder.store import path_digest
from tunevsprompt.suite.loader import LoadedSuite, load_suite
from tunevsprompt.task.types import Example, Prediction

faiss = pytest.importorskip("faiss")


@pytest.fixture(autouse=True, scope="module")
def _one_faiss_thread() -> Iterator[None]:
    """Tiny indexes: OpenMP threads only add contention on a busy two-core machine."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


# --------------------------------------------------------------------------- helpers


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the whitespace-separated words of ``text``."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def words(text: str) -> int:
    return len(text.split())


def chars(text: str) -> int:
    return (len(text) + 3) // 4


class FakeEmbedder:
    """Deterministic signed bag-of-words hashing, unit-length rows; counts encoded texts."""

    def __init__(self, dim: int = 64, fingerprint: str = "fake-bow-v1") -> None:
        self.model_id = "fake/bag-of-words"
        self.fingerprint = fingerprint
        self.dim = dim
        self.max_tokens = 256
        self.device = "cpu"
        self.encoded = 0
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
                out[row, h % self.dim] += 1.0 if (h >> 40) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.where(norms == 0, 1.0, norms), dtype=np.float32)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return word_spans(text)


def make_chunk(chunk_id: str, text: str, source: str | None = None) -> Chunk:
    return Chunk(chunk_id, source or chunk_id.split("#")[0], text, 0, len(text))


def hit(chunk_id: str, text: str, score: float = 1.0) -> Hit:
    return Hit(make_chunk(chunk_id, text), score)


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


# --------------------------------------------------------------------------- 1. chunking


def _token_index(spans: list[tuple[int, int]]) -> tuple[dict[int, int], dict[int, int]]:
    starts = {a: i for i, (a, _) in enumerate(spans)}
    ends = {b: i for i, (_, b) in enumerate(spans)}
    return starts, ends


def test_chunk_windows_advance_by_size_minus_overlap() -> None:
    text = "  " + " ".join(f"w{i}" + ("\n" if i % 4 == 3 else "") for i in range(23)) + " \n"
    doc = Document("guide.md", text, {"lang": "en"})
    spans = word_spans(text)
    chunks = chunk_document(doc, spans, size=5, overlap=2)
    starts, ends = _token_index(spans)
    first_tokens = [starts[c.start_char] for c in chunks]
    last_tokens = [ends[c.end_char] for c in chunks]
    assert first_tokens == list(range(0, 19, 3))
    assert last_tokens[:-1] == [t + 4 for t in first_tokens[:-1]]
    assert last_tokens[-1] == len(spans) - 1
    for n, chunk in enumerate(chunks):
        assert chunk.text == text[chunk.start_char : chunk.end_char]
        assert chunk.id == f"guide.md#{n}"
        assert chunk.source_id == "guide.md"
        assert chunk.metadata == {"lang": "en"}
        assert len(word_spans(chunk.text)) <= 5
    for i in range(len(chunks) - 1):  # consecutive chunks share exactly `overlap` tokens
        assert last_tokens[i] - first_tokens[i + 1] + 1 == 2


@settings(max_examples=150, deadline=None)
@given(
    n_words=st.integers(1, 60),
    size=st.integers(1, 12),
    overlap_frac=st.floats(0, 0.99),
    seps=st.lists(st.sampled_from([" ", "  ", "\n", "\t ", " \n\n"]), min_size=61, max_size=61),
)
def test_chunking_properties(n_words: int, size: int, overlap_frac: float, seps: list[str]) -> None:
    overlap = min(size - 1, int(overlap_frac * size))
    text = seps[-1] + "".join(f"t{i}{seps[i]}" for i in range(n_words))
    doc = Document("d", text)
    spans = word_spans(text)
    chunks = chunk_document(doc, spans, size, overlap)
    if n_words <= size:
        assert [(c.id, c.text, c.start_char, c.end_char) for c in chunks] == [
            ("d", text, 0, len(text))
        ]
        return
    starts, ends = _token_index(spans)
    firsts = [starts[c.start_char] for c in chunks]
    lasts = [ends[c.end_char] for c in chunks]
    assert firsts[0] == 0 and lasts[-1] == n_words - 1
    assert all(b - a == size - overlap for a, b in itertools.pairwise(firsts))
    assert all(last - first + 1 <= size for first, last in zip(firsts, lasts, strict=True))
    # every window but the last is full, and consecutive windows share exactly `overlap` tokens
    assert all(last - first + 1 == size for first, last in zip(firsts[:-1], lasts, strict=False))
    assert all(lasts[i] - firsts[i + 1] + 1 == overlap for i in range(len(chunks) - 1))
    assert [c.id for c in chunks] == [f"d#{i}" for i in range(len(chunks))]
    assert all(c.text == text[c.start_char : c.end_char] for c in chunks)


def test_short_document_is_one_chunk_with_the_document_id() -> None:
    text = "\n one two three four five \n"
    chunks = chunk_document(Document("faq/a.txt", text), word_spans(text), size=5, overlap=1)
    assert len(chunks) == 1
    assert chunks[0].id == chunks[0].source_id == "faq/a.txt"
    assert (chunks[0].text, chunks[0].start_char, chunks[0].end_char) == (text, 0, len(text))


def test_size_none_keeps_whole_document_and_blank_gives_nothing() -> None:
    long = " ".join(f"w{i}" for i in range(500))
    whole = chunk_document(Document("big", long), word_spans(long), size=None, overlap=0)
    assert [(c.id, c.text) for c in whole] == [("big", long)]
    assert chunk_document(Document("blank", " \n\t "), [], size=8, overlap=2) == []
    assert chunk_document(Document("blank", "   "), [], size=None, overlap=0) == []


def test_chunk_documents_keeps_document_order() -> None:
    docs = [
        Document("b", " ".join(f"b{i}" for i in range(12))),
        Document("a", "short one"),
        Document("empty", "  "),
        Document("c", " ".join(f"c{i}" for i in range(9))),
    ]
    chunks = chunk_documents(docs, word_spans, size=4, overlap=1)
    assert [c.source_id for c in chunks] == ["b"] * 4 + ["a"] + ["c"] * 3
    assert [c.id for c in chunks] == ["b#0", "b#1", "b#2", "b#3", "a", "c#0", "c#1", "c#2"]
    assert chunks[0].text == "b0 b1 b2 b3" and chunks[3].text == "b9 b10 b11"


def test_chunk_documents_without_size_needs_no_tokenizer() -> None:
    def no_spans(text: str) -> list[tuple[int, int]]:
        raise AssertionError("token_spans called although size is None")

    docs = [Document("x", "one two"), Document("y", "three")]
    assert [c.id for c in chunk_documents(docs, no_spans, None, 0)] == ["x", "y"]


# --------------------------------------------------------------------------- 2. index


@pytest.mark.parametrize(
    ("requested", "n", "expected"),
    [
        (None, 2000, 51),  # 4·sqrt(2000) ≈ 179, capped at 2000 // 39
        (None, 100_000, 1265),  # 4·sqrt(100000) ≈ 1264.9, under the cap
        (None, 1_000_000, 4000),
        (None, 100, 2),
        (None, 10, 1),
        (None, 0, 1),
        (5000, 100_000, 100_000 // IVF_POINTS_PER_CENTROID),
        (7, 100_000, 7),
        (50, 20, 1),
    ],
)
def test_effective_nlist(requested: int | None, n: int, expected: int) -> None:
    assert effective_nlist(requested, n) == expected


@pytest.fixture(scope="module")
def vectors_2000() -> np.ndarray:
    return unit_vectors(2000, 32, seed=7)


def _self_recall(index: Any, vectors: np.ndarray, probes: np.ndarray) -> float:
    _, ids = search(index, vectors[probes], 1)
    return float(np.mean(ids[:, 0] == probes))


def test_flat_index_finds_each_vector_itself(vectors_2000: np.ndarray) -> None:
    index, params = build_index(vectors_2000, IndexSettings(type="flat"))
    assert params == {"type": "flat"} and index.ntotal == 2000
    probes = np.random.default_rng(1).choice(2000, 100, replace=False)
    assert _self_recall(index, vectors_2000, probes) == 1.0
    scores, _ = search(index, vectors_2000[probes[0]], 3)  # a 1-D query is one row
    assert scores.shape == (1, 3) and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert scores[0, 0] >= scores[0, 1] >= scores[0, 2]


def test_hnsw_index_recall_and_params(vectors_2000: np.ndarray) -> None:
    settings_ = IndexSettings(type="hnsw", hnsw_m=16, ef_construction=40, ef_search=64)
    index, params = build_index(vectors_2000, settings_)
    assert params == {"type": "hnsw", "m": 16, "ef_construction": 40}
    assert faiss.downcast_index(index).hnsw.efSearch == 64
    probes = np.random.default_rng(2).choice(2000, 100, replace=False)
    assert _self_recall(index, vectors_2000, probes) >= 0.95


def test_ivf_index_recall_and_effective_nlist(vectors_2000: np.ndarray) -> None:
    index, params = build_index(vectors_2000, IndexSettings(type="ivf", nprobe=8))
    assert params == {"type": "ivf", "nlist": 51, "nlist_requested": None}
    assert faiss.extract_index_ivf(index).nlist == 51
    probes = np.random.default_rng(3).choice(2000, 100, replace=False)
    assert _self_recall(index, vectors_2000, probes) >= 0.95
    _, capped = build_index(vectors_2000, IndexSettings(type="ivf", nlist=500))
    assert (capped["nlist"], capped["nlist_requested"]) == (51, 500)


def test_ivf_nprobe_is_capped_at_nlist(vectors_2000: np.ndarray) -> None:
    settings_ = IndexSettings(type="ivf", nlist=4, nprobe=100)
    index, params = build_index(vectors_2000[:400], settings_)
    assert params["nlist"] == 4
    assert configure_search(index, settings_) == {"nprobe": 4}
    assert faiss.extract_index_ivf(index).nprobe == 4


def test_search_k_beyond_ntotal_returns_only_existing_rows() -> None:
    data = unit_vectors(5, 8, seed=0)
    index, _ = build_index(data, IndexSettings(type="flat"))
    scores, ids = search(index, data[:2], k=10)
    assert ids.shape == scores.shape == (2, 5)
    assert (ids >= 0).all()
    assert all(sorted(row.tolist()) == [0, 1, 2, 3, 4] for row in ids)
    empty, _ = build_index(np.zeros((0, 8), dtype=np.float32), IndexSettings(type="flat"))
    _, none = search(empty, data[:1], k=4)
    assert none.shape == (1, 1) and none[0, 0] == -1


def test_index_bytes_grow_with_n() -> None:
    data = unit_vectors(200, 16, seed=4)
    small, _ = build_index(data[:50], IndexSettings())
    large, _ = build_index(data, IndexSettings())
    assert 0 < index_bytes(small) < index_bytes(large)
    assert index_bytes(large) - index_bytes(small) >= 150 * 16 * 4


def test_index_settings_key_ignores_search_knobs() -> None:
    h = IndexSettings(type="hnsw", hnsw_m=32, ef_search=64)
    assert h.key() == IndexSettings(type="hnsw", hnsw_m=32, ef_search=512).key()
    assert h.key() != IndexSettings(type="hnsw", hnsw_m=16).key()
    assert h.key() != IndexSettings(type="hnsw", ef_construction=80).key()
    i = IndexSettings(type="ivf", nlist=64, nprobe=8)
    assert i.key() == IndexSettings(type="ivf", nlist=64, nprobe=32).key()
    assert i.key() != IndexSettings(type="ivf", nlist=128, nprobe=8).key()
    assert i.key() != IndexSettings(type="ivf", nlist=None).key()
    assert IndexSettings(hnsw_m=8, nprobe=3).key() == IndexSettings().key() == {"type": "flat"}
    assert len({IndexSettings(type=t).key()["type"] for t in ("flat", "hnsw", "ivf")}) == 3


# --------------------------------------------------------------------------- 3. cache


def corpus_chunks(n: int = 40, changed: int | None = None) -> list[Chunk]:
    docs = [
        Document(
            f"doc{i}.md",
            f"document {i} explains topic{i % 7} with word{i} and term{i * 3}"
            + (" edited" if i == changed else ""),
        )
        for i in range(n)
    ]
    return chunk_documents(docs, word_spans, size=None, overlap=0)


def _no_temporary_leftovers(root: Path) -> None:
    for level in ("embeddings", "indexes"):
        folder = root / "retrieval" / level
        entries = list(folder.iterdir())
        assert entries, folder
        assert not [e.name for e in entries if e.name.startswith(".")], folder
        assert all((e / "meta.json").is_file() for e in entries)


def test_cache_reuses_embeddings_and_indexes(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    typed: Embedder = embedder  # the fake satisfies the protocol
    chunks = corpus_chunks()
    n = len(chunks)

    first = load_or_build(chunks, typed, IndexSettings(type="flat"), tmp_path)
    rec = first.record
    assert embedder.encoded == n
    assert rec["embedded_chunks"] == n and rec["corpus_chunks"] == n
    assert rec["embeddings_reused"] is False and rec["index_reused"] is False
    assert rec["embed_dim"] == 64 and rec["index_bytes"] > 0 and rec["index_type"] == "flat"

    second = load_or_build(chunks, typed, IndexSettings(type="flat"), tmp_path)
    assert embedder.encoded == n
    assert second.record["embedded_chunks"] == 0
    assert second.record["embeddings_reused"] is True and second.record["index_reused"] is True
    assert second.record["cache_key"] == rec["cache_key"]
    assert second.record["corpus_sha256"] == rec["corpus_sha256"]
    assert second.index.ntotal == n
    # the index read back from disk still finds each chunk from its own text
    query = FakeEmbedder().encode([chunks[11].text])  # a second fake: keeps the count
    assert int(search(second.index, query, 1)[1][0, 0]) == 11

    edited = corpus_chunks(changed=3)
    third = load_or_build(edited, typed, IndexSettings(type="flat"), tmp_path)
    assert embedder.encoded == 2 * n
    assert third.record["embedded_chunks"] == n and third.record["index_reused"] is False
    assert third.record["corpus_sha256"] != rec["corpus_sha256"]
    assert third.record["cache_key"] != rec["cache_key"]

    hnsw = load_or_build(chunks, typed, IndexSettings(type="hnsw", hnsw_m=8), tmp_path)
    assert embedder.encoded == 2 * n
    assert hnsw.record["embeddings_reused"] is True and hnsw.record["embedded_chunks"] == 0
    assert hnsw.record["index_reused"] is False
    assert hnsw.record["cache_key"] != rec["cache_key"]
    assert hnsw.record["index_params"]["m"] == 8 and hnsw.record["index_params"]["ef_search"] == 64

    fresh = load_or_build(chunks, typed, IndexSettings(type="flat"), tmp_path, use_cache=False)
    assert embedder.encoded == 3 * n
    assert fresh.record["embedded_chunks"] == n
    assert fresh.record["embeddings_reused"] is False and fresh.record["index_reused"] is False
    assert fresh.record["cache_key"] == rec["cache_key"]

    _no_temporary_leftovers(tmp_path)
    assert len(list((tmp_path / "retrieval" / "embeddings").iterdir())) == 2
    assert len(list((tmp_path / "retrieval" / "indexes").iterdir())) == 3


def test_cache_search_knobs_change_no_key(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    chunks = corpus_chunks(80)
    a = load_or_build(chunks, embedder, IndexSettings(type="ivf", nprobe=1), tmp_path)
    b = load_or_build(chunks, embedder, IndexSettings(type="ivf", nprobe=2), tmp_path)
    assert embedder.encoded == len(chunks)
    assert b.record["index_reused"] is True and b.record["cache_key"] == a.record["cache_key"]
    assert b.record["index_params"]["nprobe"] == 2  # search knob applied to the reused index
    assert b.record["index_params"]["nlist"] == effective_nlist(None, len(chunks))


def test_cache_key_includes_embedder_fingerprint(tmp_path: Path) -> None:
    chunks = corpus_chunks(10)
    one, two = FakeEmbedder(fingerprint="v1"), FakeEmbedder(fingerprint="v2")
    a = load_or_build(chunks, one, IndexSettings(), tmp_path)
    b = load_or_build(chunks, two, IndexSettings(), tmp_path)
    assert two.encoded == len(chunks) and b.record["embeddings_reused"] is False
    assert a.record["cache_key"] != b.record["cache_key"]
    assert a.record["corpus_sha256"] == b.record["corpus_sha256"]


def test_retriever_returns_best_chunks_and_drops_missing_rows() -> None:
    embedder = FakeEmbedder()
    chunks = corpus_chunks(6)
    vectors = embedder.encode([c.text for c in chunks])
    index, _ = build_index(vectors, IndexSettings())
    retriever = Retriever(embedder, CorpusIndex(chunks, index, {}))
    hits, timing = retriever.retrieve([chunks[4].text, chunks[1].text], k=20)
    assert [len(h) for h in hits] == [6, 6]
    assert hits[0][0].chunk.id == chunks[4].id and hits[1][0].chunk.id == chunks[1].id
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-5)
    assert timing.batch_size == 2 and timing.embed_ms >= 0 and timing.search_ms >= 0


# --------------------------------------------------------------------------- 4. context


def test_cut_to_tokens_is_longest_word_prefix() -> None:
    text = "alpha beta gamma delta epsilon"
    assert cut_to_tokens(text, 3, words) == "alpha beta gamma"
    assert cut_to_tokens(text, 0, words) == ""
    assert cut_to_tokens(text, 99, words) == text
    cut = cut_to_tokens(text, 3, chars)  # 12 characters at most
    assert cut == "alpha beta" and chars(cut) <= 3


def test_all_passages_fit_in_rank_order() -> None:
    hits = [hit("b#0", "second best"), hit("a#2", "the best one"), hit("c", "third")]
    packed = pack_passages(hits, 100, words)
    assert packed.text == "[b#0] second best\n\n[a#2] the best one\n\n[c] third"
    assert packed.included == ["b#0", "a#2", "c"]
    assert packed.truncated is False and packed.tokens == words(packed.text) == 9


def test_last_passage_is_cut_at_word_boundary() -> None:
    long = " ".join(f"w{i}" for i in range(100))
    hits = [hit("a", "one two three"), hit("b", long), hit("c", "never reached")]
    packed = pack_passages(hits, 40, words)
    assert packed.included == ["a", "b"] and packed.truncated is True
    first, cut = packed.text.split(PASSAGE_SEPARATOR)
    assert first == "[a] one two three"
    assert cut.startswith("[b] w0 w1") and format_passage(hits[1]).startswith(cut)
    assert words(packed.text) == packed.tokens == 40
    assert "[c]" not in packed.text


def test_short_cut_is_dropped() -> None:
    long = " ".join(f"w{i}" for i in range(100))
    hits = [hit("a", "one two three"), hit("b", long)]
    budget = 4 + MIN_PARTIAL_TOKENS - 1  # room for only MIN_PARTIAL_TOKENS - 1 words of b
    packed = pack_passages(hits, budget, words)
    assert packed.text == "[a] one two three" and packed.included == ["a"]
    assert packed.truncated is True
    # room is large enough, but the word boundary leaves only the id label: dropped too
    huge_word = hit("b", "x" * 400 + " tail")
    packed = pack_passages([hits[0], huge_word], chars("[a] one two three\n\n") + 40, chars)
    assert packed.included == ["a"] and "[b]" not in packed.text and packed.truncated is True


def test_best_passage_too_long_for_budget_is_cut_alone() -> None:
    hits = [hit("top", " ".join(f"w{i}" for i in range(50))), hit("next", "small")]
    packed = pack_passages(hits, 20, words)
    assert packed.text.startswith("[top] w0 w1") and packed.included == ["top"]
    assert packed.tokens == 20 and packed.truncated is True
    nothing = pack_passages(hits, 5, words)
    assert (nothing.text, nothing.tokens, nothing.included, nothing.truncated) == ("", 0, [], True)
    empty = pack_passages([], 100, words)
    assert (empty.text, empty.included, empty.truncated) == ("", [], False)


passage_text = st.lists(
    st.text(alphabet="abcdefghij", min_size=1, max_size=14), min_size=0, max_size=45
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(passage_text, min_size=0, max_size=6),
    budget=st.integers(0, 300),
    counter=st.sampled_from([words, chars]),
)
def test_packing_properties(texts: list[str], budget: int, counter: Any) -> None:
    hits = [hit(f"doc{i}#{i}", text, 1.0 - i / 10) for i, text in enumerate(texts)]
    full = [format_passage(h) for h in hits]
    packed = pack_passages(hits, budget, counter)

    assert counter(packed.text) <= budget
    assert packed.tokens == (counter(packed.text) if packed.text else 0)
    assert packed.included == [h.chunk.id for h in hits[: len(packed.included)]]
    parts = packed.text.split(PASSAGE_SEPARATOR) if packed.text else []
    assert len(parts) == len(packed.included)
    assert parts[:-1] == full[: max(len(parts) - 1, 0)]
    whole = 0
    while whole < len(hits) and counter(PASSAGE_SEPARATOR.join(full[: whole + 1])) <= budget:
        whole += 1
    assert len(parts) in (whole, whole + 1)
    last_cut = bool(parts) and parts[-1] != full[len(parts) - 1]
    if last_cut:
        assert len(parts) == whole + 1 and full[len(parts) - 1].startswith(parts[-1])
        assert counter(parts[-1]) >= MIN_PARTIAL_TOKENS
    else:
        assert len(parts) == whole
    assert packed.truncated == (last_cut or len(packed.included) < len(hits))
    if hits and counter(full[0]) <= budget:
        assert packed.text.startswith(f"[{hits[0].chunk.id}]")


# --------------------------------------------------------------------------- 5. relevance


def test_first_relevant_rank_dedupes_repeats() -> None:
    assert first_relevant_rank(["a", "a", "b"], "b") == 2
    assert first_relevant_rank(["a", "b", "a", "c"], "c") == 3
    assert first_relevant_rank(["g"], "g") == 1
    assert first_relevant_rank(["a", "b"], "z") is None
    assert first_relevant_rank([], "z") is None


def test_retrieval_log_summary() -> None:
    log = RetrievalLog(k=3)
    log.add("e1", ["x", "x", "gold1"], "gold1", context_tokens=100, truncated=False)
    log.add("e2", ["y"], "gold2", context_tokens=50, truncated=True)
    log.add("e3", ["z"], None, context_tokens=None, truncated=False)
    log.add("e4", ["q"], "q", context_tokens=10, truncated=False)
    log.add("e4", ["q", "w"], "w", context_tokens=30, truncated=True)  # the last call wins
    log.timings += [
        QueryTiming(100.0, 200.0, 8),
        QueryTiming(1.0, 2.0, 1),
        QueryTiming(3.0, 4.0, 1),
    ]
    summary = log.summary(["e1", "e2", "e3", "e4", "not-retrieved"])
    assert summary["top_k"] == 3 and summary["judged"] == 3
    assert summary["hit_at_k"] == pytest.approx(2 / 3, abs=1e-6)
    assert summary["mrr"] == pytest.approx((1 / 2 + 0 + 1 / 2) / 3, abs=1e-6)
    assert summary["context_tokens_mean"] == pytest.approx(60.0)
    assert summary["context_tokens_max"] == 100
    assert summary["context_truncated_fraction"] == pytest.approx(0.5)
    assert summary["embed_ms"] == {"p50": 2.0, "p95": 2.9, "n": 2, "batch_size": 1}
    assert summary["search_ms"]["p50"] == 3.0 and summary["search_ms"]["n"] == 2

    only_e1 = log.summary(["e1"])
    assert (only_e1["hit_at_k"], only_e1["mrr"], only_e1["judged"]) == (1.0, 0.5, 1)


def test_retrieval_log_summary_batched_timings_and_no_gold() -> None:
    log = RetrievalLog(k=2)
    log.add("a", ["d1"], None)
    log.add("b", ["d2"], None, truncated=True)
    log.timings += [QueryTiming(4.0, 1.0, 8), QueryTiming(6.0, 3.0, 4)]
    summary = log.summary(["a", "b"])
    assert summary["hit_at_k"] is None and summary["mrr"] is None and summary["judged"] == 0
    assert summary["context_tokens_mean"] is None and summary["context_tokens_max"] is None
    assert summary["context_truncated_fraction"] == 0.5
    assert summary["embed_ms"] == {"p50": 5.0, "p95": 5.9, "n": 2, "batch_size": 8}
    empty = RetrievalLog(k=1).summary([])
    assert empty["embed_ms"] is None and empty["context_truncated_fraction"] is None


# --------------------------------------------------------------------------- 6. corpus


def test_read_folder_corpus(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    (kb / "sub" / "deeper").mkdir(parents=True)
    (kb / "z.txt").write_text("zed")
    (kb / "a.md").write_text("# A\nalpha")
    (kb / "sub" / "b.markdown").write_text("bee")
    (kb / "sub" / "deeper" / "c.MD").write_text("sea")
    (kb / "sub" / "data.json").write_text('{"text": "ignored"}')
    (kb / "notes.csv").write_text("ignored,too")
    docs = read_corpus(kb)
    ids = [d.id for d in docs]
    assert ids == ["a.md", "sub/b.markdown", "sub/deeper/c.MD", "z.txt"]
    assert ids == sorted(ids)
    assert [d.text for d in docs] == ["# A\nalpha", "bee", "sea", "zed"]


def test_read_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "only.json").write_text("{}")
    with pytest.raises(CorpusError, match="holds no"):
        read_corpus(tmp_path / "kb")


def test_read_jsonl_corpus_keeps_metadata(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    rows = [
        {"id": "d1", "text": "first", "title": "One", "tags": ["x"]},
        {"id": 2, "text": "second"},
    ]
    path.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    docs = read_corpus(path)
    assert [(d.id, d.text) for d in docs] == [("d1", "first"), ("2", "second")]
    assert docs[0].metadata == {"title": "One", "tags": ["x"]} and docs[1].metadata == {}
    custom = tmp_path / "custom.jsonl"
    custom.write_text(json.dumps({"key": "k1", "body": "text", "id": "meta-id"}) + "\n")
    (doc,) = read_corpus(custom, id_field="key", text_field="body")
    assert (doc.id, doc.text, doc.metadata) == ("k1", "text", {"id": "meta-id"})


def test_jsonl_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": "a", "text": "ok"}\n\n{"id": "b", "text": \n')
    with pytest.raises(CorpusError) as err:
        read_corpus(path)
    assert "broken.jsonl" in str(err.value) and "line 3" in str(err.value)

    path.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "body": "no text key"}\n')
    with pytest.raises(CorpusError) as err:
        read_corpus(path)
    assert err.value.key == "text_field"
    assert "document 2" in str(err.value) and "'text'" in str(err.value)
    assert err.value.hint is not None and "corpus.text_field" in err.value.hint

    path.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(CorpusError, match="appears twice"):
        read_corpus(path)

    path.write_text('["not", "an", "object"]\n')
    with pytest.raises(CorpusError, match="must hold a list of objects"):
        read_corpus(path)

    path.write_text('{"id": "a", "text": "x"}\n"just a string"\n')
    with pytest.raises(CorpusError, match="line 2 is not a JSON object"):
        read_corpus(path)


def test_csv_corpus_path_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "docs.csv"
    path.write_text("id,text\n1,hello\n")
    with pytest.raises(CorpusError, match=r"neither a folder nor a \.jsonl"):
        read_corpus(path)


# --------------------------------------------------------------------------- 7. suite loader


def write_suite(folder: Path, second_arm: dict[str, Any]) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    rows = "text,category\nwhere is my card,card\nhow do I pay,pay\n"
    (folder / "data" / "train.csv").write_text(rows)
    (folder / "data" / "test.csv").write_text(rows)
    kb = folder / "kb"
    kb.mkdir(exist_ok=True)
    (kb / "cards.md").write_text("Cards arrive within five days.")
    (folder / "docs.jsonl").write_text(json.dumps({"id": "d1", "text": "Pay online."}) + "\n")
    (folder / "nokey.jsonl").write_text(json.dumps({"id": "d1", "body": "Pay online."}) + "\n")
    suite = {
        "name": "rag-units",
        "task": {
            "type": "classification",
            "data": {"train": "data/train.csv", "test": "data/test.csv"},
            "input_field": "text",
            "target_field": "category",
            "instruction": "Name the intent.",
        },
        "arms": [{"name": "zero", "type": "zero-shot"}, second_arm],
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def rag_arm(**overrides: Any) -> dict[str, Any]:
    return {"name": "rag", "type": "rag", "corpus": {"path": "kb"}, **overrides}


def problems_of(path: Path) -> list[SuiteProblem]:
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    return err.value.problems


def test_valid_rag_suite_loads(tmp_path: Path) -> None:
    corpus = {"path": "kb", "chunk_size": 64, "chunk_overlap": 8}
    loaded = load_suite(write_suite(tmp_path, rag_arm(corpus=corpus, top_k=3)))
    config = loaded.arms[1]
    assert isinstance(config, RagConfig) and config.corpus != "train"
    assert config.corpus.path == "kb" and config.corpus.chunk_size == 64 and config.top_k == 3
    assert config.data_paths() == {"corpus.path": "kb"}
    jsonl = load_suite(write_suite(tmp_path, rag_arm(corpus={"path": "docs.jsonl"})))
    assert jsonl.arms[1].data_paths() == {"corpus.path": "docs.jsonl"}
    train = load_suite(write_suite(tmp_path, rag_arm(corpus="train")))
    assert train.arms[1].data_paths() == {}


def test_missing_corpus_path_names_key_and_path(tmp_path: Path) -> None:
    (problem,) = problems_of(write_suite(tmp_path, rag_arm(corpus={"path": "nowhere/kb"})))
    assert problem.key_path == "arms[1].corpus.path"
    assert "file not found" in problem.message and "nowhere/kb" in problem.message
    assert problem.line is not None


def test_corpus_path_leaving_the_folder_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (problem,) = problems_of(write_suite(tmp_path / "suite", rag_arm(corpus={"path": "../kb"})))
    assert problem.key_path == "arms[1].corpus.path"
    assert "leaves the suite's folder" in problem.message


def test_jsonl_corpus_without_text_key_points_at_text_field(tmp_path: Path) -> None:
    (problem,) = problems_of(write_suite(tmp_path, rag_arm(corpus={"path": "nokey.jsonl"})))
    assert problem.key_path == "arms[1].corpus.text_field"
    assert "nokey.jsonl document 1" in problem.message
    assert problem.hint is not None and "corpus.text_field" in problem.hint
    fixed = rag_arm(corpus={"path": "nokey.jsonl", "text_field": "body"})
    assert load_suite(write_suite(tmp_path, fixed)).arms[1].name == "rag"


def test_rag_template_needs_context_slot(tmp_path: Path) -> None:
    problems = problems_of(write_suite(tmp_path, rag_arm(template="Answer: {input}")))
    assert [p.key_path for p in problems] == ["arms[1].template"]
    assert "{context}" in problems[0].message


def test_chunk_overlap_must_be_below_chunk_size(tmp_path: Path) -> None:
    corpus = {"path": "kb", "chunk_size": 16, "chunk_overlap": 16}
    problems = problems_of(write_suite(tmp_path, rag_arm(corpus=corpus)))
    assert any("chunk_overlap must be smaller than chunk_size" in p.message for p in problems)
    assert all(p.key_path.startswith("arms[1].corpus") for p in problems)


def test_corpus_errors_have_clean_key_paths(tmp_path: Path) -> None:
    corpus = {"path": "kb", "chunk_size": 16, "chunk_overlap": 16}
    problems = problems_of(write_suite(tmp_path, rag_arm(corpus=corpus)))
    assert [p.key_path for p in problems] == ["arms[1].corpus"]


def test_unknown_corpus_key_suggests(tmp_path: Path) -> None:
    problems = problems_of(write_suite(tmp_path, rag_arm(corpus={"path": "kb", "chunk_sise": 30})))
    unknown = [p for p in problems if p.message == "unknown key"]
    assert [p.key_path for p in unknown] == ["arms[1].corpus.chunk_sise"]
    assert unknown[0].hint is not None and "did you mean 'chunk_size'" in unknown[0].hint


def test_unknown_corpus_key_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(write_suite(tmp_path, rag_arm(corpus={"path": "kb", "chunk_sise": 30})))
    assert any(p.message == "unknown key" and p.key_path.endswith("chunk_sise") for p in problems)


def test_few_shot_embedder_needs_selection_similar(tmp_path: Path) -> None:
    arm = {"name": "fs", "type": "few-shot", "k": 2, "selection": "random", "embedder": {}}
    (problem,) = problems_of(write_suite(tmp_path, arm))
    assert problem.key_path == "arms[1]"
    assert "only used with selection: similar" in problem.message
    similar = {**arm, "selection": "similar", "index": {"type": "hnsw", "m": 8}}
    loaded: LoadedSuite = load_suite(write_suite(tmp_path, similar))
    config = loaded.arms[1]
    assert config.selection == "similar"  # type: ignore[attr-defined]
    assert config.index.type == "hnsw"  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- 8. latency


def _examples(n: int) -> list[Example]:
    return [Example(f"e{i}", f"input {i}", "label") for i in range(n)]


def test_latency_splits_retrieval_and_generation() -> None:
    calls: list[str] = []

    def predict(batch: Sequence[Example]) -> list[Prediction]:
        (example,) = batch
        calls.append(example.id)
        time.sleep(0.01)
        extra = {"stage_ms": {"retrieval": 5.0}}
        return [Prediction(example.id, "x", "label", 10, 1, extra=extra)]

    summary, timings = measure_latency(predict, _examples(10), 4, 2, contextlib.nullcontext)
    assert summary is not None
    assert calls == ["e0", "e1", "e0", "e1", "e2", "e3"]  # warm-up first, then timed
    assert list(timings) == ["e0", "e1", "e2", "e3"] and all(t >= 10 for t in timings.values())
    assert summary["n"] == 4 and summary["warmup"] == 2 and summary["batch_size"] == 1
    stages = summary["stages"]
    assert set(stages) == {"retrieval", "generation"}
    assert stages["retrieval"] == {"p50": 5.0, "p95": 5.0, "mean": 5.0}
    assert set(stages["generation"]) == {"p50", "p95", "mean"}
    for key in ("p50", "p95", "mean"):
        assert stages["generation"][key] == pytest.approx(summary[key] - 5.0, abs=0.002)
    assert stages["generation"]["mean"] >= 4.9


def test_latency_without_stages_and_without_sample() -> None:
    def predict(batch: Sequence[Example]) -> list[Prediction]:
        return [Prediction(e.id, "x", "label", 10, 1) for e in batch]

    summary, timings = measure_latency(predict, _examples(3), 5, 1, contextlib.nullcontext)
    assert summary is not None and "stages" not in summary
    assert summary["n"] == 3 and len(timings) == 3 and {"p50", "p95", "mean"} <= set(summary)
    assert measure_latency(predict, _examples(3), 0, 1, contextlib.nullcontext) == (None, {})


# --------------------------------------------------------------------------- 9. token figures


def test_token_figures_spread_of_prompt_length() -> None:
    predictions = [
        Prediction(f"e{i}", "x", "y", input_tokens=i, output_tokens=i % 3) for i in range(1, 21)
    ]
    figures = _token_figures(predictions)
    assert figures["input_mean"] == 10.5
    assert figures["input_p95"] == pytest.approx(19.05)  # linear interpolation 19 → 20
    assert figures["input_max"] == 20 and isinstance(figures["input_max"], int)
    assert figures["output_mean"] == pytest.approx(sum(i % 3 for i in range(1, 21)) / 20, abs=1e-3)


# --------------------------------------------------------------------------- 10. path digest


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_path_digest(tmp_path: Path) -> None:
    files = {"a.md": "alpha", "sub/b.txt": "beta"}
    one = _tree(tmp_path / "one", files)
    two = _tree(tmp_path / "two", files)
    base = path_digest(one)
    assert base is not None and base == path_digest(two)
    (two / "sub" / "b.txt").write_text("beta!")
    changed = path_digest(two)
    assert changed != base
    (two / "sub" / "b.txt").write_text("beta")
    assert path_digest(two) == base
    (two / "c.md").write_text("")
    assert path_digest(two) not in (base, changed)
    (two / "c.md").unlink()
    (two / "sub" / "b.txt").rename(two / "sub" / "renamed.txt")
    assert path_digest(two) != base
    assert path_digest(tmp_path / "missing") is None
    single = path_digest(one / "a.md")
    assert single is not None and single != base
    assert single == path_digest(_tree(tmp_path / "three", {"x.md": "alpha"}) / "x.md")
