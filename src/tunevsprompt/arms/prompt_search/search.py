"""The search itself: propose instructions and label descriptions, draw demonstration sets,
race the candidates on dev minibatches by successive halving (reflecting on the leader's
failures between rungs), and choose the winner on the final dev set.

Model calls are counted per dev example a candidate is scored on and per proposer request,
whether the answer is computed now or replayed from the search's state (so a resumed search
follows the same path as one that was never interrupted)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunevsprompt.arms.prompt_search.candidate import Candidate, Demos
from tunevsprompt.arms.prompt_search.config import OptimizedPromptConfig
from tunevsprompt.arms.prompt_search.halving import Halving, Ledger, Plan
from tunevsprompt.arms.prompt_search.proposer import (
    Failure,
    description_request,
    grounded_request,
    parse_description,
    parse_instruction,
    reflection_request,
)
from tunevsprompt.arms.prompt_search.state import Answer, Outcome, SearchState, request_key
from tunevsprompt.measure.quality import QualitySettings, single_pass_figure
from tunevsprompt.task.data import stratified_sample
from tunevsprompt.task.labels import LabelSet, answer_form
from tunevsprompt.task.types import Example, Prompt

Predict = Callable[[Candidate, Sequence[Example]], list[Outcome]]
"""Score a candidate on examples (model calls, one per example)."""
Propose = Callable[[Prompt, int], Answer]
"""Ask the proposer (one model call): the text it wrote, with its token counts."""

DESCRIPTION_EXAMPLES = 3
DESCRIPTION_TOKENS = 40


def simplicity(candidate: Candidate) -> tuple[int, ...]:
    """Ties go to the simpler prompt: a hand-written one, then the suite's instruction, then
    a proposed one; no label descriptions before some; fewer demonstrations before more."""
    origin = candidate.origin
    rank = 0 if origin.startswith("arm:") else 1 if origin == "suite" else 2
    return (rank, int(candidate.descriptions is not None), candidate.demos.k)


class BudgetTooSmall(ValueError):
    """The budget cannot pay for the proposals and the smallest race."""


@dataclass
class SearchResult:
    winner: Candidate
    record: dict[str, Any]


@dataclass
class PromptSearch:
    config: OptimizedPromptConfig
    instruction: str
    labels: LabelSet | None
    train: Sequence[Example]
    dev: Sequence[Example]
    """In race order (every prefix spread over the labels), capped at dev_limit."""
    predict: Predict
    propose: Propose
    state: SearchState
    seed: int
    always: list[Candidate] = field(default_factory=list)
    """Hand-written prompts (start_from): always in the final."""
    log: Callable[[str], None] = lambda text: None
    fits: Callable[[Candidate], bool] = lambda candidate: True
    """Whether a candidate's prompts fit the model's context window."""
    metric: str = "accuracy"
    """What candidates are compared on (the headline metric, or accuracy for macro-F1)."""

    def __post_init__(self) -> None:
        budget = self.config.budget
        self.ledger = Ledger(budget.model_calls, budget.seconds, spent_s=self.state.seconds)
        self.evaluated: dict[str, dict[str, Outcome]] = {}
        self.replayed = 0
        self.proposer_calls = 0
        self.tokens = [0, 0]
        """Input and output tokens of the candidates' dev answers."""
        self.proposer_tokens = [0, 0]

    # -- model calls, counted ----------------------------------------------------------------

    def ask(self, prompt: Prompt, max_new_tokens: int) -> str:
        self.ledger.spent_calls += 1
        self.proposer_calls += 1
        key = request_key(prompt, max_new_tokens)
        answer = self.state.answer(key)
        if answer is None:
            answer = self.propose(prompt, max_new_tokens)
            self.state.remember(key, answer)
            self.state.save(self.ledger.elapsed())
        else:
            self.replayed += 1
        self.proposer_tokens[0] += answer.input_tokens
        self.proposer_tokens[1] += answer.output_tokens
        return answer.text

    def score(self, candidate: Candidate, n: int) -> None:
        done = self.evaluated.setdefault(candidate.key, {})
        todo = [e for e in self.dev[:n] if e.id not in done]
        if not todo:
            return
        fresh = []
        for example in todo:
            known = self.state.outcome(candidate.key, example.id)
            if known is None:
                fresh.append(example)
            else:
                done[example.id] = known
                self.replayed += 1
        if fresh:
            outcomes = self.predict(candidate, fresh)
            new = {e.id: o for e, o in zip(fresh, outcomes, strict=True)}
            done.update(new)
            self.state.record(candidate.key, new)
            self.state.save(self.ledger.elapsed())
        self.ledger.spent_calls += len(todo)
        for example in todo:
            self.tokens[0] += done[example.id].input_tokens
            self.tokens[1] += done[example.id].output_tokens

    def scored(self, candidate: Candidate) -> int:
        done = self.evaluated.get(candidate.key, {})
        return next((i for i, e in enumerate(self.dev) if e.id not in done), len(self.dev))

    def mean(self, candidate: Candidate, n: int) -> float:
        done = self.evaluated[candidate.key]
        return float(np.mean([done[e.id].score for e in self.dev[:n]]))

    # -- the search ----------------------------------------------------------------------------

    def run(self) -> SearchResult:
        config = self.config
        planned = self._planned_proposer_calls()
        finalists = config.eta + len(self.always)
        smallest = planned + finalists * config.minibatch
        if config.budget.model_calls is not None and config.budget.model_calls < smallest:
            raise BudgetTooSmall(
                f"{config.budget.model_calls} model calls cannot pay for {planned} proposer "
                f"requests and a final of {finalists} candidates on {config.minibatch} dev "
                f"examples (at least {smallest}); raise budget.model_calls or lower proposals, "
                "reflections or minibatch"
            )
        self.log(f"prompt search: {planned} proposer requests")
        instructions = self._instructions()
        descriptions = self._descriptions()
        specs = self._demo_specs()
        left = self.ledger.left() - config.reflections
        final_n = min(len(self.dev), max(config.minibatch, int(left // 2) // finalists))
        plan = Plan(min(config.minibatch, final_n), config.eta, final_n)
        pool = self._pool(instructions, descriptions, specs, left - finalists * final_n)
        halving = Halving(plan, self.ledger, self.score, self.scored, self.mean, simplicity)
        reflections = iter(range(1, config.reflections + 1))

        def reflect(n: int, ranked: list[Candidate]) -> list[Candidate]:
            best = ranked[0]
            self.log(
                f"prompt search: {len(ranked)} candidates on {n} dev examples; best "
                f"{self.mean(best, n):.3f} ({best.describe()}); "
                f"{self.ledger.spent_calls} model calls spent"
            )
            round_ = next(reflections, None)
            if round_ is None or not halving.affords(1 + n, ranked, self.always):
                return []
            new = self._reflection(ranked[0], n, round_)
            return [new] if new is not None else []

        finalists_list = halving.race(pool, self.always, reflect)
        winner = halving.final(finalists_list)
        self.log(f"prompt search: chose {winner.describe()}")
        return SearchResult(winner, self._record(halving, pool, finalists_list, winner, plan))

    def _planned_proposer_calls(self) -> int:
        labels = len(self.labels.labels) if self.labels and self._describes() else 0
        return self.config.proposals + labels + self.config.reflections

    def _describes(self) -> bool:
        return self.labels is not None and self.config.label_descriptions

    def _instructions(self) -> list[Candidate]:
        """The suite's instruction, then the proposer's (duplicates dropped)."""
        found = [Candidate(self.instruction, "suite", show_labels=self.config.show_labels)]
        seen = {self.instruction}
        for i in range(self.config.proposals):
            request = grounded_request(self.instruction, self.labels, self.train, i, self.seed)
            text = parse_instruction(self.ask(request, self._tokens()))
            if text is not None and text not in seen:
                seen.add(text)
                found.append(Candidate(text, f"proposed:{i + 1}"))
        return found

    def _tokens(self) -> int:
        return self.config.proposer.max_new_tokens if self.config.proposer else 96

    def _descriptions(self) -> tuple[tuple[str, str], ...] | None:
        """One line per label from a few of its training examples."""
        if not self._describes() or self.labels is None:
            return None
        lines = []
        rng = random.Random(f"{self.seed}-label-descriptions")
        for label, form in zip(self.labels.labels, self.labels.shown(), strict=True):
            examples = [e for e in self.train if e.target == label]
            if not examples:
                continue
            shown = rng.sample(examples, min(DESCRIPTION_EXAMPLES, len(examples)))
            text = parse_description(self.ask(description_request(form, shown), DESCRIPTION_TOKENS))
            if text is not None:
                lines.append((form, text))
        return tuple(lines) or None

    def _demo_specs(self) -> list[Demos]:
        specs: list[Demos] = []
        stratify = self.labels is not None
        for k in self.config.k:
            if k == 0:
                specs.append(Demos())
                continue
            if k > len(self.train):
                continue
            for strategy in self.config.strategies:
                if strategy == "similar":
                    specs.append(Demos("similar", k))
                elif strategy == "random":
                    rng = random.Random(f"{self.seed}-demos-random-{k}")
                    specs.append(Demos("random", k, tuple(e.id for e in rng.sample(self.train, k))))
                elif strategy == "stratified":
                    key = f"prompt-search-{k}"
                    chosen = stratified_sample(self.train, None, k, self.seed, key, stratify)
                    random.Random(f"{self.seed}-demos-order-{k}").shuffle(chosen)
                    specs.append(Demos("stratified", k, tuple(e.id for e in chosen)))
        return specs

    def _pool(
        self,
        instructions: list[Candidate],
        descriptions: tuple[tuple[str, str], ...] | None,
        specs: list[Demos],
        affordable_calls: float,
    ) -> list[Candidate]:
        """Every combination that fits the context window, the suite's instruction first; a
        seeded sample of them when the budget cannot score them all on the first rung."""
        variants = [None, descriptions] if descriptions else [None]
        every = [
            Candidate(i.instruction, i.origin, spec, d, self.config.show_labels)
            for i, d, spec in itertools.product(instructions, variants, specs)
        ]
        every = [c for c in every if self.fits(c)]
        room = max(self.config.eta + 1, int(affordable_calls // max(self.config.minibatch, 1)))
        if len(every) <= room:
            return every
        first = [c for c in every if c.origin == "suite"][:1]
        rest = [c for c in every if c not in first]
        random.Random(f"{self.seed}-pool").shuffle(rest)
        self.log(f"prompt search: the budget scores {room} of {len(every)} candidates")
        return first + rest[: room - len(first)]

    def _reflection(self, best: Candidate, n: int, round_: int) -> Candidate | None:
        done = self.evaluated[best.key]
        failures = [
            Failure(e.input, answer_form(self.labels, e.target), done[e.id].answer or "(nothing)")
            for e in self.dev[:n]
            if done[e.id].score < 1.0
        ]
        if not failures:
            return None
        request = reflection_request(best.instruction, self.labels, failures)
        text = parse_instruction(self.ask(request, self._tokens()))
        if text is None or text == best.instruction:
            return None
        return Candidate(
            text, f"reflection:{round_}", best.demos, best.descriptions, best.show_labels
        )

    # -- the record -------------------------------------------------------------------------

    def figure(self, candidate: Candidate) -> dict[str, Any]:
        """The candidate's mean on the dev examples it was scored on, with its interval."""
        n = self.scored(candidate)
        values = np.array([self.evaluated[candidate.key][e.id].score for e in self.dev[:n]])
        figure = single_pass_figure(
            self.metric, "mean", values, None, 0, None, QualitySettings(seed=self.seed)
        )
        return {"metric": self.metric, **figure, "n": n}

    def _record(
        self,
        halving: Halving[Candidate],
        pool: list[Candidate],
        finalists: list[Candidate],
        winner: Candidate,
        plan: Plan,
    ) -> dict[str, Any]:
        seen: dict[str, Candidate] = {}
        for candidate in [*self.always, *pool, *(c for r in halving.rungs for c in r.candidates)]:
            seen.setdefault(candidate.key, candidate)
        candidates = []
        for key, candidate in seen.items():
            entry = candidate.record()
            entry["dev"] = self.figure(candidate) if key in self.evaluated else None
            entry["finalist"] = candidate in finalists
            candidates.append(entry)
        return {
            "method": "successive halving",
            "metric": self.metric,
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
            "dev_n": len(self.dev),
            "stopped": halving.stopped,
            "budget": self.config.budget.model_dump(mode="json"),
            "spent": {
                "model_calls": self.ledger.spent_calls,
                "proposer_calls": self.proposer_calls,
                "replayed": self.replayed,
                "seconds": round(self.ledger.elapsed(), 3),
                "tokens": {"input": self.tokens[0], "output": self.tokens[1]},
                "proposer_tokens": {
                    "input": self.proposer_tokens[0],
                    "output": self.proposer_tokens[1],
                },
            },
            "candidates": candidates,
            "chosen": winner.key,
            "winner": {**winner.record(), "dev": self.figure(winner)},
        }
