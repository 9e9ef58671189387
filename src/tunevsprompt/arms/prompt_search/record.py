"""``arms.<name>.search``: what a finished search writes to results.json (every candidate
with its dev figure, the rungs, the trajectory, what it spent, the winner verbatim)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tunevsprompt.arms.prompt_search.candidate import Candidate
from tunevsprompt.arms.prompt_search.config import OptimizedPromptConfig
from tunevsprompt.arms.prompt_search.halving import Halving, Ledger, Plan
from tunevsprompt.arms.prompt_search.state import Outcome
from tunevsprompt.task.types import Example


class Searched(Protocol):
    """What the record reads of a finished search (``search.PromptSearch``)."""

    config: OptimizedPromptConfig
    dev: Sequence[Example]
    always: list[Candidate]
    metric: str
    ledger: Ledger
    evaluated: dict[str, dict[str, Outcome]]
    proposer_calls: int
    replayed: int
    tokens: list[int]
    proposer_tokens: list[int]
    trajectory: list[dict[str, Any]]

    def figure(self, candidate: Candidate) -> dict[str, Any]: ...


def search_record(
    search: Searched,
    halving: Halving[Candidate],
    pool: list[Candidate],
    finalists: list[Candidate],
    winner: Candidate,
    plan: Plan,
) -> dict[str, Any]:
    """The record of ``search``, which chose ``winner`` among ``finalists``."""
    seen: dict[str, Candidate] = {}
    for candidate in [*search.always, *pool, *(c for r in halving.rungs for c in r.candidates)]:
        seen.setdefault(candidate.key, candidate)
    candidates = []
    for key, candidate in seen.items():
        entry = candidate.record()
        entry["dev"] = search.figure(candidate) if key in search.evaluated else None
        entry["finalist"] = candidate in finalists
        candidates.append(entry)
    return {
        "method": "successive halving",
        "metric": search.metric,
        "eta": plan.eta,
        "rungs": [
            {
                "n": r.n,
                "candidates": [c.key for c in r.candidates],
                "kept": [c.key for c in r.kept],
            }
            for r in halving.rungs
        ],
        "final_n": plan.final_n,
        "dev_n": len(search.dev),
        "stopped": halving.stopped,
        "budget": search.config.budget.model_dump(mode="json"),
        "spent": {
            "model_calls": search.ledger.spent_calls,
            "proposer_calls": search.proposer_calls,
            "replayed": search.replayed,
            "seconds": round(search.ledger.elapsed(), 3),
            "tokens": {"input": search.tokens[0], "output": search.tokens[1]},
            "proposer_tokens": {
                "input": search.proposer_tokens[0],
                "output": search.proposer_tokens[1],
            },
        },
        "candidates": candidates,
        "trajectory": search.trajectory,
        "chosen": winner.key,
        "winner": {**winner.record(), "dev": search.figure(winner)},
    }
