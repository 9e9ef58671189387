"""The search's memory across runs: every candidate's scores on dev examples and every
proposer answer, written after each candidate is scored, so a search killed at any point
and started again scores no finished candidate again.

One JSON file per search (cache folder ``prompt-search/<key>.json``): the key hashes
everything the search depends on (settings, model, data ids, instruction, labels), so a
changed search starts fresh and an unchanged one resumes. Replaying a finished step still
counts its model calls against the budget, so a resumed search takes the same path as an
uninterrupted one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tunevsprompt.runfolder.store import write_json_atomic

FORMAT = 2


@dataclass(frozen=True)
class Outcome:
    """One candidate's answer on one dev example."""

    score: float
    answer: str | None
    input_tokens: int
    output_tokens: int

    def row(self) -> list[Any]:
        return [self.score, self.answer, self.input_tokens, self.output_tokens]

    @classmethod
    def from_row(cls, row: list[Any]) -> Outcome:
        return cls(float(row[0]), row[1], int(row[2]), int(row[3]))


class Answer(NamedTuple):
    """What the proposer wrote, and the tokens it read and wrote."""

    text: str
    input_tokens: int
    output_tokens: int


def search_key(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class SearchState:
    """Scores and proposals of one search, in memory and (unless ``path`` is None) on disk."""

    def __init__(self, path: Path | None, resume: bool = True):
        self.path = path
        self.scores: dict[str, dict[str, Outcome]] = {}
        self.answers: dict[str, Answer] = {}
        self.seconds = 0.0
        """Search seconds spent in earlier runs of this search (for a seconds budget)."""
        self.resumed = False
        if path is not None and resume and path.is_file():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # unreadable: start again (it is a cache)
        if data.get("format") != FORMAT:
            return
        self.scores = {
            key: {i: Outcome.from_row(row) for i, row in rows.items()}
            for key, rows in data.get("scores", {}).items()
        }
        self.answers = {k: Answer(*row) for k, row in data.get("answers", {}).items()}
        self.seconds = float(data.get("seconds", 0.0))
        self.resumed = bool(self.scores or self.answers)

    def outcome(self, candidate: str, example_id: str) -> Outcome | None:
        return self.scores.get(candidate, {}).get(example_id)

    def record(self, candidate: str, outcomes: dict[str, Outcome]) -> None:
        self.scores.setdefault(candidate, {}).update(outcomes)

    def answer(self, request: str) -> Answer | None:
        return self.answers.get(request)

    def remember(self, request: str, answer: Answer) -> None:
        self.answers[request] = answer

    def save(self, seconds: float) -> None:
        if self.path is None:
            return
        write_json_atomic(
            self.path,
            {
                "format": FORMAT,
                "seconds": round(seconds, 3),
                "answers": {k: list(a) for k, a in self.answers.items()},
                "scores": {
                    key: {i: o.row() for i, o in rows.items()} for key, rows in self.scores.items()
                },
            },
        )


def request_key(prompt: Any, settings: Any) -> str:
    """A proposer request's identity: its messages and decoding."""
    return search_key({"prompt": [list(m.__dict__.values()) for m in prompt], "settings": settings})
