"""The prompt search's logic with a scripted scorer and proposer (the model is faked here;
tests/test_optimized_prompt_e2e.py runs the arm on the real packaged model): a planted best
instruction is found, the budget holds exactly, only dev examples are scored, a resumed search
scores nothing again, and the hand-written prompts always reach the final."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from tunevsprompt.arms.prompt_search.candidate import Candidate, Demos, ordered_dev
from tunevsprompt.arms.prompt_search.config import OptimizedPromptConfig
from tunevsprompt.arms.prompt_search.halving import Halving, Ledger, Plan
from tunevsprompt.arms.prompt_search.search import (
    BudgetTooSmall,
    NothingToSearch,
    PromptSearch,
    simplicity,
)
from tunevsprompt.arms.prompt_search.state import Answer, Outcome, SearchState
from tunevsprompt.task.labels import LabelSet
from tunevsprompt.task.types import Example, Prompt

PLANTED = "Read the message and pick the intent that matches it best."
LABELS = LabelSet(["card_arrival", "exchange_rate", "top_up_failed", "lost_card"])


def examples(prefix: str, n: int) -> list[Example]:
    return [Example(f"{prefix}-{i}", f"{prefix} text {i}", LABELS.labels[i % 4]) for i in range(n)]


TRAIN, DEV, TEST = examples("train", 40), examples("dev", 64), examples("test", 20)


def coin(*parts: str) -> float:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return digest[0] / 255


class Scripted:
    """The planted instruction answers every example right; any other is right on a
    candidate-specific 40% of them. Proposals come from a fixed list."""

    def __init__(self, proposals: Sequence[str]) -> None:
        self.proposals = list(proposals)
        self.scored: list[tuple[str, str]] = []
        self.right: dict[tuple[str, str], bool] = {}
        self.asked: list[Prompt] = []

    def predict(self, candidate: Candidate, batch: Sequence[Example]) -> list[Outcome]:
        out = []
        for example in batch:
            self.scored.append((candidate.key, example.id))
            right = candidate.instruction == PLANTED or coin(candidate.key, example.id) < 0.4
            answer = example.target if right else "lost_card"
            self.right[candidate.key, example.id] = answer == example.target
            out.append(Outcome(float(answer == example.target), answer, 50, 1))
        return out

    def propose(self, prompt: Prompt, max_new_tokens: int) -> Answer:
        self.asked.append(prompt)
        user = prompt[-1].content
        if "have the label" in user:
            text = "Messages about this topic."
        elif "got these examples wrong" in user:
            text = "Think about the customer's problem, then answer with one intent."
        else:
            text = self.proposals[(len(self.asked) - 1) % len(self.proposals)]
        return Answer(text, 100, 10)


def search(
    scripted: Scripted,
    state: SearchState,
    always: Sequence[Candidate] = (),
    fits: Callable[[Candidate], bool] = lambda candidate: True,
    **settings: object,
) -> PromptSearch:
    config = OptimizedPromptConfig.model_validate(
        {
            "name": "opt",
            "k": [0, 2],
            "strategies": ["stratified", "random", "bootstrapped"],
            "proposals": 3,
            "reflections": 1,
            "minibatch": 8,
            "budget": {"model_calls": 400},
            **settings,
        }
    )
    return PromptSearch(
        config,
        "Name the intent.",
        LABELS,
        TRAIN,
        ordered_dev(DEV, 0, True),
        scripted.predict,
        scripted.propose,
        state,
        seed=0,
        always=list(always),
        fits=fits,
    )


def test_a_planted_best_instruction_is_found_and_only_dev_is_scored() -> None:
    scripted = Scripted(["Classify it.", PLANTED, "Answer with a label."])
    result = search(scripted, SearchState(None)).run()
    assert result.winner.instruction == PLANTED
    assert result.winner.origin == "proposed:2"
    dev_ids, test_ids = {e.id for e in DEV}, {e.id for e in TEST}
    train_ids = {e.id for e in TRAIN}  # answered to bootstrap demonstrations
    seen = {example_id for _, example_id in scripted.scored}
    assert seen <= dev_ids | train_ids and not seen & test_ids
    assert seen & dev_ids and seen & train_ids
    winner = result.record["winner"]
    assert winner["dev"]["value"] == 1.0 and winner["dev"]["n"] == result.record["final_n"]
    assert winner["dev"]["ci95"][0] < 1.0  # an interval, not a point


def test_the_budget_is_respected_exactly() -> None:
    for budget in (120, 200, 400):
        scripted = Scripted(["Classify it.", PLANTED, "Answer with a label."])
        result = search(scripted, SearchState(None), budget={"model_calls": budget}).run()
        calls = len(scripted.scored) + len(scripted.asked)
        spent = result.record["spent"]
        assert calls == spent["model_calls"] <= budget, budget
        assert spent["proposer_calls"] == len(scripted.asked)
        assert spent["proposer_tokens"] == {
            "input": 100 * len(scripted.asked),
            "output": 10 * len(scripted.asked),
        }
        assert spent["tokens"] == {
            "input": 50 * len(scripted.scored),
            "output": len(scripted.scored),
        }
        # 4 label descriptions, 3 proposals and at most 1 reflection.
        assert 7 <= len(scripted.asked) <= 8


def test_a_budget_that_cannot_pay_for_the_final_is_refused() -> None:
    with pytest.raises(BudgetTooSmall, match=r"raise budget\.model_calls"):
        search(Scripted(["x"]), SearchState(None), budget={"model_calls": 20}).run()


def test_a_resumed_search_scores_nothing_again_and_chooses_the_same(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = Scripted(["Classify it.", PLANTED, "Answer with a label."])
    before = search(first, SearchState(path)).run()
    again = Scripted(["Classify it.", PLANTED, "Answer with a label."])
    state = SearchState(path)
    assert state.resumed
    after = search(again, state).run()
    assert again.scored == [] and again.asked == []
    assert after.winner == before.winner
    assert after.record["spent"]["model_calls"] == before.record["spent"]["model_calls"]
    assert after.record["spent"]["replayed"] == after.record["spent"]["model_calls"]
    assert after.record["candidates"] == before.record["candidates"]


def test_a_killed_search_resumes_where_it_stopped(tmp_path: Path) -> None:
    """Stop the scorer after 100 examples (as a kill would), then run again: the examples
    scored before the kill are not scored again."""
    path = tmp_path / "state.json"
    killed = Scripted(["Classify it.", PLANTED, "Answer with a label."])
    real_predict = killed.predict

    def dies(candidate: Candidate, batch: Sequence[Example]) -> list[Outcome]:
        if len(killed.scored) >= 100:
            raise KeyboardInterrupt
        return real_predict(candidate, batch)

    killed.predict = dies  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        search(killed, SearchState(path)).run()
    before_kill = set(killed.scored)
    again = Scripted(["Classify it.", PLANTED, "Answer with a label."])
    result = search(again, SearchState(path)).run()
    assert not before_kill & set(again.scored)
    fresh = Scripted(["Classify it.", PLANTED, "Answer with a label."])
    uninterrupted = search(fresh, SearchState(None)).run()
    assert result.winner == uninterrupted.winner
    assert len(before_kill) + len(again.scored) == len(fresh.scored)


def test_hand_written_prompts_reach_the_final_and_keep_a_tie() -> None:
    """With proposals no better than the suite's prompt, a hand-written candidate in
    `always` is scored on the whole final set and wins ties."""
    hand = Candidate(PLANTED, "arm:few-shot", Demos("stratified", 2, ("train-0", "train-1")))
    scripted = Scripted(["Classify it.", "Answer with a label.", "Pick one."])
    result = search(scripted, SearchState(None), always=[hand]).run()
    assert result.winner == hand
    entry = next(c for c in result.record["candidates"] if c["origin"] == "arm:few-shot")
    assert entry["finalist"] and entry["dev"]["n"] == result.record["final_n"]


def test_halving_cuts_by_the_mean_on_shared_examples() -> None:
    """Pure halving: 8 candidates with fixed success rates, eta 2: each rung keeps the
    better half on the same examples, and the best reaches the final and wins."""
    rates = {f"c{i}": 0.1 * i for i in range(8)}
    scores: dict[str, list[float]] = {}

    def score(candidates: Sequence[str], n: int) -> None:
        for candidate in candidates:
            have = scores.setdefault(candidate, [])
            have += [
                1.0 if (j * 7919 % 100) / 100 < rates[candidate] else 0.0
                for j in range(len(have), n)
            ]

    halving = Halving(
        Plan(8, 2, 64),
        Ledger(10_000, None),
        score,
        lambda c: len(scores.get(c, [])),
        lambda c, n: sum(scores[c][:n]) / n,
    )
    finalists = halving.race(list(rates), [])
    assert [r.n for r in halving.rungs] == [8, 16]
    assert halving.final(finalists) == "c7"
    assert len(scores["c0"]) == 8  # cut at the first rung


def test_dev_order_spreads_every_prefix_over_the_labels() -> None:
    ordered = ordered_dev(DEV, 3, True)
    assert sorted(e.id for e in ordered) == sorted(e.id for e in DEV)
    assert {e.target for e in ordered[:4]} == set(LABELS.labels)
    assert ordered == ordered_dev(DEV, 3, True) != ordered_dev(DEV, 4, True)


def test_a_tie_goes_to_the_simpler_candidate() -> None:
    """The suite's instruction and a proposed one that does as well: the suite's wins the
    tie, wherever the sampled pool put it."""
    suite = Candidate(PLANTED, "suite")
    proposed = Candidate(PLANTED + " Be careful.", "proposed:1", Demos("random", 2, ("a", "b")))
    scores: dict[str, int] = {}

    def score(candidates: Sequence[Candidate], n: int) -> None:
        for candidate in candidates:
            scores[candidate.key] = max(scores.get(candidate.key, 0), n)

    for pool in ([proposed, suite], [suite, proposed]):
        scores.clear()
        halving = Halving(
            Plan(4, 2, 8),
            Ledger(100, None),
            score,
            lambda c: scores.get(c.key, 0),
            lambda c, n: 1.0,
            simplicity,
        )
        assert halving.final(halving.race(pool, [])) == suite


def test_a_search_is_a_one_time_cost_with_its_hosted_proposer_priced() -> None:
    from tunevsprompt.decide.config import PricingConfig
    from tunevsprompt.decide.costs import arm_cost

    spent = {"seconds": 3600.0, "proposer_tokens": {"input": 2_000_000, "output": 100_000}}
    record = {"throughput_eps": 1.0, "search": {"spent": spent}}
    pricing = PricingConfig.model_validate(
        {
            "cpu_usd_per_hour": 0.5,
            "api": {"big-proposer": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 4.0}},
        }
    )
    local = arm_cost(record, {"device": "cpu"}, pricing, 1000)["basis"]["one_time"]
    assert local["what"] == "prompt search" and local["usd"] == pytest.approx(0.5)
    assert "proposer_usd" not in local
    hosted = {
        **record,
        "search": {"spent": spent, "proposer": {"backend": "openai", "model": "big-proposer"}},
    }
    priced = arm_cost(hosted, {"device": "cpu"}, pricing, 1000)["basis"]["one_time"]
    assert priced["proposer_usd"] == pytest.approx(2.0 + 0.4)
    assert priced["usd"] == pytest.approx(0.5 + 2.4)
    unknown = {
        **hosted,
        "search": {"spent": spent, "proposer": {"backend": "openai", "model": "no-such-model-x"}},
    }
    unpriced = arm_cost(unknown, {"device": "cpu"}, pricing, 1000)["basis"]["one_time"]
    assert (
        unpriced["proposer_usd"] is None
        and "pricing.api.no-such-model-x" in unpriced["proposer_note"]
    )
    assert unpriced["usd"] == pytest.approx(0.5)


def test_bootstrapped_demonstrations_are_training_examples_the_leader_answered_right() -> None:
    scripted = Scripted(["Classify it.", "Pick one.", "Answer with a label."])
    result = search(scripted, SearchState(None)).run()
    booted = [
        c for c in result.record["candidates"] if c["demonstrations"]["strategy"] == "bootstrapped"
    ]
    assert len(booted) == 1 and booted[0]["origin"].startswith("bootstrapped:")
    ids = booted[0]["demonstrations"]["ids"]
    assert 0 < len(ids) <= 2 and set(ids) <= {e.id for e in TRAIN}
    plain = Candidate(
        booted[0]["instruction"], "x", Demos(), None, show_labels=True
    )  # the leader without demonstrations answered them
    assert all(scripted.right[plain.key, i] for i in ids)


def test_many_shot_is_the_largest_set_that_fits_the_context_window() -> None:
    scripted = Scripted(["Classify it."])
    result = search(
        scripted,
        SearchState(None),
        fits=lambda candidate: candidate.demos.k <= 13,
        k=[0, "max"],
        strategies=["stratified"],
        proposals=1,
        label_descriptions=False,
    ).run()
    counts = {c["demonstrations"]["k"] for c in result.record["candidates"]}
    assert counts == {0, 13}


def test_candidates_scored_in_any_order_give_the_same_search() -> None:
    """A cluster returns a rung's jobs in any order: the record and the winner do not
    depend on it."""
    here = search(Scripted(["Classify it.", PLANTED]), SearchState(None)).run()
    remote = Scripted(["Classify it.", PLANTED])
    shuffled = search(remote, SearchState(None))

    def backwards(jobs: Sequence[tuple[Candidate, Sequence[Example]]]) -> Iterator[Any]:
        answers = [(i, remote.predict(c, examples)) for i, (c, examples) in enumerate(jobs)]
        yield from reversed(answers)

    shuffled.predict_many = backwards
    there = shuffled.run()
    assert there.winner == here.winner
    assert there.record == {**here.record, "spent": {**here.record["spent"], "seconds": ANY}}


class Retrieving(Scripted):
    """Candidates that show retrieved passages answer about 70% of the examples right."""

    def predict(self, candidate: Candidate, batch: Sequence[Example]) -> list[Outcome]:
        out = super().predict(candidate, batch)
        if not candidate.passages:
            return out
        right = [coin("passages", e.id) >= 0.3 for e in batch]
        return [
            Outcome(float(r), e.target if r else "lost_card", 50, 1)
            for e, r in zip(batch, right, strict=True)
        ]


def test_a_leader_with_passages_keeps_them_when_reflected_and_is_not_bootstrapped() -> None:
    scripted = Retrieving(["Classify it.", "Pick one.", "Answer with a label."])
    searching = search(scripted, SearchState(None))
    searching.passages = (2,)
    result = searching.run()
    assert result.winner.passages == 2
    candidates = result.record["candidates"]
    reflected = [c for c in candidates if c["origin"].startswith("reflection:")]
    assert reflected and all(c["passages"] == 2 for c in reflected)
    assert all(c["demonstrations"]["k"] == 0 for c in candidates if c["passages"])
    assert not [c for c in candidates if c["demonstrations"]["strategy"] == "bootstrapped"]


def test_settings_that_give_no_candidate_are_refused() -> None:
    with pytest.raises(NothingToSearch, match="no candidate"):
        search(Scripted(["x"]), SearchState(None), k=[4], strategies=["bootstrapped"]).run()


def test_a_rewrite_that_quotes_a_dev_answer_is_dropped() -> None:
    from tunevsprompt.arms.prompt_search.proposer import Failure
    from tunevsprompt.arms.prompt_search.search import _quotes_an_answer

    failures = [Failure("How long do refunds take?", "18 days", "a week")]
    assert _quotes_an_answer("Answer briefly. The correct answer is 18 days.", failures)
    assert not _quotes_an_answer("Answer with the number of days only.", failures)
