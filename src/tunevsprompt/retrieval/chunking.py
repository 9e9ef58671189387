"""Documents → chunks of at most ``size`` embedder tokens, overlapping by ``overlap`` tokens.

Chunks are exact substrings of their document (cut at token boundaries through the
tokenizer's character offsets), and each keeps its document's id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Chunk:
    id: str
    """``<document id>#<n>``, or the document id itself when the document is one chunk."""
    source_id: str
    text: str
    start_char: int
    end_char: int
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


TokenSpans = Callable[[str], list[tuple[int, int]]]


def chunk_document(
    document: Document, spans: list[tuple[int, int]], size: int | None, overlap: int
) -> list[Chunk]:
    """Windows of ``size`` tokens advancing by ``size - overlap``; None keeps it whole."""
    text = document.text
    if not text.strip():
        return []
    if size is None or len(spans) <= size:
        return [Chunk(document.id, document.id, text, 0, len(text), document.metadata)]
    step = size - overlap
    chunks: list[Chunk] = []
    start = 0
    while True:
        end = min(start + size, len(spans))
        first, last = spans[start][0], spans[end - 1][1]
        chunks.append(
            Chunk(
                f"{document.id}#{len(chunks)}",
                document.id,
                text[first:last],
                first,
                last,
                document.metadata,
            )
        )
        if end == len(spans):
            return chunks
        start += step


def chunk_documents(
    documents: Sequence[Document], token_spans: TokenSpans, size: int | None, overlap: int
) -> list[Chunk]:
    """Every document's chunks, in document order."""
    chunks: list[Chunk] = []
    for document in documents:
        spans = token_spans(document.text) if size is not None else []
        chunks.extend(chunk_document(document, spans, size, overlap))
    return chunks
