"""Overlap between texts the arms can see and the test set: exact and 13-gram."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tunevsprompt.measure.metrics import normalise_answer
from tunevsprompt.task.types import Example

NGRAM = 13


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalise_answer(text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def sharing_runs(test: Sequence[Example], seen: Sequence[str], n: int = NGRAM) -> set[int]:
    """Indices of the test inputs that share at least one word ``n``-gram with ``seen``."""
    pool: set[tuple[str, ...]] = set()
    for text in seen:
        pool |= _ngrams(text, n)
    return {i for i, e in enumerate(test) if _ngrams(e.input, n) & pool}


def overlap(test: Sequence[Example], seen_texts: Iterable[str], n: int = NGRAM) -> dict[str, Any]:
    """How many test inputs appear verbatim (after normalisation) among ``seen_texts``, and how
    many share at least one word ``n``-gram with them."""
    seen = list(seen_texts)
    exact_pool = {normalise_answer(t) for t in seen}
    exact = sum(normalise_answer(e.input) in exact_pool for e in test)
    shared = len(sharing_runs(test, seen, n))
    total = max(len(test), 1)
    return {
        "source_texts": len(seen),
        "test_examples": len(test),
        "exact": exact,
        "exact_fraction": exact / total,
        f"ngram{n}": shared,
        f"ngram{n}_fraction": shared / total,
    }
