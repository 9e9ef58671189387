"""The search itself: propose instructions and label descriptions, draw demonstration sets,
race the candidates on dev minibatches by successive halving (reflecting on the leader's
failures between rungs), and choose the winner on the final dev set.

Model calls are counted per dev example a candidate is scored on and per proposer request,
whether the answer is computed now or replayed from the search's state (so a resumed search
follows the same path as one that was never interrupted)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tunevsprompt.arms.prompt_search.candidate import Candidate, Demos
from tunevsprompt.arms.prompt_search.config import OptimizedPromptConfig
from tunevsprompt.arms.prompt_search.demo_sets import DemoSets
from tunevsprompt.arms.prompt_search.halving import Halving, Ledger, Plan
from tunevsprompt.arms.prompt_search.proposer import (
    Failure,
    description_request,
    grounded_request,
    parse_description,
    parse_instruction,
    reflection_request,
)
from tunevsprompt.arms.prompt_search.record import search_record
from tunevsprompt.arms.prompt_search.state import Answer, Outcome, SearchState, request_key
from tunevsprompt.measure.quality import QualitySettings, single_pass_figure
from tunevsprompt.task.labels import LabelSet, answer_form
from tunevsprompt.task.types import Example, Prompt

Predict = Callable[[Candidate, Sequence[Example]], list[Outcome]]
"""Score a candidate on examples (model calls, one per example)."""
Job = tuple[Candidate, Sequence[Example]]
PredictMany = Callable[[Sequence[Job]], Iterable[tuple[int, list[Outcome]]]]
"""Score several candidates, each on its examples: yields ``(index of the job, outcomes)``
as each job finishes, in any order (a cluster's workers score a rung's candidates at once)."""
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


def one_at_a_time(predict: Predict) -> PredictMany:
    """Score the jobs here, in order."""

    def predict_many(jobs: Sequence[Job]) -> Iterator[tuple[int, list[Outcome]]]:
        for index, (candidate, examples) in enumerate(jobs):
            yield index, predict(candidate, examples)

    return predict_many


class BudgetTooSmall(ValueError):
    """The budget cannot pay for the proposals and the smallest race."""


class NothingToSearch(ValueError):
    """The settings give no candidate at all."""


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
    predict_many: PredictMany | None = None
    """Where candidates are scored (a cluster); None: ``predict``, one after another."""
    progress: Callable[[int], None] = lambda calls: None
    """Told every model call the budget counts, as it is spent."""
    passages: Sequence[int] = ()
    """Numbers of retrieved passages to try with each instruction (a rag arm's layout)."""
    passage_labels: bool = False
    """Whether the rag arm's prompts list the labels."""

    def __post_init__(self) -> None:
        budget = self.config.budget
        self.ledger = Ledger(budget.model_calls, budget.seconds, spent_s=self.state.seconds)
        self.evaluated: dict[str, dict[str, Outcome]] = {}
        self.replayed = 0
        self.proposer_calls = 0
        self.tokens = [0, 0]
        """Input and output tokens of the candidates' answers (dev, and train when
        bootstrapping demonstrations)."""
        self.proposer_tokens = [0, 0]
        self.trajectory: list[dict[str, Any]] = []
        """Every scoring step in order: model calls spent after it, the candidate, the dev
        examples it has been scored on, its mean on them."""
        self.sets = DemoSets(self.config, self.train, self.labels, self.seed, self.fits, self.log)
        self.bootstrapped = "bootstrapped" not in self.config.strategies
        """Whether the bootstrapped demonstration set was built (or is not wanted)."""
        self.reflected = 0
        """Reflection requests made so far."""

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
        self.progress(1)
        return answer.text

    def score(self, candidates: Sequence[Candidate], n: int) -> None:
        """Score every candidate on the first ``n`` dev examples: each one's missing examples
        are one job. The calls are counted in the candidates' order, so the record does not
        depend on which job finished first."""
        jobs: list[tuple[str, Candidate, Sequence[Example]]] = []
        for candidate in {c.key: c for c in candidates}.values():
            done = self.evaluated.setdefault(candidate.key, {})
            todo = [e for e in self.dev[:n] if e.id not in done]
            if todo:
                jobs.append((candidate.key, candidate, todo))
        for (key, candidate, examples), answers in zip(jobs, self._answers(jobs), strict=True):
            self.evaluated[key].update(answers)
            self._spend([answers[e.id] for e in examples])
            self.trajectory.append(
                {
                    "calls": self.ledger.spent_calls,
                    "candidate": key,
                    "n": n,
                    "mean": round(self.mean(candidate, n), 6),
                }
            )

    def answer_train(self, candidate: Candidate, examples: Sequence[Example]) -> dict[str, Outcome]:
        """The candidate's answers on training examples (bootstrapping demonstrations): one
        job, saved and counted like dev scoring, kept apart from the dev scores."""
        answers = self._answers([(f"train:{candidate.key}", candidate, examples)])[0]
        self._spend([answers[e.id] for e in examples])
        return answers

    def _answers(
        self, jobs: Sequence[tuple[str, Candidate, Sequence[Example]]]
    ) -> list[dict[str, Outcome]]:
        """Each job's outcomes (job: the state's key for them, the candidate, the examples):
        replayed from the search's state where it has them, the rest answered (several jobs
        at once on a cluster) and saved as each job returns."""
        found: list[dict[str, Outcome]] = []
        asked: list[tuple[int, list[Example]]] = []
        for i, (key, _, examples) in enumerate(jobs):
            known = ((e.id, self.state.outcome(key, e.id)) for e in examples)
            found.append({example_id: o for example_id, o in known if o is not None})
            fresh = [e for e in examples if e.id not in found[i]]
            self.replayed += len(found[i])
            self.progress(len(found[i]))
            if fresh:
                asked.append((i, fresh))
        predict_many = self.predict_many or one_at_a_time(self.predict)
        for index, outcomes in predict_many([(jobs[i][1], fresh) for i, fresh in asked]):
            i, fresh = asked[index]
            new = {e.id: o for e, o in zip(fresh, outcomes, strict=True)}
            found[i].update(new)
            self.state.record(jobs[i][0], new)
            self.state.save(self.ledger.elapsed())
            self.progress(len(fresh))
        return found

    def _spend(self, answered: Sequence[Outcome]) -> None:
        """Count answered examples against the budget, with their tokens."""
        self.ledger.spent_calls += len(answered)
        self.tokens[0] += sum(o.input_tokens for o in answered)
        self.tokens[1] += sum(o.output_tokens for o in answered)

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
        specs = self.sets.specs(instructions, descriptions)
        left = self.ledger.left() - config.reflections
        final_n = min(len(self.dev), max(config.minibatch, int(left // 2) // finalists))
        plan = Plan(min(config.minibatch, final_n), config.eta, final_n)
        pool = self._pool(instructions, descriptions, specs, left - finalists * final_n)
        if not pool and not self.always:
            raise NothingToSearch(
                "no candidate to race: no demonstration set of k and strategies fits, and "
                "start_from names no arm"
            )
        halving = Halving(plan, self.ledger, self.score, self.scored, self.mean, simplicity)

        def reflect(n: int, ranked: list[Candidate]) -> list[Candidate]:
            best = ranked[0]
            self.log(
                f"prompt search: {len(ranked)} candidates on {n} dev examples; best "
                f"{self.mean(best, n):.3f} ({best.describe()}); "
                f"{self.ledger.spent_calls} model calls spent"
            )
            added: list[Candidate] = []
            # A round is spent only on a request: a leader with no failure keeps it for later.
            if self.reflected < config.reflections and halving.affords(1 + n, ranked, self.always):
                reflected = self._reflection(ranked[0], n, self.reflected + 1)
                added += [reflected] if reflected is not None and self.fits(reflected) else []
            if not self.bootstrapped:
                self.bootstrapped = True
                # The reflection's scoring is still to be paid when the set is built.
                owed = n * len(added)
                bootstrapped = self._bootstrap(ranked[0], n + owed, [*ranked, *added], halving)
                added += [bootstrapped] if bootstrapped is not None else []
            return added

        finalists_list = halving.race(pool, self.always, reflect)
        winner = halving.final(finalists_list)
        self.log(f"prompt search: chose {winner.describe()}")
        return SearchResult(
            winner, search_record(self, halving, pool, finalists_list, winner, plan)
        )

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

    def _bootstrap(
        self, leader: Candidate, n: int, ranked: list[Candidate], halving: Halving[Candidate]
    ) -> Candidate | None:
        """Demonstrations the leader gets right (after DSPy's BootstrapFewShot), when the
        budget allows answering the training examples they are drawn from."""
        drawn = self.sets.bootstrap_draw()
        if drawn is None or leader.passages:
            return None  # a rag layout shows passages, not demonstrations
        k, pool = drawn
        if not halving.affords(len(pool) + n, ranked, self.always):
            return None
        answers = self.answer_train(replace(leader, demos=Demos()), pool)
        demos = self.sets.bootstrapped(k, pool, answers)
        self.log(f"prompt search: bootstrapped {demos.k} demonstrations from {len(pool)} answers")
        found = replace(leader, demos=demos, origin=f"bootstrapped:{leader.origin}")
        return found if demos.k and self.fits(found) else None

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
        every += [
            Candidate(i.instruction, i.origin, show_labels=self.passage_labels, passages=k)
            for i, k in itertools.product(instructions, self.passages)
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
        self.reflected += 1
        text = parse_instruction(self.ask(request, self._tokens()))
        quoted = self.labels is None and _quotes_an_answer(text or "", failures)
        if text is None or text == best.instruction or quoted:
            return None
        return replace(best, instruction=text, origin=f"reflection:{round_}")

    # -- the record -------------------------------------------------------------------------

    def figure(self, candidate: Candidate) -> dict[str, Any]:
        """The candidate's mean on the dev examples it was scored on, with its interval."""
        n = self.scored(candidate)
        values = np.array([self.evaluated[candidate.key][e.id].score for e in self.dev[:n]])
        figure = single_pass_figure(
            self.metric, "mean", values, None, 0, None, QualitySettings(seed=self.seed)
        )
        return {"metric": self.metric, **figure, "n": n}


def _quotes_an_answer(text: str, failures: Sequence[Failure]) -> bool:
    """Whether a rewritten instruction quotes the expected answer of a failure it was shown
    (generation: labels are meant to be named): it would score on those dev examples by
    memorising them, and a small proposer copies what it is shown."""
    lowered = text.lower()
    return any(len(f.target) >= 3 and f.target.lower() in lowered for f in failures)
