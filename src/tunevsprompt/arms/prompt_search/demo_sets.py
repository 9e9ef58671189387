"""The demonstration sets a search tries: fixed sets (random, stratified) and retrieved ones
(similar) for each count of ``k``, many-shot sets as large as the context window holds, and
a set bootstrapped from the training examples the leading candidate answers right."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from tunevsprompt.arms.prompt_search.candidate import Candidate, Demos
from tunevsprompt.arms.prompt_search.config import MANY_SHOT, OptimizedPromptConfig
from tunevsprompt.arms.prompt_search.state import Outcome
from tunevsprompt.task.data import stratified_sample
from tunevsprompt.task.labels import LabelSet
from tunevsprompt.task.types import Example

BOOTSTRAP_DRAW = 2
"""Training examples answered per bootstrapped demonstration wanted."""
FIXED = ("random", "stratified")


@dataclass
class DemoSets:
    config: OptimizedPromptConfig
    train: Sequence[Example]
    labels: LabelSet | None
    seed: int
    fits: Callable[[Candidate], bool]
    log: Callable[[str], None]

    def specs(
        self,
        instructions: Sequence[Candidate],
        descriptions: tuple[tuple[str, str], ...] | None,
    ) -> list[Demos]:
        """Every set to try, for every count of ``k`` (``max``: the most that fit the
        context window with the longest instruction); bootstrapped sets come later."""
        strategies: list[str] = [s for s in self.config.strategies if s in (*FIXED, "similar")]
        counts: list[tuple[int, list[str]]] = [(k, strategies) for k in self.config.counts()]
        if MANY_SHOT in self.config.k:
            longest = max(instructions, key=lambda c: len(c.instruction))
            for strategy in (s for s in strategies if s in FIXED):
                k = self.most_that_fit(longest, descriptions, strategy)
                self.log(f"prompt search: many-shot: {k} {strategy} demonstrations fit")
                if k > 0:
                    counts.append((k, [strategy]))
        specs: list[Demos] = []
        for k, chosen in counts:
            if k == 0:
                specs.append(Demos())
            elif k <= len(self.train):
                specs += [
                    Demos("similar", k) if s == "similar" else self.fixed(s, k) for s in chosen
                ]
        return list(dict.fromkeys(specs))

    def fixed(self, strategy: str, k: int) -> Demos:
        """A seeded random or stratified set of k training examples."""
        if strategy == "random":
            rng = random.Random(f"{self.seed}-demos-random-{k}")
            return Demos("random", k, tuple(e.id for e in rng.sample(self.train, k)))
        key = f"prompt-search-{k}"
        chosen = stratified_sample(self.train, None, k, self.seed, key, self.labels is not None)
        random.Random(f"{self.seed}-demos-order-{k}").shuffle(chosen)
        return Demos("stratified", k, tuple(e.id for e in chosen))

    def most_that_fit(
        self,
        longest: Candidate,
        descriptions: tuple[tuple[str, str], ...] | None,
        strategy: str,
    ) -> int:
        """The largest k whose set, with the longest instruction (and the label descriptions,
        if any), still fits the context window: bisection on k."""

        def fits(k: int) -> bool:
            demos = self.fixed(strategy, k)
            return self.fits(replace(longest, demos=demos, descriptions=descriptions))

        low, high = 0, len(self.train)
        while low < high:
            middle = (low + high + 1) // 2
            if fits(middle):
                low = middle
            else:
                high = middle - 1
        return low

    def bootstrap_draw(self) -> tuple[int, list[Example]] | None:
        """The largest count of ``k`` and the stratified training examples (twice as many)
        the leader answers to bootstrap it; None when there is nothing to bootstrap."""
        counts = [k for k in self.config.counts() if 0 < k <= len(self.train)]
        if not counts:
            return None
        k = max(counts)
        draw = min(len(self.train), BOOTSTRAP_DRAW * k)
        stratify = self.labels is not None
        return k, stratified_sample(self.train, None, draw, self.seed, "bootstrap", stratify)

    def bootstrapped(
        self, k: int, pool: Sequence[Example], answers: Mapping[str, Outcome]
    ) -> Demos:
        """The first k of ``pool`` answered right (fewer if fewer were)."""
        right = [e for e in pool if answers[e.id].score >= 1.0][:k]
        return Demos("bootstrapped", len(right), tuple(e.id for e in right)) if right else Demos()
