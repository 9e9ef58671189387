"""Quality metrics per task type. Per-example scores where a metric decomposes, so the
bootstrap (stats.py) can resample examples."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

CLASSIFICATION_METRICS = ["accuracy", "macro_f1"]
GENERATION_METRICS = ["exact_match", "token_f1", "rouge_l"]


def metric_names(task_type: str) -> list[str]:
    """The built-in metrics of a task type (``metric_registry.known_metrics`` adds the user
    metrics)."""
    return CLASSIFICATION_METRICS if task_type == "classification" else GENERATION_METRICS


_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", _PUNCT.sub(" ", text.lower()))
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalise_answer(prediction).split(), normalise_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def generation_scores(
    predictions: Sequence[str], references: Sequence[str]
) -> dict[str, NDArray[np.float64]]:
    """Per-example exact match, token F1 and ROUGE-L F-measure."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = list(zip(predictions, references, strict=True))
    return {
        "exact_match": np.array(
            [float(normalise_answer(p) == normalise_answer(r)) for p, r in pairs]
        ),
        "token_f1": np.array([token_f1(p, r) for p, r in pairs]),
        "rouge_l": np.array([scorer.score(r, p)["rougeL"].fmeasure for p, r in pairs]),
    }


def encode_labels(
    targets: Sequence[str], predictions: Sequence[str | None]
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Integer codes for targets and predictions; an unparsed prediction gets code -1."""
    vocab = {
        label: i
        for i, label in enumerate(sorted(set(targets) | {p for p in predictions if p is not None}))
    }
    y_true = np.array([vocab[t] for t in targets], dtype=np.int64)
    y_pred = np.array([vocab[p] if p is not None else -1 for p in predictions], dtype=np.int64)
    return y_true, y_pred, len(vocab)


def macro_f1_codes(y_true: NDArray[np.int64], y_pred: NDArray[np.int64], n_labels: int) -> float:
    """Macro-F1 over the labels present in targets or (parsed) predictions.

    Same definition as scikit-learn's ``f1_score(average="macro", zero_division=0)`` with
    ``labels`` = that union; an unparsed prediction counts against its true label's recall
    but adds no "no label" class of its own.
    """
    parsed = y_pred >= 0
    true_counts = np.bincount(y_true, minlength=n_labels)
    pred_counts = np.bincount(y_pred[parsed], minlength=n_labels)
    hits = y_true[parsed & (y_true == y_pred)]
    tp = np.bincount(hits, minlength=n_labels)
    present = (true_counts + pred_counts) > 0
    if not present.any():
        return 0.0
    f1 = 2 * tp[present] / (true_counts[present] + pred_counts[present])
    return float(f1.mean())
