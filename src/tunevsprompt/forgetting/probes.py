"""Probe sets as runnable measurements: each one runs on a model and returns per-item
values, from which the probe's metric is computed on any subset of items (what the paired
bootstrap resamples)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from tunevsprompt.forgetting.config import ProbeConfig
from tunevsprompt.forgetting.sources import ChoiceItem
from tunevsprompt.generation.base import Generator, TextScorer
from tunevsprompt.generation.errors import GeneratorError
from tunevsprompt.task.types import Example, Message, Prediction

Indices = NDArray[np.int64]


@dataclass
class ProbeRun:
    """One model's results on one probe: per-item arrays and the rows for the samples file."""

    values: dict[str, NDArray[np.float64]]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(next(iter(self.values.values())))


class Probe(Protocol):
    """A probe set bound to its items. ``metrics`` lists what it reports, headline first."""

    config: ProbeConfig
    metrics: list[str]
    higher_is_better: bool
    description: dict[str, Any]

    def run(self, generator: Generator) -> ProbeRun: ...

    def metric(self, run: ProbeRun, name: str, idx: Indices) -> float:
        """The metric ``name`` over the items ``idx`` (with repeats, as a resample)."""
        ...


class PerplexityProbe:
    """Perplexity of held-out text: exp of the mean token NLL over the windows."""

    higher_is_better = False

    def __init__(self, config: ProbeConfig, text: str, source_note: str):
        self.config = config
        self.metrics = ["perplexity"]
        self.text = text
        self.description = {
            "kind": "perplexity",
            "source": config.source,
            "source_note": source_note,
            "window": config.window,
            "max_tokens": config.max_tokens,
        }

    def run(self, generator: Generator) -> ProbeRun:
        if not isinstance(generator, TextScorer):
            raise GeneratorError(
                f"probe {self.config.name}: this model cannot score plain text, so perplexity "
                "cannot be measured on it"
            )
        windows = generator.text_nll(self.text, self.config.window, self.config.max_tokens)
        if not windows:
            raise GeneratorError(
                f"probe {self.config.name}: the text is shorter than two tokens; give more text"
            )
        rows = [
            {"item": f"window-{i}", "prompt": w.text, "nll": round(w.nll, 6), "tokens": w.tokens}
            for i, w in enumerate(windows)
        ]
        return ProbeRun(
            {
                "nll": np.array([w.nll for w in windows], dtype=np.float64),
                "tokens": np.array([w.tokens for w in windows], dtype=np.float64),
            },
            rows,
        )

    def metric(self, run: ProbeRun, name: str, idx: Indices) -> float:
        return math.exp(float(run.values["nll"][idx].sum() / run.values["tokens"][idx].sum()))


class MultipleChoiceProbe:
    """Questions scored by the log-likelihood of each option as the model's reply: acc takes
    the likeliest option, acc_norm the likeliest per character (lm-evaluation-harness)."""

    higher_is_better = True

    def __init__(self, config: ProbeConfig, items: list[ChoiceItem], source_note: str):
        self.config = config
        self.items = items
        self.metrics = [config.metric, *(m for m in ("acc", "acc_norm") if m != config.metric)]
        options = {len(item.choices) for item in items}
        chance = sum(1 / len(item.choices) for item in items) / max(len(items), 1)
        self.description = {
            "kind": "multiple-choice",
            "source": config.source,
            "source_note": source_note,
            "options": sorted(options),
            "chance": round(chance, 6),
        }

    def run(self, generator: Generator) -> ProbeRun:
        acc, acc_norm, rows = [], [], []
        for item in self.items:
            scores = generator.score((Message("user", item.question),), list(item.choices))
            logprobs = scores.logprobs
            best = max(range(len(logprobs)), key=lambda i: logprobs[i])
            per_char = [lp / max(len(c), 1) for lp, c in zip(logprobs, item.choices, strict=True)]
            best_norm = max(range(len(per_char)), key=lambda i: per_char[i])
            acc.append(float(best == item.answer))
            acc_norm.append(float(best_norm == item.answer))
            rows.append(
                {
                    "item": item.id,
                    "prompt": item.question,
                    "choices": list(item.choices),
                    "answer": item.answer,
                    "logprobs": [round(v, 6) for v in logprobs],
                    "chosen": best,
                    "chosen_norm": best_norm,
                }
            )
        return ProbeRun(
            {
                "acc": np.array(acc, dtype=np.float64),
                "acc_norm": np.array(acc_norm, dtype=np.float64),
            },
            rows,
        )

    def metric(self, run: ProbeRun, name: str, idx: Indices) -> float:
        return float(run.values[name][idx].mean())


PredictWith = Callable[[Generator, Sequence[Example]], list[Prediction]]
PromptText = Callable[[Example], str]
Scorer = Callable[[Sequence[Example], list[Prediction]], list[dict[str, float]]]


class SuiteProbe:
    """Another suite's eval set, answered by one of its prompting arms: the task the model
    must keep doing. The arm is prepared once; base and tuned models answer the same prompts."""

    higher_is_better = True

    def __init__(
        self,
        config: ProbeConfig,
        examples: Sequence[Example],
        metric: str,
        predict_with: PredictWith,
        prompt_text: PromptText,
        scorer: Scorer,
        description: dict[str, Any],
        batch_size: int = 8,
    ):
        self.config = config
        self.examples = list(examples)
        self.metrics = [metric]
        self.predict_with = predict_with
        self.prompt_text = prompt_text
        self.scorer = scorer
        self.batch_size = batch_size
        self.description = {"kind": "suite", "source": config.source, **description}

    def run(self, generator: Generator) -> ProbeRun:
        predictions: list[Prediction] = []
        for start in range(0, len(self.examples), self.batch_size):
            predictions.extend(
                self.predict_with(generator, self.examples[start : start + self.batch_size])
            )
        per_example = self.scorer(self.examples, predictions)
        metric = self.metrics[0]
        rows = [
            {
                "item": e.id,
                "prompt": self.prompt_text(e),
                "target": e.target,
                "output": p.raw_output,
                "prediction": p.prediction,
                metric: s[metric],
            }
            for e, p, s in zip(self.examples, predictions, per_example, strict=True)
        ]
        values = np.array([s[metric] for s in per_example], dtype=np.float64)
        return ProbeRun({metric: values}, rows)

    def metric(self, run: ProbeRun, name: str, idx: Indices) -> float:
        return float(run.values[name][idx].mean())
