"""The fine-tuned encoder arms' pure parts: SetFit's pair sampling, the logistic-regression
head as a linear layer, and the config checks (classification only, sweeps)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tunevsprompt.arms.encoder.config import EncoderFinetuneConfig, SetFitConfig
from tunevsprompt.arms.encoder.items import LabelledText, sample_pairs
from tunevsprompt.arms.encoder.model import logistic_regression_head
from tunevsprompt.measure.integrity import quality_against_base


def texts(labels: list[int]) -> list[LabelledText]:
    return [LabelledText(f"e{i}", (101, i + 1000, 102), label) for i, label in enumerate(labels)]


def test_each_round_pairs_every_example_once_with_its_label_and_once_with_another() -> None:
    examples = texts([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pairs = sample_pairs(examples, 3, seed=0)
    assert len(pairs) == 3 * 2 * len(examples)
    anchors = Counter((p.first.id, p.same) for p in pairs)
    assert set(anchors.values()) == {3}  # per example and kind, once per round
    assert all(p.first.id != p.second.id for p in pairs)
    same = [p for p in pairs if p.same]
    assert all(p.first.label == p.second.label for p in same)
    assert len(same) == len(pairs) // 2


def test_pairs_are_the_same_for_a_seed_and_differ_across_seeds() -> None:
    examples = texts([0, 1, 2, 0, 1, 2, 0, 1, 2])

    def ids(seed: int) -> list[tuple[str, str]]:
        return [(p.first.id, p.second.id) for p in sample_pairs(examples, 2, seed)]

    assert ids(0) == ids(0)
    assert ids(0) != ids(1)


def test_a_label_with_one_example_gets_no_positive_pair() -> None:
    pairs = sample_pairs(texts([0, 1, 1]), 1, seed=0)
    assert [p.same for p in pairs if p.first.id == "e0"] == [False]


@pytest.mark.parametrize("n_classes", [2, 4])
def test_the_head_as_a_linear_layer_gives_scikit_learns_probabilities(n_classes: int) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 8))
    labels = [f"l{i % n_classes}" for i in range(60)]
    classes = ["unseen", *reversed(sorted(set(labels)))]  # another order, one label never seen
    weight, bias, iterations = logistic_regression_head(vectors, labels, classes, 1.0, 1000)
    assert weight.shape == (len(classes), 8) and iterations > 0
    scores = vectors @ weight.T + bias
    probabilities = np.exp(scores - scores.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit(vectors, labels)
    expected = fitted.predict_proba(vectors)
    for column, name in enumerate(fitted.classes_):
        np.testing.assert_allclose(
            probabilities[:, classes.index(name)], expected[:, column], atol=1e-5
        )
    assert probabilities[:, 0].max() < 1e-6  # the unseen label is never chosen


@pytest.mark.parametrize("config", [EncoderFinetuneConfig, SetFitConfig])
def test_an_encoder_arm_is_for_classification_only(config: type[SetFitConfig]) -> None:
    problems = config(name="x").problems_for_task("generation")
    assert problems and problems[0][0] == "type"
    assert "classification tasks only" in problems[0][1]
    assert config(name="x").problems_for_task("classification") == []


def test_a_sweep_may_vary_training_keys_but_not_how_the_arm_answers() -> None:
    swept = SetFitConfig.model_validate(
        {"name": "x", "sweep": {"params": {"learning_rate": [1e-5, 2e-5], "pair_rounds": [2]}}}
    )
    assert swept.problems_for_task("classification") == []
    answering = SetFitConfig.model_validate(
        {"name": "x", "sweep": {"params": {"integrity_sample": [4, 8]}}}
    )
    assert answering.problems_for_task("classification")[0][0] == "sweep.params.integrity_sample"


def test_the_training_key_ignores_keys_that_do_not_change_the_weights() -> None:
    one = EncoderFinetuneConfig(name="a", batch_size=8, integrity_sample=4)
    other = EncoderFinetuneConfig(name="b", batch_size=64)
    assert one.training_identity() == other.training_identity()
    assert EncoderFinetuneConfig(name="a", epochs=2).training_identity() != (
        one.training_identity()
    )


def test_the_paired_difference_from_the_base_model_is_for_0_1_metrics_only() -> None:
    tuned = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    base = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    record = quality_against_base(tuned, base, "accuracy")
    assert record is not None
    assert record["tuned"] == 0.75 and record["base"] == 0.5 and record["n"] == 8
    assert record["difference"] == 0.25  # 3 examples only tuned got right, 1 only base
    low, high = record["ci95"]
    assert low < 0.25 < high and low > -1 and high < 1
    assert quality_against_base([0.5, 1.0], [1.0, 0.0], "rouge_l") is None
    assert quality_against_base([1.0, None], [1.0, 0.0], "macro_f1") is None
