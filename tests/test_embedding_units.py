"""The embedding baselines' pure logic: voting, and the task types they accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_suite
from tunevsprompt.arms.embedding import vote
from tunevsprompt.errors import SuiteError
from tunevsprompt.suite.loader import load_suite


def test_similarity_votes_outweigh_a_majority_of_weak_neighbours() -> None:
    near = [("a", 0.9), ("b", 0.3), ("b", 0.3), ("a", 0.2), ("b", 0.2)]
    assert vote(near, "similarity") == "a"  # 1.1 against 0.8
    assert vote(near, "uniform") == "b"  # three votes against two


def test_a_tie_goes_to_the_label_of_the_nearest_neighbour() -> None:
    assert vote([("b", 0.5), ("a", 0.5)], "similarity") == "b"
    assert vote([("a", 0.9), ("b", 0.8), ("b", 0.1), ("a", 0.0)], "uniform") == "a"
    assert vote([], "uniform") is None


def test_the_classifiers_load_with_their_keys(five_intent_dir: Path) -> None:
    arms = (
        "  - name: knn\n    type: embed-knn\n    k: 3\n    weighting: uniform\n"
        "  - name: linear\n    type: embed-linear\n    C: 0.5\n    class_weight: balanced\n"
    )
    configs = {a.name: a for a in write_suite(five_intent_dir, "embedding", arms).arms}
    assert configs["knn"].k == 3 and configs["linear"].C == 0.5


@pytest.mark.parametrize(
    ("arm", "says"),
    [
        ("  - name: knn\n    type: embed-knn\n", "embed-knn is for classification tasks"),
        ("  - name: lin\n    type: embed-linear\n", "use nearest-answer"),
    ],
)
def test_a_classifier_on_a_generation_task_is_refused_at_load_time(
    tmp_path: Path, arm: str, says: str
) -> None:
    (tmp_path / "t.jsonl").write_text('{"id": "1", "q": "a?", "a": "b"}\n')
    (tmp_path / "suite.yaml").write_text(
        "name: gen\ntask:\n  type: generation\n  data: {train: t.jsonl, test: t.jsonl}\n"
        "  input_field: q\n  target_field: a\n  id_field: id\n  instruction: Answer.\n"
        "arms:\n" + arm
    )
    with pytest.raises(SuiteError) as error:
        load_suite(tmp_path / "suite.yaml")
    text = error.value.problems[0].render()
    assert "arms[0].type" in text and says in text


def test_nearest_answer_on_a_classification_task_points_to_knn(five_intent_dir: Path) -> None:
    with pytest.raises(SuiteError, match="use embed-knn"):
        write_suite(five_intent_dir, "lookup", "  - name: faq\n    type: nearest-answer\n")
