"""What the tuning arms share: training keys, the train-or-reuse flow, adapters in the run
folder, and the integrity check's hook. LoRA and prompt tuning differ only in how they
attach to the model and how the trained model answers (``lora.py``, ``soft_prompt.py``).

A tuned arm answers with the same prompt format it was trained on, built by the prompting
arms' code (no demonstrations; by default no label list: the labels are in the weights).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from tunevsprompt.arms.base import LearnsFromExamples, RunContext
from tunevsprompt.arms.prompting import PromptingArm, PromptingConfig
from tunevsprompt.arms.sweep import SweepConfig, sweep_problems
from tunevsprompt.data import stratified_sample
from tunevsprompt.errors import RunError
from tunevsprompt.evaluate import score_predictions
from tunevsprompt.generation.base import Generator
from tunevsprompt.generation.model_source import file_sha256
from tunevsprompt.store import content_key, write_dir_atomic, write_json_atomic
from tunevsprompt.training.batches import EncodedExample, truncate
from tunevsprompt.training.devices import precision
from tunevsprompt.training.loop import (
    Trainable,
    TrainingOutcome,
    TrainingSettings,
    run_training,
)
from tunevsprompt.types import Example, Prediction

if TYPE_CHECKING:
    from tunevsprompt.generation.hf import HFGenerator

TRAINING_FORMAT = 1
"""Bump when a change to training would make cached adapters differ from fresh ones."""

ADAPTER_WEIGHTS = "adapter_model.safetensors"

_INFERENCE_KEYS = {
    "name",
    "decide",
    "parse",
    "max_new_tokens",
    "batch_size",
    "seeds",
    "train_sizes",
    "sweep",
    "integrity_sample",
    "integrity_min_changed",
    "measure_unmerged_latency",
    "merge",
    # A tuning arm always runs locally (rejected otherwise): these keys never change weights.
    "backend",
    "model",
    "base_url",
    "api_key_env",
}
"""Config keys that do not change the trained weights (so not part of the training key)."""


class TuningConfig(PromptingConfig, LearnsFromExamples):
    """Keys shared by the tuning arms."""

    changes_weights: ClassVar[bool] = True

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        problems = super().problems_for_task(task_type)
        if self.backend != "local":
            problems.append(
                (
                    "backend",
                    "a tuning arm trains the suite's model here; it cannot run on an endpoint "
                    "(serve the result with `tvp export`, then compare it as backend: openai)",
                )
            )
        if self.sweep is not None:
            problems.extend(sweep_problems(self, self.sweep, _INFERENCE_KEYS))
        return problems

    show_labels: bool = Field(
        False,
        description="List the label set in the prompt. Off by default for tuned arms: the "
        "labels are learned, and the list would make every example hundreds of tokens longer.",
    )
    learning_rate: float = Field(2e-4, ge=0, description="Peak learning rate (AdamW).")
    epochs: float = Field(3.0, gt=0, description="Passes over the train split.")
    max_steps: int | None = Field(
        None, ge=1, description="Optimizer steps; overrides `epochs` when set."
    )
    train_batch_size: int = Field(8, ge=1, description="Examples per forward/backward pass.")
    gradient_accumulation: int = Field(
        1, ge=1, description="Passes per optimizer step (effective batch = both multiplied)."
    )
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Share of steps for linear warm-up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    lr_schedule: Literal["linear", "cosine", "constant"] = Field(
        "linear", description="Decay after warm-up."
    )
    max_seq_length: int = Field(
        512, ge=8, description="Longer examples lose prompt tokens from the left."
    )
    eval_every_steps: int | None = Field(
        None, ge=1, description="Dev evaluation + checkpoint interval; default: every epoch."
    )
    early_stopping_patience: int | None = Field(
        2, ge=1, description="Evaluations without dev improvement before stopping; null: never."
    )
    select_on: Literal["loss", "primary"] = Field(
        "loss",
        description="Dev figure that picks the kept checkpoint: answer loss (cheap) or the "
        "suite's primary metric (runs the arm's prediction on the dev sample each time).",
    )
    dev_limit: int = Field(256, ge=1, description="Dev examples used for evaluation (stratified).")
    logging_steps: int = Field(10, ge=1, description="Optimizer steps per loss_curve point.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, slower."
    )
    integrity_sample: int = Field(
        32, ge=1, description="Test examples on which the tuned arm is compared with the base."
    )
    sweep: SweepConfig | None = Field(
        None,
        description="Hyperparameter search: train one trial per setting (grid or random), "
        "keep the one with the best primary metric on the dev sample, report all trials.",
    )
    integrity_min_changed: float = Field(
        0.2,
        ge=0,
        le=1,
        description="The integrity check fails when fewer than this share of the sampled "
        "outputs differ from the base model's.",
    )

    def training_settings(self, seed: int) -> TrainingSettings:
        return TrainingSettings(
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            max_steps=self.max_steps,
            batch_size=self.train_batch_size,
            gradient_accumulation=self.gradient_accumulation,
            warmup_ratio=self.warmup_ratio,
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            eval_every_steps=self.eval_every_steps,
            patience=self.early_stopping_patience,
            select_on=self.select_on,
            logging_steps=self.logging_steps,
            gradient_checkpointing=self.gradient_checkpointing,
            seed=seed,
        )

    def training_identity(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=_INFERENCE_KEYS)


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
        key = self._training_key(base, train_encoded, dev_encoded, ctx)
        work = (ctx.cache_dir or ctx.run_dir / "cache") / "training" / key
        final = work / "final"
        torch.manual_seed(ctx.seed)
        peft_model, record = self._load_or_train(
            base, work, final, train_encoded, dev_encoded, dev, ctx
        )
        adapter_dir = ctx.run_dir / "adapters" / f"{self.name}{ctx.variant}"
        write_dir_atomic(adapter_dir, lambda staging: _copy_into(final, staging))
        adapter_sha = file_sha256(final / ADAPTER_WEIGHTS)
        record.update(
            truncated_examples=truncated,
            adapter_bytes=sum(f.stat().st_size for f in final.iterdir() if f.is_file()),
        )
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

    def _training_key(
        self,
        base: HFGenerator,
        train: list[EncodedExample],
        dev: list[EncodedExample],
        ctx: RunContext,
    ) -> str:
        """Content hash of everything that decides the trained weights. The token ids cover
        the data, the prompt format and the tokenizer."""

        def digest(examples: list[EncodedExample]) -> str:
            rows = [[e.id, list(e.prompt_ids), list(e.answer_ids)] for e in examples]
            return hashlib.sha256(json.dumps(rows).encode()).hexdigest()

        return content_key(
            {
                "format": TRAINING_FORMAT,
                "method": self.method,
                "config": self.tuning.training_identity(),
                "seed": ctx.seed,
                "train": digest(train),
                "dev": digest(dev),
                "model": base.fingerprint,
                "device": base.device.split(":")[0],
            }
        )[:24]

    def _load_or_train(
        self,
        base: HFGenerator,
        work: Path,
        final: Path,
        train: list[EncodedExample],
        dev: list[EncodedExample],
        dev_examples: Sequence[Example],
        ctx: RunContext,
    ) -> tuple[Any, dict[str, Any]]:
        from peft import PeftModel

        checkpoint = work / "checkpoint.pt"
        record_path = final / "training.json"
        if ctx.use_cache and record_path.exists() and (final / ADAPTER_WEIGHTS).exists():
            ctx.log(f"{self.name}: reusing the adapter trained earlier ({final})")
            peft_model = PeftModel.from_pretrained(base.model, final, is_trainable=False)
            record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
            record["reused"] = True
            return peft_model, record
        if not ctx.use_cache and checkpoint.exists():
            checkpoint.unlink()
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
            base.tokenizer.pad_token_id,
            checkpoint,
            _LogProgress(self.name, ctx.log),
            metric,
        )
        if self.tuning.gradient_checkpointing:
            base.model.gradient_checkpointing_disable()
        self._check_divergence(outcome, ctx)
        self._keep_best(trainable, outcome)
        trainable_params, total_params = peft_model.get_nb_trainable_parameters()
        # Where and how it was trained stays with the adapter: a reused adapter reports it.
        record = {
            "device": base.device,
            "precision": precision(base.device, base.dtype),
            **outcome.record,
            "trainable_params": int(trainable_params),
            "total_params": int(total_params),
            "reused": False,
        }
        write_dir_atomic(final, lambda staging: _save_adapter(peft_model, staging, record))
        checkpoint.unlink(missing_ok=True)
        return peft_model, record

    def _check_divergence(self, outcome: TrainingOutcome, ctx: RunContext) -> None:
        """A loss that went NaN or infinite stops training. The best weights a dev
        evaluation picked before it are kept (and said so); with none, the arm fails."""
        state = outcome.state
        if state.diverged_at_step is None:
            return
        lr = self.tuning.learning_rate
        if state.best_step is None:
            raise TrainingDiverged(
                f"arm {self.name}: training diverged (the loss was not finite at step "
                f"{state.diverged_at_step}) before any dev evaluation; lower learning_rate "
                f"(now {lr:g}), raise warmup_ratio, or evaluate sooner (eval_every_steps)"
            )
        ctx.log(
            f"WARNING: arm {self.name}: training diverged at step {state.diverged_at_step} "
            f"(learning_rate {lr:g}); keeping the weights of step {state.best_step}, the best "
            "on dev before it"
        )

    def _keep_best(self, trainable: Trainable, outcome: TrainingOutcome) -> None:
        import torch

        params = trainable.parameters_to_train()
        with torch.no_grad():
            for name, value in outcome.best_weights.items():
                params[name].copy_(value)

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


class TrainingDiverged(RunError):
    """The loss went NaN or infinite before any dev evaluation chose weights."""


def require_peft(arm: str) -> None:
    """A clear error, naming the extra to install, instead of an ImportError mid-run."""
    try:
        import peft  # noqa: F401
    except ImportError as error:
        raise RunError(
            f"arm {arm}: the tuning arms need peft: pip install 'tunevsprompt[tuning]'"
        ) from error


class _LogProgress:
    """Training progress as console lines."""

    def __init__(self, arm: str, log: Callable[[str], None]):
        self.arm, self.log = arm, log

    def training_progress(self, step: int, total: int, loss: float) -> None:
        self.log(f"{self.arm}: step {step}/{total}, loss {loss:.4f}")

    def checkpoint_saved(self, step: int, path: Path) -> None:
        self.log(f"{self.arm}: checkpoint at step {step}")


def _copy_into(source: Path, folder: Path) -> None:
    shutil.copytree(source, folder, dirs_exist_ok=True)


def _save_adapter(peft_model: Any, folder: Path, record: dict[str, Any]) -> None:
    """peft's own format plus training.json."""
    peft_model.save_pretrained(str(folder))
    write_json_atomic(folder / "training.json", record)
