"""Label mapping, parsing, metrics and bootstrap: pure logic, no model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from tunevsprompt.measure.metrics import encode_labels, generation_scores, macro_f1_codes, token_f1
from tunevsprompt.task.labels import LabelSet, is_parse_failure

LABELS = LabelSet(
    ["card_arrival", "Refund_not_showing_up", "card_linking", "top_up_failed", "top_up"]
)


def test_surface_forms_are_lower_case_with_spaces() -> None:
    assert LABELS.surface["Refund_not_showing_up"] == "refund not showing up"
    assert LABELS.shown()[0] == "card arrival"


def test_colliding_surface_forms_keep_originals() -> None:
    labels = LabelSet(["Card_arrival", "card_arrival"])
    assert labels.shown() == ["Card_arrival", "card_arrival"]


@pytest.mark.parametrize(
    ("text", "label", "how"),
    [
        ("card arrival", "card_arrival", "exact"),
        ("card_arrival", "card_arrival", "exact"),
        ("Card Arrival.", "card_arrival", "normalised"),
        ("  REFUND NOT SHOWING UP!\nmore text", "Refund_not_showing_up", "normalised"),
        ("The intent is top up failed.", "top_up_failed", "contained"),
        ("I think: top up", "top_up", "contained"),
        ("card arival", "card_arrival", "nearest"),
        ("", None, "failed"),
        ("zzzz qqqq wwww", None, "failed"),
    ],
)
def test_parse(text: str, label: str | None, how: str) -> None:
    assert LABELS.parse(text) == (label, how)


def test_parse_modes_are_strict_when_asked() -> None:
    assert LABELS.parse("Card Arrival.", "exact") == (None, "failed")
    assert LABELS.parse("card arival", "normalised") == (None, "failed")
    assert (
        is_parse_failure("nearest")
        and is_parse_failure("failed")
        and not is_parse_failure("contained")
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_never_raises_and_returns_a_known_label(text: str) -> None:
    label, how = LABELS.parse(text)
    assert label is None or label in LABELS.labels
    assert how in {"exact", "normalised", "contained", "nearest", "failed"}


def test_token_f1_and_generation_scores() -> None:
    assert token_f1("the cat sat", "cat sat") == 1.0
    assert token_f1("dog", "cat") == 0.0
    scores = generation_scores(["Paris", "a dog ran"], ["paris", "the cat ran"])
    assert scores["exact_match"].tolist() == [1.0, 0.0]
    assert 0 < scores["token_f1"][1] < 1 and 0 < scores["rouge_l"][1] < 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.sampled_from(["a", "b", "c", "e", None])),
        min_size=1,
        max_size=30,
    )
)
def test_macro_f1_matches_sklearn(pairs: list[tuple[str, str | None]]) -> None:
    targets = [t for t, _ in pairs]
    preds = [p for _, p in pairs]
    y_true, y_pred, n = encode_labels(targets, preds)
    labels = sorted(set(targets) | {p for p in preds if p is not None})
    expected = f1_score(
        targets,
        [p if p is not None else "<none>" for p in preds],
        labels=labels,
        average="macro",
        zero_division=0,
    )
    assert macro_f1_codes(y_true, y_pred, n) == pytest.approx(expected)
