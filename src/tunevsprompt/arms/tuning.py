"""What the tuning arms share: the train-or-reuse flow (adapters cached by training key in
``training.adapter_cache``, settings in ``tuning_config``), adapters in the run folder, and
the integrity check's hook. LoRA and prompt tuning differ only in how they
attach to the model and how the trained model answers (``lora.py``, ``soft_prompt.py``).

A tuned arm answers with the same prompt format it was trained on, built by the prompting
arms' code (no demonstrations; by default no label list: the labels are in the weights).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tunevsprompt.arms.base import RunContext
from tunevsprompt.arms.prompting import PromptingArm
from tunevsprompt.arms.tuning_config import TuningConfig
from tunevsprompt.errors import RunError
from tunevsprompt.generation.base import Generator
from tunevsprompt.generation.quiet import no_peft_deprecation_noise
from tunevsprompt.measure.evaluate import score_predictions
from tunevsprompt.task.data import stratified_sample
from tunevsprompt.task.types import Example, Prediction
from tunevsprompt.training.adapter_cache import AdapterCache, training_key
from tunevsprompt.training.batches import EncodedExample, truncate
from tunevsprompt.training.devices import precision
from tunevsprompt.training.loop import LogProgress, Trainable, run_training
from tunevsprompt.training.selection import check_divergence, keep_best

if TYPE_CHECKING:
    from tunevsprompt.generation.hf import HFGenerator


@dataclass
class TunedModel:
    """What a tuning method hands back after training: how the arm answers, and other forms
    of the same model whose latency is worth reporting (e.g. LoRA unmerged)."""

    evaluated: HFGenerator
    latency_variants: dict[str, HFGenerator]
    inference: dict[str, Any]


class TuningArm(PromptingArm):
    """Train an adapter on the train split (or reuse it from the cache), then answer like the
    zero-shot arm does, with the tuned model."""

    config_model: ClassVar[type[TuningConfig]] = TuningConfig
    method: ClassVar[str] = "tuning"

    def __init__(self, config: TuningConfig):
        super().__init__(config)
        self.tuning = config
        self._tuned: Generator | None = None
        self._variants: dict[str, HFGenerator] = {}
        self.dev_sample: list[Example] = []
        """The dev examples the training was evaluated on (a sweep judges trials on them)."""

    # -- the two hooks a tuning method implements -------------------------------------

    def attach(self, base: HFGenerator) -> Any:
        """Wrap ``base.model`` with a fresh, trainable peft adapter."""
        raise NotImplementedError

    def trainable(self, peft_model: Any, base: HFGenerator) -> Trainable:
        raise NotImplementedError

    def build_inference(self, peft_model: Any, base: HFGenerator, adapter_sha: str) -> TunedModel:
        """The trained (or reloaded) adapter as generators; may consume ``peft_model``."""
        raise NotImplementedError

    # -- shared flow --------------------------------------------------------------------

    def generator(self) -> Generator:
        assert self._tuned is not None, "prepare() must run before predict()"
        return self._tuned

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        import torch

        require_peft(self.name)
        self._ctx = ctx
        problems = self.config.problems_for_task(ctx.task.type)
        if problems:
            raise RunError(f"arm {self.name}: {problems[0][0]}: {problems[0][1]}")
        if not train:
            raise RunError(f"arm {self.name}: the train split is empty; nothing to tune on")
        base = ctx.load_trainable_base()
        stratify = ctx.task.type == "classification"
        dev = stratified_sample(
            ctx.dev, None, self.tuning.dev_limit, ctx.seed, "tuning-dev", stratify
        )
        self.dev_sample = list(dev)
        train_encoded, truncated = self._encode(base, train)
        dev_encoded, _ = self._encode(base, dev)
        key = training_key(
            self.method,
            self.tuning.training_identity(),
            ctx.seed,
            train_encoded,
            dev_encoded,
            base.fingerprint,
            base.device,
        )
        cache = AdapterCache.under(ctx.cache_dir or ctx.run_dir / "cache", key)
        torch.manual_seed(ctx.seed)
        adapter_dir = ctx.run_dir / "adapters" / f"{self.name}{ctx.variant}"
        # A second run sharing the cache waits here for the first's training, then reuses it.
        with cache.lock(ctx.log):
            peft_model, record = self._load_or_train(
                base, cache, train_encoded, dev_encoded, dev, ctx
            )
            cache.publish(adapter_dir)
            adapter_sha = cache.sha256()
            record.update(truncated_examples=truncated, adapter_bytes=cache.size_bytes())
        tuned = self.build_inference(peft_model, base, adapter_sha)
        self._tuned = ctx.cached(tuned.evaluated)
        self._variants = tuned.latency_variants
        return {
            "prompting": {"decide": self._decide(), "show_labels": self.config.show_labels},
            "training": record,
            "adapter": {
                "method": self.method,
                "format": "peft",
                "path": str(adapter_dir.relative_to(ctx.run_dir)),
                "sha256": adapter_sha,
                "training_key": key,
            },
            "inference": tuned.inference,
        }

    def _encode(
        self, base: HFGenerator, examples: Sequence[Example]
    ) -> tuple[list[EncodedExample], int]:
        """Token ids of the prompt the arm answers from and of the answer it should give,
        exactly as rank scoring sees them (label surface form + end of turn)."""
        encoded, truncated = [], 0
        for example in examples:
            prompt = self.prompt_for(example)
            text = base.render(prompt)
            prompt_ids = base.encode_prompt(prompt)
            answer = base.continuation_ids(text, prompt_ids, self._answer_form(example.target))
            kept, cut = truncate(prompt_ids, answer, self.tuning.max_seq_length)
            truncated += cut
            encoded.append(EncodedExample(example.id, tuple(kept), tuple(answer)))
        return encoded, truncated

    def _load_or_train(
        self,
        base: HFGenerator,
        cache: AdapterCache,
        train: list[EncodedExample],
        dev: list[EncodedExample],
        dev_examples: Sequence[Example],
        ctx: RunContext,
    ) -> tuple[Any, dict[str, Any]]:
        checkpoint = cache.checkpoint
        if ctx.use_cache and cache.finished():
            ctx.log(f"{self.name}: reusing the adapter trained earlier ({cache.final})")
            return cache.load(base.model)
        if not ctx.use_cache and checkpoint.exists():
            checkpoint.unlink()
        with no_peft_deprecation_noise():
            peft_model = self.attach(base)
        trainable = self.trainable(peft_model, base)
        if self.tuning.gradient_checkpointing:
            base.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        if checkpoint.exists():
            ctx.log(f"{self.name}: resuming training from {checkpoint}")
        metric = (
            self._dev_metric(peft_model, base, dev_examples, ctx)
            if self.tuning.select_on == "primary"
            else None
        )
        outcome = run_training(
            trainable,
            train,
            dev,
            self.tuning.training_settings(ctx.seed),
            checkpoint,
            LogProgress(self.name, ctx.log),
            metric,
        )
        if self.tuning.gradient_checkpointing:
            base.model.gradient_checkpointing_disable()
        check_divergence(self.name, outcome, self.tuning.learning_rate, ctx.log)
        keep_best(trainable.parameters_to_train(), outcome)
        trainable_params, total_params = peft_model.get_nb_trainable_parameters()
        # Where and how it was trained stays with the adapter: a reused adapter reports it.
        record: dict[str, Any] = {
            "device": base.device,
            "precision": precision(base.device, base.dtype),
            **outcome.record,
            "trainable_params": int(trainable_params),
            "total_params": int(total_params),
            "reused": False,
        }
        cache.save(peft_model, record)
        return peft_model, record

    def _dev_metric(
        self, peft_model: Any, base: HFGenerator, dev: Sequence[Example], ctx: RunContext
    ) -> Callable[[], float]:
        """The primary metric of this arm's predictions on the dev sample, uncached (the
        weights change between calls)."""

        def metric() -> float:
            tuned = self.build_inference_for_dev(peft_model, base)
            predictions = self.predict_with(tuned, dev)
            record, _ = score_predictions(
                ctx.task.type, dev, predictions, ctx.task.primary_metric, 100, ctx.seed
            )
            return float(record["quality"]["value"])

        return metric

    def build_inference_for_dev(self, peft_model: Any, base: HFGenerator) -> Generator:
        """A generator over the current, still-training weights (no merging)."""
        raise NotImplementedError

    # -- hooks the runner uses ------------------------------------------------------------

    def base_predict(self, batch: Sequence[Example]) -> list[Prediction]:
        """The same prompts answered by the untuned base model (the integrity check)."""
        assert self._ctx is not None
        return self.predict_with(self._ctx.generator, batch)

    def latency_variants(self) -> dict[str, Callable[[Sequence[Example]], list[Prediction]]]:
        return {name: self._predict_using(g) for name, g in self._variants.items()}

    def _predict_using(
        self, generator: Generator
    ) -> Callable[[Sequence[Example]], list[Prediction]]:
        def predict(batch: Sequence[Example]) -> list[Prediction]:
            return self.predict_with(generator, batch)

        return predict

    def visible_texts(self) -> list[str]:
        return []

    def probe_generator(self) -> Generator:
        """The tuned model as it answers (what the forgetting probes measure)."""
        return self.generator()

    def probed_as(self) -> str:
        """How the tuned model was probed, in words, for the report."""
        return f"{self.method}, as evaluated"


def require_peft(arm: str) -> None:
    """A clear error, naming the extra to install, instead of an ImportError mid-run."""
    try:
        import peft  # noqa: F401
    except ImportError as error:
        raise RunError(
            f"arm {arm}: the tuning arms need peft: pip install 'tunevsprompt[tuning]'"
        ) from error
