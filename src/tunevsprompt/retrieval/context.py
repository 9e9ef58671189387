"""Fit retrieved passages into a token budget: whole passages in rank order, the last one cut
at a word boundary, and the count checked on the assembled text (tokenisation is not additive,
so the text is what is measured, never a sum of parts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tunevsprompt.retrieval.retriever import Hit

MIN_PARTIAL_TOKENS = 16
"""A cut passage shorter than this is left out: a sentence fragment helps nobody."""

PASSAGE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PackedContext:
    text: str
    tokens: int
    included: list[str]
    """Chunk ids placed in the context, in order."""
    truncated: bool
    """True when a passage was cut or left out for lack of room."""


def format_passage(hit: Hit) -> str:
    return f"[{hit.chunk.id}] {hit.chunk.text.strip()}"


def cut_to_tokens(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """The longest word-boundary prefix of ``text`` with at most ``budget`` tokens."""
    words = text.split(" ")
    low, high = 0, len(words)
    while low < high:
        mid = (low + high + 1) // 2
        if count_tokens(" ".join(words[:mid])) <= budget:
            low = mid
        else:
            high = mid - 1
    return " ".join(words[:low])


def pack_passages(
    hits: Sequence[Hit], budget: int, count_tokens: Callable[[str], int]
) -> PackedContext:
    """As many passages as fit in ``budget`` tokens, best first."""
    parts: list[str] = []
    included: list[str] = []
    truncated = False
    for hit in hits:
        passage = format_passage(hit)
        candidate = PASSAGE_SEPARATOR.join([*parts, passage])
        if count_tokens(candidate) <= budget:
            parts.append(passage)
            included.append(hit.chunk.id)
            continue
        truncated = True
        used = count_tokens(PASSAGE_SEPARATOR.join(parts)) if parts else 0
        room = budget - used - (count_tokens(PASSAGE_SEPARATOR) if parts else 0)
        if room >= MIN_PARTIAL_TOKENS:
            cut = cut_to_tokens(passage, room, count_tokens)
            candidate = PASSAGE_SEPARATOR.join([*parts, cut])
            while cut and count_tokens(candidate) > budget:
                cut = cut_to_tokens(cut, count_tokens(cut) - 1, count_tokens)
                candidate = PASSAGE_SEPARATOR.join([*parts, cut])
            if cut and count_tokens(cut) >= MIN_PARTIAL_TOKENS:
                parts.append(cut)
                included.append(hit.chunk.id)
        break
    text = PASSAGE_SEPARATOR.join(parts)
    return PackedContext(text, count_tokens(text) if text else 0, included, truncated)
