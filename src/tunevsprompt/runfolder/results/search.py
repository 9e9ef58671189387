"""``arms.<name>.search``: the prompt search of an `optimized-prompt` arm, every candidate
with its dev figure, the rungs of the race, what it spent and the winner verbatim."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tunevsprompt.runfolder.results.base import Count, Flag, Num, Record
from tunevsprompt.runfolder.results.figures import QualityFigure


class CandidateDemonstrations(Record):
    """The demonstrations a candidate shows."""

    strategy: str | None = Field(
        None,
        description="none, random, stratified, similar (retrieved per input), or the "
        "selection of the hand-written arm it came from.",
    )
    k: Count | None = Field(None, description="How many.")
    ids: list[str] | None = Field(
        None, description="Train example ids, in order (null for similar: retrieved per input)."
    )


class PromptCandidate(Record):
    """One candidate prompt, verbatim."""

    id: str | None = Field(None, description="Stable id (a hash of what the model sees).")
    origin: str | None = Field(
        None,
        description="suite (the task's instruction), arm:<name> (a prompting arm as written), "
        "proposed:<i> (written by the proposer), reflection:<r> (rewritten from failures) or "
        "bootstrapped:<origin> (that candidate with demonstrations it answered right).",
    )
    instruction: str | None = Field(None, description="The system instruction.")
    label_descriptions: dict[str, str] | None = Field(
        None, description="Label form → one line, shown in the label list (null: none)."
    )
    show_labels: Flag | None = Field(None, description="Whether the label list is shown.")
    demonstrations: CandidateDemonstrations | None = Field(None, description="Its demonstrations.")
    passages: Count | None = Field(
        None,
        description="Passages retrieved per input from the corpus of the rag arm it starts "
        "from, in that arm's prompt layout (0: none).",
    )
    dev: QualityFigure | None = Field(
        None, description="Its mean on the dev examples it was scored on, with a 95% interval."
    )
    finalist: Flag | None = Field(None, description="Whether it was scored on the final dev set.")


class SearchRung(Record):
    """One rung of successive halving."""

    n: Count | None = Field(None, description="Dev examples every candidate was scored on.")
    candidates: list[str] | None = Field(None, description="Candidate ids raced.")
    kept: list[str] | None = Field(None, description="Candidate ids that went on.")


class TokenCounts(Record):
    """Tokens in and out."""

    input: Count | None = Field(None, description="Input (prompt) tokens.")
    output: Count | None = Field(None, description="Output tokens.")


class SearchSpent(Record):
    """What the search spent."""

    model_calls: Count | None = Field(
        None, description="Dev examples scored plus proposer requests (replayed ones included)."
    )
    proposer_calls: Count | None = Field(None, description="Requests to the proposer.")
    replayed: Count | None = Field(
        None, description="Calls answered from the search's saved state (a resumed search)."
    )
    seconds: Num | None = Field(None, description="Wall-clock seconds of search (all runs).")
    tokens: TokenCounts | None = Field(
        None, description="Tokens of the candidates' answers on dev (prompts and answers)."
    )
    proposer_tokens: TokenCounts | None = Field(
        None, description="Tokens the proposer read and wrote."
    )


class ProposerRecord(Record):
    """Which model wrote the proposals."""

    backend: str | None = Field(None, description="local (the suite's model) or openai.")
    model: str | None = Field(None, description="backend: openai: the served model.")
    provider: str | None = Field(None, description="backend: openai: the provider, if known.")


class PromptWinner(PromptCandidate):
    """The chosen candidate (also written to prompts/<arm>.json)."""


class SearchStep(Record):
    """One step of the search: a candidate scored on more dev examples."""

    calls: Count | None = Field(
        None, description="Model calls the search had spent after this step (proposer's too)."
    )
    candidate: str | None = Field(None, description="The candidate's id.")
    n: Count | None = Field(None, description="Dev examples it has now been scored on.")
    mean: Num | None = Field(None, description="Its mean on them.")


class SearchRecord(Record):
    """An `optimized-prompt` arm's search."""

    method: str | None = Field(None, description="successive halving.")
    metric: str | None = Field(None, description="What candidates were compared on.")
    eta: Count | None = Field(None, description="Each rung kept 1/eta of the candidates.")
    rungs: list[SearchRung] | None = Field(None, description="The race, rung by rung.")
    final_n: Count | None = Field(None, description="Dev examples of the final choice.")
    dev_n: Count | None = Field(None, description="Dev examples the search could use.")
    stopped: str | None = Field(
        None, description="model_calls or seconds when the budget ended the race early."
    )
    budget: dict[str, Any] | None = Field(None, description="The arm's `budget:` block.")
    spent: SearchSpent | None = Field(None, description="What it spent.")
    proposer: ProposerRecord | None = Field(None, description="Who proposed instructions.")
    candidates: list[PromptCandidate] | None = Field(None, description="Every candidate.")
    trajectory: list[SearchStep] | None = Field(
        None, description="Every scoring step in order (the dev score vs model calls chart)."
    )
    chosen: str | None = Field(None, description="The winner's id.")
    winner: PromptWinner | None = Field(None, description="The winner, verbatim.")
