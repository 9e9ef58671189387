"""The generator Protocol: ``generate`` and ``score``, nothing else is needed by arms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tunevsprompt.task.types import Generation, Prompt, Scores, WindowNLL


@dataclass(frozen=True)
class DecodingSettings:
    """Decoding for ``generate``. Greedy unless ``temperature`` > 0."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    batch_size: int = 8

    def cache_key(self) -> dict[str, object]:
        # batch_size does not change greedy outputs, so it is not part of the cache key.
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature}


@runtime_checkable
class Generator(Protocol):
    """A text model behind two calls.

    ``generate`` decodes batches of prompts (left-padded, chat template applied when the model
    has one). ``score`` returns the log-likelihood of each continuation after one prompt,
    including the end-of-turn token, sharing the prompt's computation across continuations.
    """

    @property
    def fingerprint(self) -> str:
        """Stable identity of weights + tokenizer, used in prediction cache keys."""
        ...

    @property
    def device(self) -> str:
        """Where the model runs, e.g. ``cpu`` or ``cuda:0``."""
        ...

    def generate(
        self, prompts: Sequence[Prompt], settings: DecodingSettings
    ) -> list[Generation]: ...

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> Scores: ...

    def count_tokens(self, text: str) -> int:
        """Tokens of a plain text (no template, no special tokens)."""
        ...

    def prompt_tokens(self, prompt: Prompt) -> int:
        """Tokens of the whole prompt as the model receives it (chat template applied)."""
        ...

    @property
    def context_window(self) -> int | None:
        """Most tokens the model attends to (prompt + answer), when known."""
        ...


@runtime_checkable
class TextScorer(Protocol):
    """A generator that can also score plain text (no chat template): what perplexity probes
    need. Local models implement it; hosted APIs usually cannot."""

    @property
    def fingerprint(self) -> str: ...

    def text_nll(self, text: str, window: int, max_tokens: int | None) -> list[WindowNLL]:
        """Split the text's tokens into consecutive windows of ``window`` tokens (the first
        ``max_tokens`` tokens when set) and return each window's summed negative
        log-likelihood, each window scored on its own (no carried-over context)."""
        ...
