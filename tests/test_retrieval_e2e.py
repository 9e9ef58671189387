"""Retrieval for real: the packaged MiniLM embedder, real FAISS indexes and the packaged LM.

The RAG arm over the Northwind help-center corpus, the index cache (reused, rebuilt when the
corpus changes), the context budget against the model's own tokenizer, and similar-example
demonstrations against random ones on a Banking77 subset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    BANKING_TASK,
    REPO,
    TEN_INTENTS,
    UNTIMED_RUN,
    banking_rows,
    subset,
    write_csv,
)
from tunevsprompt.arms.base import RunContext, TaskInfo
from tunevsprompt.arms.rag import RagArm, RagConfig
from tunevsprompt.generation.base import Generator
from tunevsprompt.retrieval.cache import load_or_build
from tunevsprompt.retrieval.chunking import chunk_documents
from tunevsprompt.retrieval.corpus import read_corpus
from tunevsprompt.retrieval.embedder import SentenceTransformerEmbedder, load_embedder
from tunevsprompt.retrieval.index import IndexSettings
from tunevsprompt.retrieval.retriever import Retriever
from tunevsprompt.runner import RunOptions, load_default_generator, run_compare
from tunevsprompt.suite.loader import load_suite
from tunevsprompt.task.types import Example

pytestmark = pytest.mark.slow

NORTHWIND = REPO / "suites" / "data" / "northwind-help"

RAG_SUITE = """\
name: northwind-small
task:
  type: generation
  data:
    train: questions/train.jsonl
    test: questions/test.jsonl
  input_field: question
  target_field: answer
  id_field: id
  instruction: >-
    You answer customer questions for Northwind Bank. Reply with the short answer only.
arms:
  - name: zero-shot
    type: zero-shot
    decide: generate
    max_new_tokens: 20
  - name: rag
    type: rag
    decide: generate
    max_new_tokens: 20
    corpus:
      path: docs
      chunk_size: 96
      chunk_overlap: 16
    top_k: 3
    context_tokens: {budget}
    gold_field: doc
    context_instruction: Use the passages below the question to answer it.
    template: "Question: {{input}}\\n\\nPassages:\\n{{context}}\\n\\nQuestion: {{input}}"
metrics:
  primary: token_f1
  bootstrap_samples: 200
sampling:
  seed: 0
  test_max: {n_test}
latency:
  sample: {latency}
  warmup: 1
"""


class Quiet:
    def unit_started(self, unit: str, total: int) -> None: ...
    def advanced(self, unit: str, count: int) -> None: ...
    def unit_finished(self, unit: str, reused: bool) -> None: ...
    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None: ...
    def message(self, text: str) -> None: ...


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return load_embedder("packaged:all-minilm-l6-v2", None, "cpu", 64)


class CountingEncodes:
    """Counts the texts the (real) embedder is asked to embed, by patching the instance."""

    def __init__(self, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch):
        self.texts = 0
        original = embedder.encode

        def encode(texts: Any) -> Any:
            self.texts += len(texts)
            return original(texts)

        monkeypatch.setattr(embedder, "encode", encode)


@pytest.fixture(scope="module")
def northwind_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("northwind")
    shutil.copytree(NORTHWIND / "docs", folder / "docs")
    shutil.copytree(NORTHWIND / "questions", folder / "questions")
    for budget, name in ((384, "suite.yaml"), (40, "tight.yaml")):
        (folder / name).write_text(RAG_SUITE.format(budget=budget, n_test=24, latency=3))
    return folder


@pytest.fixture(scope="module")
def lm(northwind_dir: Path) -> Generator:
    return load_default_generator(
        load_suite(northwind_dir / "suite.yaml"), RunOptions(device="cpu")
    )


def _run(suite: Path, out: Path, cache: Path, lm: Generator, **options: Any) -> dict[str, Any]:
    run_dir = run_compare(
        load_suite(suite),
        RunOptions(out=out, cache_dir=cache, device="cpu", **options),
        Quiet(),
        lambda _l, _o: lm,
    )
    results: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return results


def test_a_chunk_used_as_the_query_retrieves_itself_first(
    minilm: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    chunks = chunk_documents(read_corpus(NORTHWIND / "docs"), minilm.token_spans, 96, 16)
    assert len(chunks) > 40 and len({c.source_id for c in chunks}) == 16
    for kind in ("flat", "hnsw", "ivf"):
        retriever = Retriever(
            minilm, load_or_build(chunks, minilm, IndexSettings(type=kind, nprobe=4), tmp_path)
        )
        hits, _ = retriever.retrieve([c.text for c in chunks], 3)
        firsts = [found[0].chunk.id for found in hits]
        matched = sum(first == chunk.id for first, chunk in zip(firsts, chunks, strict=True))
        assert matched == len(chunks), kind
        assert all(found[0].score > 0.99 for found in hits)


def test_rag_beats_zero_shot_and_reports_its_retrieval(
    northwind_dir: Path, lm: Generator, tmp_path: Path
) -> None:
    results = _run(northwind_dir / "suite.yaml", tmp_path / "run", tmp_path / "cache", lm)
    rag, zero = results["arms"]["rag"], results["arms"]["zero-shot"]
    assert rag["quality"]["value"] > zero["quality"]["value"] + 0.05
    retrieval = rag["retrieval"]
    assert retrieval["index_type"] == "flat" and retrieval["embed_dim"] == 384
    assert retrieval["corpus_chunks"] > 40 and retrieval["index_bytes"] > 384 * 4 * 40
    assert retrieval["hit_at_k"] >= 0.9 and 0.8 <= retrieval["mrr"] <= retrieval["hit_at_k"]
    assert retrieval["judged"] == 24 and retrieval["relevance"] == "gold document"
    assert 0 < retrieval["context_tokens_mean"] <= retrieval["context_tokens_max"] <= 384
    for key in ("embed_ms", "search_ms"):
        assert retrieval[key]["batch_size"] == 1 and retrieval[key]["p50"] > 0
    stages = rag["latency_ms"]["stages"]
    assert 0 < stages["retrieval"]["p50"] < stages["generation"]["p50"]
    # Long retrieved prompts are what RAG pays for: the prompt-length figures show it.
    assert rag["tokens"]["input_mean"] > zero["tokens"]["input_mean"] + 150
    assert rag["tokens"]["input_max"] >= rag["tokens"]["input_p95"] >= rag["tokens"]["input_mean"]
    rows = [
        json.loads(line)
        for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
        if json.loads(line)["arm"] == "rag"
    ]
    assert len(rows) == 24
    for row in rows:
        context = row["context"]
        assert len(context["retrieved"]) == 3 and context["tokens"] <= 384
        assert set(context["included"]) <= {hit["id"] for hit in context["retrieved"]}
    assert results["contamination"]["arms"]["rag"]["source_texts"] > 0


def test_the_index_cache_is_reused_and_rebuilt_when_the_corpus_changes(
    northwind_dir: Path,
    lm: Generator,
    minilm: SentenceTransformerEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "suite"
    shutil.copytree(northwind_dir, folder)
    suite, cache = folder / "suite.yaml", tmp_path / "cache"
    # 3 test questions and 1 timed request: the index is under test here, not the answers.
    suite.write_text(RAG_SUITE.format(budget=384, n_test=3, latency=1))
    counter = CountingEncodes(minilm, monkeypatch)
    options = {"arms": ["rag"]}
    first = _run(suite, tmp_path / "one", cache, lm, **options)["arms"]["rag"]["retrieval"]
    chunks = first["corpus_chunks"]
    assert first["embedded_chunks"] == chunks and not first["index_reused"]
    assert counter.texts >= chunks

    counter.texts = 0
    second = _run(suite, tmp_path / "two", cache, lm, **options)["arms"]["rag"]["retrieval"]
    assert second["embedded_chunks"] == 0 and second["embeddings_reused"]
    assert second["index_reused"] and second["cache_key"] == first["cache_key"]
    # Only the queries were embedded (3 test questions, 1 + 1 latency requests).
    assert counter.texts == 3 + 1 + 1

    doc = folder / "docs" / "card-replacement.md"
    doc.write_text(doc.read_text() + "\nA new paragraph about contactless limits of £95.\n")
    counter.texts = 0
    third = _run(suite, tmp_path / "three", cache, lm, **options)["arms"]["rag"]["retrieval"]
    assert not third["index_reused"] and not third["embeddings_reused"]
    assert third["embedded_chunks"] == third["corpus_chunks"] >= chunks
    assert third["corpus_sha256"] != first["corpus_sha256"]
    assert counter.texts >= third["corpus_chunks"] + 3


class SmallWindow:
    """The real model, claiming a small context window, so the budget must shrink to fit."""

    def __init__(self, inner: Generator, window: int):
        self.inner = inner
        self.window = window

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def context_window(self) -> int:
        return self.window


@pytest.mark.parametrize(("budget", "window"), [(40, None), (2000, 260)])
def test_the_context_budget_is_never_exceeded(
    northwind_dir: Path,
    lm: Generator,
    tmp_path: Path,
    budget: int,
    window: int | None,
) -> None:
    loaded = load_suite(northwind_dir / "suite.yaml")
    entry = next(a for a in loaded.arms if a.name == "rag")
    assert isinstance(entry, RagConfig)
    config = entry.model_copy(update={"context_tokens": budget, "top_k": 4})
    generator: Any = lm if window is None else SmallWindow(lm, window)
    ctx = RunContext(
        TaskInfo("generation", "Answer the question.", None, "token_f1", "answer"),
        0,
        tmp_path,
        lambda: generator,
        cache_dir=tmp_path / "cache",
        data_root=northwind_dir,
        device="cpu",
    )
    arm = RagArm(config)
    arm.prepare([], ctx)
    rows = [
        json.loads(x) for x in (northwind_dir / "questions/test.jsonl").read_text().splitlines()
    ]
    batch = [Example(r["id"], r["question"], r["answer"], {"doc": r["doc"]}) for r in rows]
    contexts = arm.contexts_for(batch)
    limit = window if window is not None else lm.context_window
    assert limit is not None
    for example, packed in zip(batch, contexts, strict=True):
        assert lm.count_tokens(packed.text) == packed.tokens <= budget
        prompt_tokens = lm.prompt_tokens(arm._prompt(example, packed.text))
        assert prompt_tokens + config.max_new_tokens <= limit
        assert packed.included, "some context fits"
    assert any(c.truncated for c in contexts), "the budget was binding"


SIMILAR_SUITE = (
    "name: ten-intents\n"
    + BANKING_TASK
    + """\
arms:
  - name: random
    type: few-shot
    k: 4
    selection: random
    decide: rank
  - name: similar
    type: few-shot
    k: 4
    selection: similar
    decide: rank
  - name: rag-train
    type: rag
    corpus: train
    top_k: 4
    context_tokens: 200
    decide: rank
"""
    + UNTIMED_RUN
)


def test_similar_demonstrations_and_rag_over_the_train_split_beat_random_ones(
    lm: Generator, tmp_path: Path
) -> None:
    folder = tmp_path / "ten"
    write_csv(folder / "data" / "train.csv", subset(banking_rows("train"), TEN_INTENTS, 20, 3))
    write_csv(folder / "data" / "test.csv", subset(banking_rows("test"), TEN_INTENTS, 2, 4))
    (folder / "suite.yaml").write_text(SIMILAR_SUITE)
    results = _run(folder / "suite.yaml", tmp_path / "run", tmp_path / "cache", lm)
    similar, random = results["arms"]["similar"], results["arms"]["random"]
    gap = (similar["quality"]["value"], random["quality"]["value"])
    assert gap[0] >= gap[1] + 0.15, gap
    retrieval = similar["retrieval"]
    assert retrieval["relevance"] == "gold label" and retrieval["top_k"] == 4
    assert retrieval["hit_at_k"] >= 0.8 and retrieval["corpus_chunks"] == 180
    assert "retrieval" not in random
    assert similar["prompting"]["selection"] == "similar"
    # corpus: train retrieves labelled examples as passages; relevance is the gold label.
    rag = results["arms"]["rag-train"]
    assert rag["quality"]["value"] >= random["quality"]["value"] + 0.15, rag["quality"]
    assert rag["retrieval"]["relevance"] == "gold label" and rag["retrieval"]["hit_at_k"] >= 0.8
    assert rag["retrieval"]["context_tokens_max"] <= 200
