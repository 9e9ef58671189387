"""Plain data shared by data loading, arms, runner and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """One task example. For classification tasks ``target`` is the label."""

    id: str
    input: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Message:
    """One chat message; prompts are lists of messages."""

    role: str
    content: str


Prompt = tuple[Message, ...]


@dataclass(frozen=True)
class Generation:
    """What ``Generator.generate`` returns for one prompt."""

    text: str
    input_tokens: int
    output_tokens: int
    error: str | None = None
    """Why no answer came back (a hosted endpoint failed after its retries); ``text`` is then
    empty. Errors are recorded as error rows and never cached."""


@dataclass(frozen=True)
class Scores:
    """What ``Generator.score`` returns for one prompt: one log-likelihood per continuation."""

    logprobs: list[float]
    token_counts: list[int]
    input_tokens: int


@dataclass(frozen=True)
class WindowNLL:
    """Negative log-likelihood of one window of a plain text (perplexity probes): the sum over
    the window's predicted tokens (all but its first), and how many there were."""

    text: str
    nll: float
    tokens: int


@dataclass
class Prediction:
    """An arm's answer for one example, before it is compared with the target."""

    example_id: str
    raw_output: str
    prediction: str | None
    input_tokens: int
    output_tokens: int
    parse: str = "exact"
    """How the raw output became a prediction: exact, normalised, nearest, rank, failed."""
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
