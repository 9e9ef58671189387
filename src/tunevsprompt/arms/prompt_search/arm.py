"""The `optimized-prompt` arm: prompting given the same effort as tuning. ``prepare`` searches
instructions, label descriptions and demonstrations on the dev split (carved from train; the
arm never receives a test example before ``predict``), and the test split is answered with
the winner, decoded like the other prompting arms."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tunevsprompt.arms.base import ArmConfig, RunContext

if TYPE_CHECKING:
    from tunevsprompt.arms.prompt_search.passages import PassagePrompts
from tunevsprompt.arms.prompt_search.candidate import Candidate, Demos, ordered_dev
from tunevsprompt.arms.prompt_search.config import OptimizedPromptConfig
from tunevsprompt.arms.prompt_search.rag_layout import open_passages, rag_identity, rag_of
from tunevsprompt.arms.prompt_search.rendering import Renderer
from tunevsprompt.arms.prompt_search.search import (
    BudgetTooSmall,
    Job,
    NothingToSearch,
    PredictMany,
    PromptSearch,
    Propose,
)
from tunevsprompt.arms.prompt_search.state import Answer, Outcome, SearchState, search_key
from tunevsprompt.arms.prompt_search.written import write_winner
from tunevsprompt.arms.prompting import FewShotArm, FewShotConfig, PromptingArm, PromptingConfig
from tunevsprompt.arms.rag import RagConfig
from tunevsprompt.generation.base import DecodingSettings, Generator
from tunevsprompt.generation.model_source import cache_root
from tunevsprompt.measure.example_scores import example_scores, search_metric
from tunevsprompt.retrieval.config import EmbedderConfig, IndexConfig
from tunevsprompt.runfolder.export_prompt import PROMPTS_FOLDER
from tunevsprompt.runfolder.store import exclusive_lock
from tunevsprompt.task.data import stratified_sample
from tunevsprompt.task.types import Example, Prediction, Prompt


@dataclass(frozen=True)
class ScoreJob:
    """One candidate to score on some examples (dev, or train when bootstrapping
    demonstrations), on a worker."""

    candidate: Candidate
    examples: tuple[Example, ...]


class OptimizedPromptArm(PromptingArm):
    config_model: ClassVar[type[ArmConfig]] = OptimizedPromptConfig

    def __init__(self, config: PromptingConfig):
        super().__init__(config)
        self.winner: Candidate | None = None
        self.renderer: Renderer | None = None
        self.proposer_record: dict[str, Any] = {}
        self._longest: Example | None = None

    @property
    def settings(self) -> OptimizedPromptConfig:
        assert isinstance(self.config, OptimizedPromptConfig)
        return self.config

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        record = super().prepare(train, ctx)
        config = self.settings
        seed = config.seed if config.seed is not None else ctx.seed
        classification = ctx.task.type == "classification"
        dev = stratified_sample(ctx.dev, None, config.dev_limit, seed, "search-dev", classification)
        if len(dev) < config.minibatch:
            raise ctx.config_error(
                "minibatch",
                f"the dev split has {len(dev)} examples, fewer than minibatch {config.minibatch}",
                "lower minibatch or give the task a larger dev split (task.data.dev_fraction)",
            )
        self.renderer = self._renderer(train, ctx)
        always = [self._from_arm(name, train, ctx) for name in config.start_from]
        state_path = self._state_path(train, dev, ctx, seed)
        # Runs sharing a cache search one key at a time: the second replays the first's
        # finished search from its state file instead of scoring beside it.
        waiting = f"{self.name}: waiting for another run searching the same prompts"
        with exclusive_lock(
            state_path.with_suffix(".lock"),
            lambda: ctx.log(waiting),
            lambda why: ctx.log(f"warning: {self.name}: searching without a lock ({why})"),
        ):
            state = SearchState(state_path, ctx.use_cache)
            bar = f"{self.name}{ctx.variant} search"
            search = PromptSearch(
                config,
                ctx.task.instruction if config.instruction is None else config.instruction,
                ctx.task.labels,
                train,
                ordered_dev(dev, seed, classification),
                self._outcomes,
                self._proposer(ctx),
                state,
                seed,
                always,
                ctx.log,
                self._fits,
                search_metric(ctx.task),
                self._on_workers(ctx),
                # A bar only against a budget of calls (a seconds budget has no total).
                (lambda calls: ctx.progress.advance(bar, calls))
                if config.budget.model_calls is not None
                else (lambda calls: None),
                self._passage_counts(ctx),
                rag.show_labels if (rag := self._rag_config(ctx)) is not None else False,
            )
            if config.budget.model_calls is not None:
                ctx.progress.start(bar, config.budget.model_calls)
            try:
                result = search.run()
            except BudgetTooSmall as error:
                raise ctx.config_error("budget.model_calls", str(error), None) from error
            except NothingToSearch as error:
                hint = "add a count to k or a strategy"
                raise ctx.config_error("strategies", str(error), hint) from error
            finally:
                if config.budget.model_calls is not None:
                    ctx.progress.finish(bar)
        self.winner = result.winner
        # The test split is answered afresh: nothing retrieved or shown during the search
        # counts (latency includes retrieval; the contamination check sees the test's texts).
        self.renderer.finish_search(self.winner)
        record["prompting"]["demonstration_ids"] = (
            list(self.winner.demos.ids) if self.winner.demos.strategy != "similar" else None
        )
        record["search"] = {**result.record, "proposer": self.proposer_record}
        self._write_prompt(ctx.run_dir, result.record)
        return record

    # -- candidates scored on a cluster's workers (capabilities.RunsJobs) ---------------------

    def _on_workers(self, ctx: RunContext) -> PredictMany | None:
        """With ``ctx.fan_out`` (``--executor ray``), each candidate's missing dev examples
        are one job for a worker; None scores them here."""
        fan_out = ctx.fan_out
        if fan_out is None:
            return None

        def predict_many(jobs: Sequence[Job]) -> Iterator[tuple[int, list[Outcome]]]:
            yield from fan_out([ScoreJob(c, tuple(examples)) for c, examples in jobs])

        return predict_many

    def open_worker(self, train: Sequence[Example], ctx: RunContext) -> None:
        """What scoring a candidate needs, without a search: the prompting settings, the
        demonstrations' index and the dev examples by id."""
        super().prepare(train, ctx)
        self.renderer = self._renderer(train, ctx)

    def run_job(self, job: ScoreJob) -> list[Outcome]:
        return self._outcomes(job.candidate, job.examples)

    # -- the pieces --------------------------------------------------------------------------

    def _renderer(self, train: Sequence[Example], ctx: RunContext) -> Renderer:
        config = self.settings
        similar = [k for k in config.counts() if k > 0] if "similar" in config.strategies else []
        # A few-shot-similar arm the search starts from retrieves its own demonstrations.
        similar += [
            a.k
            for a in ctx.arms
            if a.name in config.start_from and isinstance(a, FewShotConfig)
            if a.selection == "similar"
        ]
        retrieval = None
        if similar:
            from tunevsprompt.arms.retrieving import open_retrieval
            from tunevsprompt.retrieval.corpus import documents_from_examples

            retrieval = open_retrieval(
                documents_from_examples(train),
                None,
                0,
                config.embedder or EmbedderConfig(),
                config.index or IndexConfig(),
                max(similar),
                ctx,
            )
        return Renderer(
            train, ctx.task.labels, config.show_labels, retrieval, self._passages(train, ctx)
        )

    def _rag_config(self, ctx: RunContext) -> RagConfig | None:
        return rag_of(self.settings, ctx)

    def _passage_counts(self, ctx: RunContext) -> list[int]:
        rag = self._rag_config(ctx)
        return list(self.settings.top_k or [rag.top_k]) if rag is not None else []

    def _passages(self, train: Sequence[Example], ctx: RunContext) -> PassagePrompts | None:
        rag = self._rag_config(ctx)
        return open_passages(rag, self._passage_counts(ctx), train, ctx) if rag else None

    def _from_arm(self, name: str, train: Sequence[Example], ctx: RunContext) -> Candidate:
        """A prompting arm of the suite as a candidate: the very prompts it builds."""
        other = next((a for a in ctx.arms if a.name == name), None)
        if not isinstance(other, PromptingConfig) or other.type not in (
            "zero-shot",
            "few-shot",
            "rag",
        ):
            raise ctx.config_error(
                "start_from",
                f"{name!r} is not a zero-shot, few-shot or rag arm of this suite",
                None,
            )
        self._check_scored_alike(name, other, ctx)
        instruction = other.instruction or ctx.task.instruction
        if isinstance(other, RagConfig):
            return Candidate(
                instruction, f"arm:{name}", show_labels=other.show_labels, passages=other.top_k
            )
        demos = Demos()
        if isinstance(other, FewShotConfig):
            if other.selection == "similar":
                demos = Demos("similar", other.k)
            else:
                arm = FewShotArm(other)
                arm._ctx = ctx
                chosen = arm.choose_demonstrations(train, ctx.seed)
                demos = Demos(other.selection, other.k, tuple(e.id for e in chosen))
        if other.show_labels != self.settings.show_labels:
            raise ctx.config_error(
                "start_from",
                f"{name!r} shows labels differently from this arm, so its prompts would not be "
                "scored as written",
                "give both arms the same show_labels",
            )
        return Candidate(instruction, f"arm:{name}", demos, None, other.show_labels)

    def _check_scored_alike(self, name: str, other: PromptingConfig, ctx: RunContext) -> None:
        """A hand-written arm's prompts are scored with this arm's decoding: it must be the
        same, or its figure in the search would not be its own."""
        mine = self.settings
        task = ctx.task.type
        same = (
            other.decide_for(task) == mine.decide_for(task)
            and (mine.decide_for(task) == "rank" or other.max_new_tokens == mine.max_new_tokens)
            and (other.backend, other.model) == (mine.backend, mine.model)
        )
        if not same:
            raise ctx.config_error(
                "start_from",
                f"{name!r} is answered differently from this arm (backend, model, decide or "
                "max_new_tokens), so its prompts would not be scored as written",
                "give both arms the same backend, model, decide and max_new_tokens",
            )

    def _state_path(
        self,
        train: Sequence[Example],
        dev: Sequence[Example],
        ctx: RunContext,
        seed: int,
    ) -> Path:
        labels = ctx.task.labels.labels if ctx.task.labels else None
        key = search_key(
            {
                "config": self.settings.model_dump(mode="json", exclude={"name", "batch_size"}),
                "model": ctx.generator.fingerprint,
                "train": [e.id for e in train],
                "dev": [e.id for e in dev],
                "instruction": ctx.task.instruction,
                "labels": labels,
                "metric": ctx.task.primary_metric,
                "seed": seed,
                # The corpus (its files' contents too) and layout behind passages.
                **({"rag": rag_identity(rag, ctx)} if (rag := self._rag_config(ctx)) else {}),
            }
        )
        return (ctx.cache_dir or cache_root()) / "prompt-search" / f"{key}.json"

    def _proposer(self, ctx: RunContext) -> Propose:
        """The proposer as a function; ``self.proposer_record`` says which model it is."""
        proposer = self.settings.proposer
        generator: Generator = ctx.generator
        self.proposer_record = {"backend": "local", "model": None, "provider": None}
        if proposer is not None and proposer.backend == "openai":
            hosted = ctx.open_hosted(proposer)
            generator = hosted.generator
            api = hosted.record()
            self.proposer_record = {
                "backend": "openai",
                "model": api["model"],
                "provider": api["provider"],
            }

        def propose(prompt: Prompt, max_new_tokens: int) -> Answer:
            out = generator.generate([prompt], DecodingSettings(max_new_tokens, 0.0, 1))[0]
            text = "" if out.error is not None else out.text
            return Answer(text, out.input_tokens, out.output_tokens)

        return propose

    def _fits(self, candidate: Candidate) -> bool:
        """Whether the candidate's prompt for the longest training or dev input leaves room
        for an answer and a margin (a twentieth of the window) for longer test inputs."""
        assert self._ctx is not None and self.renderer is not None
        window = self.generator().context_window
        if window is None or not self._ctx.dev or candidate.passages:
            return True  # passages are packed to fit
        if self._longest is None:
            self._longest = max([*self.renderer.by_id.values(), *self._ctx.dev], key=_length)
        prompt = self.renderer.prompts(candidate, [self._longest])[0]
        needed = self.generator().prompt_tokens(prompt) + self.settings.max_new_tokens
        return needed + window // 20 <= window

    def _outcomes(self, candidate: Candidate, examples: Sequence[Example]) -> list[Outcome]:
        """Score ``candidate`` on dev examples, a batch at a time (one model call each)."""
        assert self._ctx is not None
        size = self.settings.batch_size
        outcomes: list[Outcome] = []
        for start in range(0, len(examples), size):
            batch = list(examples[start : start + size])
            predictions = self._predict_candidate(candidate, batch)
            values = example_scores(self._ctx.task, batch, predictions)
            for prediction, value in zip(predictions, values, strict=True):
                answer = prediction.prediction if self._labels() else prediction.raw_output
                outcomes.append(
                    Outcome(value, answer, prediction.input_tokens, prediction.output_tokens)
                )
        return outcomes

    def _predict_candidate(
        self, candidate: Candidate, batch: Sequence[Example]
    ) -> list[Prediction]:
        previous = self.winner
        self.winner = candidate
        try:
            return self.predict_with(self.generator(), batch)
        finally:
            self.winner = previous

    def _write_prompt(self, run_dir: Path, record: dict[str, Any]) -> None:
        assert self.winner is not None and self.renderer is not None and self._ctx is not None
        write_winner(
            run_dir / PROMPTS_FOLDER / f"{self.name}.json",
            self.name,
            self.winner,
            self.renderer,
            self._ctx.task.labels,
            self.config.decide_for(self._ctx.task.type),
            record,
        )

    # -- answering with the winner -------------------------------------------------------------

    def prompts_for(self, batch: Sequence[Example]) -> list[Prompt]:
        """The prompts of the winner (or, during the search, of the candidate scored)."""
        assert self.winner is not None and self.renderer is not None, "prepare() first"
        prompts = self.renderer.prompts(self.winner, batch)
        self.renderer.remember_shown(self.winner, batch)
        if self.winner.passages and self.renderer.passages is not None:
            for example in batch:
                self._extras.setdefault(example.id, {}).update(
                    self.renderer.passages.extras(example.id)
                )
        return prompts

    def retrieval_record(self, example_ids: Sequence[str]) -> dict[str, Any] | None:
        """The rag arm's retrieval record, when the winner shows its passages."""
        if self.winner is None or not self.winner.passages or self.renderer is None:
            return None
        assert self.renderer.passages is not None
        return self.renderer.passages.retrieval_record(example_ids)

    def visible_texts(self) -> list[str]:
        """Demonstrations shown on the test split (fixed sets, or those retrieved)."""
        if self.winner is None or self.renderer is None:
            return []
        if self.winner.passages and self.renderer.passages is not None:
            return self.renderer.passages.visible_texts()
        if self.winner.demos.strategy == "similar":
            return list(self.renderer.shown.values())
        return [self.renderer.by_id[i].input for i in self.winner.demos.ids]


def _length(example: Example) -> int:
    return len(example.input)
