"""The fine-tuned encoder arms: no LLM; a small sentence encoder trained for the task.

- ``encoder-finetune``: the encoder with a linear head over its sentence embedding, trained
  end to end on cross-entropy. The head starts as a logistic regression on the frozen
  embeddings of the train split (linear probing, then fine-tuning: Kumar et al. 2022), so
  training starts from a frozen-embedding classifier rather than a random head.
- ``setfit``: SetFit (Tunstall et al. 2022): the encoder trained contrastively on pairs of
  training examples (same label or not), then a logistic regression on its embeddings.

Both are tuned arms: the shared loop (dev evaluation, early stopping, checkpoints and
resume), the training cache by training key, seeds, learning curves and sweeps; the model
is published in the run folder as a sentence-transformers folder (``model``) that
``tvp export`` copies. The integrity check compares with the frozen encoder under a
logistic regression fitted on the same train split (on every test example by default, with
a paired test of the difference).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tunevsprompt.arms.base import RunContext
from tunevsprompt.arms.encoder.config import (
    EncoderFinetuneConfig,
    EncoderTuningConfig,
    SetFitConfig,
)
from tunevsprompt.arms.encoder.items import LabelledText, sample_pairs
from tunevsprompt.arms.encoder.model import (
    WEIGHTS_FILE,
    EncoderClassifier,
    linear_head,
    logistic_regression_head,
    model_sha256,
)
from tunevsprompt.arms.encoder.objectives import ClassificationObjective, ContrastiveObjective
from tunevsprompt.errors import RunError
from tunevsprompt.measure.evaluate import score_predictions
from tunevsprompt.task.data import stratified_sample
from tunevsprompt.task.types import Example, Prediction
from tunevsprompt.training.adapter_cache import AdapterCache, training_key
from tunevsprompt.training.loop import LogProgress, Trainable, TrainingItem, run_training
from tunevsprompt.training.selection import check_divergence, keep_best


class EncoderTuningArm:
    """Train (or reuse from the cache) a classifier on the encoder, then answer with it."""

    config_model: ClassVar[type[EncoderTuningConfig]] = EncoderTuningConfig
    method: ClassVar[str] = ""

    def __init__(self, config: EncoderTuningConfig):
        self.config = config
        self.name = config.name
        self.dev_sample: list[Example] = []
        """The dev examples the training was evaluated on (a sweep judges trials on them)."""
        self._model: EncoderClassifier | None = None
        self._frozen: EncoderClassifier | None = None
        self._train: list[Example] = []

    # -- what each method does ----------------------------------------------------------

    def objective(self, model: EncoderClassifier) -> Trainable:
        raise NotImplementedError

    def items(self, texts: list[LabelledText], seed: int) -> Sequence[TrainingItem]:
        """What the loop trains on, from the labelled texts of the train split."""
        raise NotImplementedError

    def dev_items(self, texts: list[LabelledText], seed: int) -> Sequence[TrainingItem]:
        """What the loop's dev loss is computed on."""
        return self.items(texts, seed)

    def after_training(self, model: EncoderClassifier) -> dict[str, Any]:
        """Finish the model once the best weights are back (SetFit fits its head here)."""
        return {}

    # -- preparing ------------------------------------------------------------------------

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        from tunevsprompt.generation.device import resolve_device

        config = self.config
        problems = config.problems_for_task(ctx.task.type)
        if problems:
            raise ctx.config_error(problems[0][0], problems[0][1], None)
        labels = sorted({e.target for e in train})
        if len(labels) < 2:
            raise RunError(f"arm {self.name}: the train split has fewer than two labels")
        self._train = list(train)
        device = resolve_device(
            config.embedder.device if config.embedder.device != "auto" else ctx.device
        )
        model, fingerprint = self._untrained(labels, device)
        dim = model.head.in_features
        dev = stratified_sample(ctx.dev, None, config.dev_limit, ctx.seed, "tuning-dev", True)
        self.dev_sample = [e for e in dev if e.target in labels]
        if len(self.dev_sample) < len(dev):
            ctx.log(
                f"{self.name}: {len(dev) - len(self.dev_sample)} dev examples have a label the "
                "train split lacks; the arm cannot answer it, so they are left out of its dev"
            )
        train_texts = self._labelled(model, train)
        dev_texts = self._labelled(model, self.dev_sample)
        identity = {
            **config.training_identity(),
            "labels": labels,
            # The metric chooses the checkpoint when select_on is primary.
            "selected_on": ctx.task.primary_metric if config.select_on == "primary" else "loss",
        }
        key = training_key(
            self.method,
            identity,
            ctx.seed,
            train_texts,
            dev_texts,
            fingerprint,
            device,
        )
        cache = AdapterCache.under(ctx.cache_dir or ctx.run_dir / "cache", key, WEIGHTS_FILE)
        with cache.lock(ctx.log):
            if ctx.use_cache and cache.finished():
                ctx.log(f"{self.name}: reusing the model trained earlier ({cache.final})")
                model = EncoderClassifier.load(cache.final, device)
                record = cache.reused_record()
            else:
                if not ctx.use_cache:
                    cache.checkpoint.unlink(missing_ok=True)
                record = self._train_model(model, train_texts, dev_texts, cache.checkpoint, ctx)
                cache.save_with(model.save, record)
            model_dir = ctx.run_dir / "models" / f"{self.name}{ctx.variant}"
            cache.publish(model_dir)
            size = cache.size_bytes()
        self._model = model
        model_sha = model_sha256(model_dir)
        return {
            "uses_llm": False,
            "compute_device": device,
            "embedding": {
                "method": self.method,
                "embedder": config.embedder.id,
                "fingerprint": fingerprint,
                "device": device,
                "dim": dim,
                "train_examples": len(train),
                "classes": len(labels),
            },
            "training": {**record, "adapter_bytes": size},
            "adapter": {
                "method": self.method,
                "format": "sentence-transformers",
                "path": str(model_dir.relative_to(ctx.run_dir)),
                "sha256": model_sha,
                "training_key": key,
            },
            "inference": {"head": "linear", "max_seq_length": config.max_seq_length},
        }

    def _untrained(self, labels: list[str], device: str) -> tuple[EncoderClassifier, str]:
        """A fresh copy of the configured encoder (its own weights) under a blank head, and
        the fingerprint of those weights."""
        from tunevsprompt.retrieval.embedder import open_sentence_transformer

        embedder = self.config.embedder
        encoder, fingerprint = open_sentence_transformer(embedder.id, embedder.revision, device)
        encoder.max_seq_length = self.config.max_seq_length
        dim = int(encoder.get_embedding_dimension())
        head = linear_head(np.zeros((len(labels), dim)), np.zeros(len(labels)), device)
        return EncoderClassifier(encoder, head, labels), fingerprint

    def _labelled(
        self, model: EncoderClassifier, examples: Sequence[Example]
    ) -> list[LabelledText]:
        ids = model.token_ids([e.input for e in examples], self.config.max_seq_length)
        return [
            LabelledText(e.id, row, model.labels.index(e.target))
            for e, row in zip(examples, ids, strict=True)
        ]

    def _train_model(
        self,
        model: EncoderClassifier,
        train: list[LabelledText],
        dev: list[LabelledText],
        checkpoint: Path,
        ctx: RunContext,
    ) -> dict[str, Any]:
        import torch

        config = self.config
        began = time.perf_counter()
        head_record = self._fit_head(model, self._train)
        frozen = self._dev_quality(model, ctx)
        torch.manual_seed(ctx.seed)
        if config.gradient_checkpointing:
            model.encoder.gradient_checkpointing_enable({"use_reentrant": False})
        objective = self.objective(model)
        params = objective.parameters_to_train()
        if checkpoint.exists():
            ctx.log(f"{self.name}: resuming training from {checkpoint}")
        metric = self._dev_metric(model, ctx) if config.select_on == "primary" else None
        train_items = self.items(train, ctx.seed)
        loop_began = time.perf_counter()
        outcome = run_training(
            objective,
            train_items,
            self.dev_items(dev, ctx.seed),
            replace(config.training_settings(ctx.seed), evaluate_at_start=True),
            checkpoint,
            LogProgress(self.name, ctx.log),
            metric,
        )
        loop_s = time.perf_counter() - loop_began
        check_divergence(self.name, outcome, config.learning_rate, ctx.log)
        keep_best(params, outcome)
        objective.set_training(False)
        head_record.update(self.after_training(model))
        tuned = self._dev_quality(model, ctx)
        total = sum(p.numel() for p in model.parameters().values())
        return {
            "device": model.device,
            "precision": "float32",
            **outcome.record,
            # All of it is the one-time cost: the loop (over every session, when resumed),
            # the heads' fits and the dev answers around it.
            "wall_s": round(outcome.record["wall_s"] + time.perf_counter() - began - loop_s, 3),
            "train_examples": len(train),
            "train_items": len(train_items),
            "trainable_params": int(sum(p.numel() for p in params.values())),
            "total_params": int(total),
            "head": head_record,
            "dev_quality": {
                "metric": ctx.task.primary_metric,
                "n": len(self.dev_sample),
                "frozen": frozen,
                "tuned": tuned,
            },
            "reused": False,
        }

    def _fit_head(self, model: EncoderClassifier, examples: Sequence[Example]) -> dict[str, Any]:
        """Fit the logistic regression on the model's current embeddings of ``examples`` and
        make it the model's head."""
        import torch

        began = time.perf_counter()
        vectors = model.embed([e.input for e in examples], self.config.batch_size)
        weight, bias, iterations = logistic_regression_head(
            vectors, [e.target for e in examples], model.labels, self.config.C, self.config.max_iter
        )
        with torch.no_grad():
            model.head.weight.copy_(torch.as_tensor(weight))
            model.head.bias.copy_(torch.as_tensor(bias))
        return {
            "kind": "logistic regression",
            "C": self.config.C,
            "iterations": iterations,
            "converged": iterations < self.config.max_iter,
            "fit_s": round(time.perf_counter() - began, 4),
        }

    def _dev_quality(self, model: EncoderClassifier, ctx: RunContext) -> dict[str, Any] | None:
        """The primary metric on the dev sample as the model answers now, with its 95%
        interval (before training: the frozen encoder under the logistic regression)."""
        if not self.dev_sample:
            return None
        predictions = self._answer(model, self.dev_sample)
        record, _ = score_predictions(
            ctx.task.type, self.dev_sample, predictions, ctx.task.primary_metric, 200, ctx.seed
        )
        quality: dict[str, Any] = record["quality"]
        return {"value": quality["value"], "ci95": quality.get("ci95")}

    def _dev_metric(self, model: EncoderClassifier, ctx: RunContext) -> Callable[[], float]:
        """The primary metric on the dev sample with the current weights."""

        def metric() -> float:
            self.before_dev_metric(model)
            quality = self._dev_quality(model, ctx)
            return float(quality["value"]) if quality else math.nan

        return metric

    def before_dev_metric(self, model: EncoderClassifier) -> None:
        """Bring the head up to date with the encoder before a dev evaluation."""

    # -- answering ----------------------------------------------------------------------

    def predict(self, batch: Sequence[Example]) -> list[Prediction]:
        assert self._model is not None, "prepare() must run before predict()"
        return self._answer(self._model, batch)

    def _answer(self, model: EncoderClassifier, batch: Sequence[Example]) -> list[Prediction]:
        scores, lengths = model.scores([e.input for e in batch], self.config.batch_size)
        predictions = []
        for example, row, length in zip(batch, scores, lengths, strict=True):
            shifted = row - row.max()
            log_probability = float(-np.log(np.exp(shifted).sum()))
            label = model.labels[int(row.argmax())]
            predictions.append(
                Prediction(
                    example.id,
                    raw_output=label,
                    prediction=label,
                    input_tokens=length,
                    output_tokens=0,
                    extra={
                        "logprob": round(log_probability, 6),
                        "context": {"probability": round(math.exp(log_probability), 4)},
                        "confidence": round(math.exp(log_probability), 6),
                    },
                )
            )
        return predictions

    def base_predict(self, batch: Sequence[Example]) -> list[Prediction]:
        """The frozen encoder with a logistic regression fitted on the same train split (the
        integrity check: did training change the answers?)."""
        if self._frozen is None:
            assert self._model is not None
            self._frozen, _ = self._untrained(self._model.labels, self._model.device)
            self._fit_head(self._frozen, self._train)
        return self._answer(self._frozen, batch)

    def visible_texts(self) -> list[str]:
        """No LLM is shown any text: nothing to check for contamination."""
        return []


class EncoderFinetuneArm(EncoderTuningArm):
    config_model = EncoderFinetuneConfig
    method = "encoder-finetune"

    def objective(self, model: EncoderClassifier) -> Trainable:
        return ClassificationObjective(model)

    def items(self, texts: list[LabelledText], seed: int) -> Sequence[TrainingItem]:
        return texts


class SetFitArm(EncoderTuningArm):
    config_model = SetFitConfig
    method = "setfit"

    def _rounds(self) -> int:
        assert isinstance(self.config, SetFitConfig)
        return self.config.pair_rounds

    def objective(self, model: EncoderClassifier) -> Trainable:
        return ContrastiveObjective(model)

    def items(self, texts: list[LabelledText], seed: int) -> Sequence[TrainingItem]:
        return sample_pairs(texts, self._rounds(), seed)

    def dev_items(self, texts: list[LabelledText], seed: int) -> Sequence[TrainingItem]:
        """One round of dev pairs: enough for the dev loss, cheap at every evaluation."""
        return sample_pairs(texts, 1, seed)

    def before_dev_metric(self, model: EncoderClassifier) -> None:
        self._fit_head(model, self._train)

    def after_training(self, model: EncoderClassifier) -> dict[str, Any]:
        """The head on the tuned embeddings (SetFit's second stage)."""
        return self._fit_head(model, self._train)
