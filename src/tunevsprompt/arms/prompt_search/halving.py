"""Successive halving under a budget of model calls (Karnin, Koren & Somekh 2013; Jamieson &
Talwalkar 2016), the racing scheme the search uses.

Every candidate of a rung is scored on the same dev examples (a prefix of the dev order, so
comparisons are paired), the best 1/eta go on to a rung on eta times as many examples, and
the last few survivors, with the candidates that must always be compared (a suite's
hand-written prompts), are scored on the final dev set, where the best mean wins. Between
rungs the caller may add candidates (a reflection on the leader's failures); they are
scored on the current rung's examples before the cut.

The final is reserved before anything is spent: no rung starts unless, after it, the final
could still be paid in full, so the search never spends more than its budget. The module
is pure: the caller scores candidates and keeps the clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

C = TypeVar("C", bound=Hashable)


@dataclass
class Ledger:
    """Model calls and seconds spent against the budget (None: no such limit)."""

    calls: int | None
    seconds: float | None
    spent_calls: int = 0
    spent_s: float = 0.0
    _started: float = field(default_factory=time.monotonic, repr=False)

    def left(self) -> float:
        return math.inf if self.calls is None else self.calls - self.spent_calls

    def affords(self, calls: int) -> bool:
        return calls <= self.left()

    def out_of_time(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds

    def elapsed(self) -> float:
        return self.spent_s + (time.monotonic() - self._started)


@dataclass
class Rung(Generic[C]):
    """One rung: how many dev examples its candidates were scored on, and who went on."""

    n: int
    candidates: list[C]
    kept: list[C]


@dataclass
class Plan:
    """The schedule's sizes: the first rung's examples, the growth factor, the final's."""

    minibatch: int
    eta: int
    final_n: int

    def rung_sizes(self) -> list[int]:
        sizes, n = [], self.minibatch
        while n < self.final_n:
            sizes.append(n)
            n *= self.eta
        return sizes or [self.final_n]


@dataclass
class Halving(Generic[C]):
    """The race. ``scored(c)`` says on how many leading dev examples ``c`` has scores and
    ``mean(c, n)`` its mean on the first n; ``score(cs, n)`` fills in what is missing for
    every candidate of ``cs`` (all of a rung at once, so the caller may score them in
    parallel)."""

    plan: Plan
    ledger: Ledger
    score: Callable[[Sequence[C], int], None]
    scored: Callable[[C], int]
    mean: Callable[[C, int], float]
    simpler: Callable[[C], tuple[int, ...]] = lambda candidate: ()
    """Orders candidates with equal means: the simpler first (ties go to it)."""
    rungs: list[Rung[C]] = field(default_factory=list)
    stopped: str | None = None
    """Why the race ended before its last rung: the budget or the clock."""

    def cost(self, candidates: Sequence[C], n: int) -> int:
        return sum(max(0, n - self.scored(c)) for c in candidates)

    def final_cost(self, survivors: Sequence[C], always: Sequence[C]) -> int:
        """An upper bound of the final's cost for any ``eta`` of ``survivors``."""
        missing = (max(0, self.plan.final_n - self.scored(c)) for c in survivors)
        worst = sorted(missing, reverse=True)
        return sum(worst[: self.plan.eta]) + self.cost(always, self.plan.final_n)

    def race(
        self,
        pool: list[C],
        always: Sequence[C],
        between: Callable[[int, list[C]], list[C]] | None = None,
    ) -> list[C]:
        """The finalists: every one of ``always``, then at most eta survivors of ``pool``.
        ``between(n, ranked)`` may return new candidates after a rung on n examples
        (``ranked`` best first); those the budget allows are scored on the same n before the
        cut."""
        alive = list(pool)
        for n in self.plan.rung_sizes():
            if len(alive) <= self.plan.eta:
                break
            if self.ledger.out_of_time():
                self.stopped = "seconds"
                break
            if not self.affords(self.cost(alive, n), alive, always):
                self.stopped = "model_calls"
                break
            self.score(alive, n)
            ranked = self._ranked(alive, n)
            if between is not None:
                for candidate in between(n, ranked):
                    if candidate not in alive and self.affords(
                        self.cost([candidate], n), [*alive, candidate], always
                    ):
                        self.score([candidate], n)
                        alive.append(candidate)
                ranked = self._ranked(alive, n)
            kept = ranked[: max(self.plan.eta, math.ceil(len(ranked) / self.plan.eta))]
            self.rungs.append(Rung(n, list(alive), kept))
            alive = kept
        known = min((self.scored(c) for c in alive), default=0)
        survivors = self._ranked(alive, min(known, self.plan.final_n))[: self.plan.eta]
        return [*always, *(c for c in survivors if c not in always)]

    def affords(self, calls: int, alive: Sequence[C], always: Sequence[C]) -> bool:
        """Whether ``calls`` more can be spent with the final still paid for in full."""
        return self.ledger.affords(calls + self.final_cost(alive, always))

    def final(self, finalists: Sequence[C]) -> C:
        """Score every finalist on the final dev set; the best mean wins, the simpler (then
        the earlier: the hand-written prompts come first) on a tie, so a search that finds
        nothing better keeps them."""
        self.score(finalists, self.plan.final_n)
        return self._ranked(finalists, self.plan.final_n)[0]

    def _ranked(self, alive: Sequence[C], n: int) -> list[C]:
        if n == 0:
            return list(alive)
        order = sorted(
            range(len(alive)), key=lambda i: (-self.mean(alive[i], n), self.simpler(alive[i]), i)
        )
        return [alive[i] for i in order]
