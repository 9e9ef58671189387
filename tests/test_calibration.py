"""Calibration and risk–coverage on built confidences (no model): ECE against a hand
computation, the Brier score, the reliability bins, and risk–coverage's monotonicity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunevsprompt.explain.calibration import (
    calibration,
    ece,
    reliability,
    risk_coverage,
)


def test_ece_matches_a_hand_computation() -> None:
    confidence = np.array([0.95, 0.95, 0.85, 0.55, 0.55, 0.55, 0.15])
    right = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    # Bins: (0.9, 1]: 2 answers, accuracy 0.5, confidence 0.95 -> |0.5 - 0.95| * 2/7
    #       (0.8, 0.9]: 1, accuracy 1, 0.85 -> 0.15 * 1/7
    #       (0.5, 0.6]: 3, accuracy 1/3, 0.55 -> |1/3 - 0.55| * 3/7
    #       (0.1, 0.2]: 1, accuracy 0, 0.15 -> 0.15 * 1/7
    hand = (0.45 * 2 + 0.15 + (0.55 - 1 / 3) * 3 + 0.15) / 7
    assert ece(confidence, right) == pytest.approx(hand)
    bins = reliability(confidence, right)
    assert [b["n"] for b in bins] == [1, 3, 1, 2]
    assert bins[1]["accuracy"]["value"] == pytest.approx(1 / 3)


def test_a_calibrated_arm_scores_low_and_an_overconfident_one_high() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, 3000)
    calibrated = (rng.random(3000) < confidence).astype(float)
    overconfident = (rng.random(3000) < confidence - 0.25).astype(float)
    good = calibration(confidence, calibrated)
    bad = calibration(confidence, overconfident)
    assert good["ece"]["value"] < 0.03 and good["ece"]["ci95"][0] < 0.03
    assert bad["ece"]["ci95"][0] > 0.15  # the truth is 0.25
    assert good["brier"]["value"] == pytest.approx(np.mean((confidence - calibrated) ** 2))
    low, high = good["brier"]["ci95"]
    assert low < good["brier"]["value"] < high
    for figure in (good["ece"], bad["ece"]):
        assert figure["ci95"][0] <= figure["value"] <= figure["ci95"][1]


def test_risk_coverage_falls_as_coverage_rises_when_confidence_ranks_the_answers() -> None:
    rng = np.random.default_rng(2)
    right = (rng.random(500) < 0.7).astype(float)
    # Every right answer more confident than every wrong one.
    confidence = np.where(right == 1, rng.uniform(0.6, 1.0, 500), rng.uniform(0.0, 0.59, 500))
    curve, area = risk_coverage(confidence, right)
    accuracy = [row["accuracy"]["value"] for row in curve]
    assert accuracy == sorted(accuracy, reverse=True)
    assert accuracy[0] == 1.0 and accuracy[-1] == pytest.approx(right.mean())
    assert [row["coverage"] for row in curve] == [round(0.1 * k, 1) for k in range(1, 11)]
    assert curve[-1]["answered"] == 500
    # Confidence that says nothing: the curve is flat within its intervals.
    flat, flat_area = risk_coverage(rng.random(500), right)
    assert area > flat_area
    for row in flat:
        low, high = row["accuracy"]["ci95"]
        assert low <= right.mean() <= high or row["answered"] < 100


def test_the_threshold_is_chosen_to_maximise_dev_accuracy() -> None:
    from tunevsprompt.explain.abstention import choose_threshold

    confidences = [0.9, 0.8, 0.3, 0.2, 0.6]
    predictions = ["a", "b", "a", "b", "a"]
    targets = ["a", "b", "oos", "oos", "a"]
    threshold, without, with_it = choose_threshold(confidences, predictions, targets, "oos")
    assert without == pytest.approx(3 / 5) and with_it == 1.0
    assert 0.3 < threshold <= 0.6  # abstains on the two unsure ones, no more
    # Nothing to gain: the lowest threshold (never abstain).
    none = choose_threshold([0.9, 0.1], ["a", "b"], ["a", "b"], "oos")
    assert none[0] == 0.0 and none[1] == none[2] == 1.0


def test_abstention_figures_split_out_of_scope_and_in_scope() -> None:
    from tunevsprompt.explain.abstention import abstention_figures

    rows = [
        {"target": "a", "prediction": "a", "confidence": 0.9},
        {"target": "a", "prediction": "b", "confidence": 0.4},
        {"target": "oos", "prediction": "a", "confidence": 0.2},
        {"target": "oos", "prediction": "b", "confidence": 0.7},
    ]
    found = abstention_figures(rows, "oos", 0.5)
    assert found is not None
    before, after = found["as_answered"], found["abstaining"]
    assert before["out_of_scope_recall"]["value"] == 0.0
    assert after["out_of_scope_recall"]["value"] == 0.5
    assert before["in_scope_accuracy"]["value"] == 0.5 == after["in_scope_accuracy"]["value"]
    assert after["answered_out_of_scope"]["value"] == 0.5 and after["accuracy"]["n"] == 4
    change = found["change"]
    assert change["out_of_scope_recall"]["difference"] == 0.5
    assert change["out_of_scope_recall"]["n"] == 2 and change["in_scope_accuracy"]["n"] == 2
    assert change["in_scope_accuracy"]["difference"] == 0.0
    low, high = change["out_of_scope_recall"]["ci95"]
    assert low < 0.5 < high
    assert abstention_figures([{**rows[0], "confidence": None}], "oos", 0.5) is None


@pytest.mark.slow
def test_abstaining_raises_out_of_scope_recall(tmp_path: Path) -> None:
    """embed-linear on four intents with a few out-of-scope training examples: abstaining
    below the dev-chosen threshold answers more of the test's out-of-scope messages."""
    import json

    from helpers import write_out_of_scope_suite
    from tunevsprompt.runner import RunOptions, SilentObserver, run_compare
    from tunevsprompt.suite.loader import load_suite

    write_out_of_scope_suite(tmp_path, "  - {name: linear, type: embed-linear}\n")
    run = run_compare(
        load_suite(tmp_path / "suite.yaml"),
        RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache"),
        SilentObserver(),
    )
    results = json.loads((run / "results.json").read_text())
    chosen = results["arms"]["linear"]["abstention"]
    assert chosen["label"] == "oos" and chosen["dev_n"] == 36 and chosen["threshold"] > 0
    assert chosen["dev_accuracy_abstaining"] >= chosen["dev_accuracy_as_answered"]
    figures = results["explanations"]["abstention"]["linear"]
    before = figures["as_answered"]["out_of_scope_recall"]
    after = figures["abstaining"]["out_of_scope_recall"]
    assert before["n"] == after["n"] == 24
    assert after["value"] > before["value"], figures
    assert 'id="abstention-table"' in (run / "report.html").read_text()


def test_an_ece_gate_passes_fails_or_errs_on_the_interval() -> None:
    from tunevsprompt.decide.config import GatesConfig
    from tunevsprompt.decide.gate import evaluate_gates

    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, 2000)
    right = (rng.random(2000) < confidence).astype(float)
    figures = calibration(confidence, right)
    low, high = figures["ece"]["ci95"]
    results = {
        "arms": {"x": {}, "y": {}},
        "recommendation": {"arm": "x"},
        "explanations": {"calibration": {"x": figures}},
    }
    status = [
        evaluate_gates(results, GatesConfig(max_ece=bar)).results[0]
        for bar in (min(high + 0.01, 1.0), low / 2)
    ]
    assert [s.status for s in status] == ["pass", "fail"]
    straddling = evaluate_gates(results, GatesConfig(max_ece=(low + high) / 2)).results[0]
    assert straddling.status == "fail" and "not demonstrated" in straddling.message
    other = evaluate_gates(results, GatesConfig(max_ece=0.1, arm="y")).results[0]
    assert other.status == "error" and "no calibration figures" in other.message
