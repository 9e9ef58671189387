"""Where the arms differ, on built data (no model): per-class figures against scikit-learn,
their intervals, the confusions and the disagreements against the paired counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from tunevsprompt.explain.assemble import anchor_arm, explanations
from tunevsprompt.explain.confusions import NO_LABEL, confusion_matrix, top_confusions
from tunevsprompt.explain.disagreements import against
from tunevsprompt.explain.outcomes import classification_outcomes
from tunevsprompt.explain.per_class import f1_interval, per_class
from tunevsprompt.measure.metrics import encode_labels, macro_f1_codes

LABELS = ["a", "b", "c", "d"]
FIXTURE = Path(__file__).parent / "fixtures" / "run-support-bot"


def built_rows(seed: int = 3, n: int = 120) -> list[dict[str, Any]]:
    """Two arms on the same examples: "good" right 80% of the time, "poor" 50%, some
    answers unparsed; label d never predicted by poor."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        target = LABELS[i % 4]
        for arm, skill in (("good", 0.8), ("poor", 0.5)):
            draw = rng.random()
            if draw < skill:
                prediction: str | None = target
            elif draw < skill + 0.05:
                prediction = None
            else:
                prediction = LABELS[(i + 1 + int(rng.integers(0, 2))) % 3]
            rows.append(
                {
                    "arm": arm,
                    "id": f"t{i:03d}",
                    "target": target,
                    "prediction": prediction,
                    "correct": prediction == target,
                }
            )
    return rows


def test_per_class_figures_match_scikit_learn() -> None:
    rows = built_rows()
    labels, outcomes = classification_outcomes(rows, LABELS)
    for arm in ("good", "poor"):
        mine = per_class(outcomes[arm], labels)
        own = [r for r in rows if r["arm"] == arm]
        y_true = [r["target"] for r in own]
        y_pred = [r["prediction"] or "<none>" for r in own]
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=LABELS, zero_division=0
        )
        for i, row in enumerate(mine):
            assert row["label"] == LABELS[i] and row["support"] == support[i]
            assert row["recall"]["value"] == pytest.approx(recall[i])
            assert row["f1"]["value"] == pytest.approx(f1[i])
            if row["predicted"]:
                assert row["precision"]["value"] == pytest.approx(precision[i])
            else:
                assert row["precision"]["value"] is None
        # Their mean is the run's macro-F1 over the labels present.
        codes = encode_labels([r["target"] for r in own], [r["prediction"] for r in own])
        assert np.mean([r["f1"]["value"] for r in mine]) == pytest.approx(macro_f1_codes(*codes))


def test_every_interval_holds_its_figure_and_f1_stays_honest_on_tiny_classes() -> None:
    labels, outcomes = classification_outcomes(built_rows(), LABELS)
    for row in per_class(outcomes["poor"], labels):
        for key in ("precision", "recall", "f1"):
            figure = row[key]
            if figure["value"] is not None:
                low, high = figure["ci95"]
                assert low <= figure["value"] <= high
    # Two examples, both missed, never predicted: recall and F1 could be large.
    low, high = f1_interval(hits=0, predicted=0, support=2)
    assert low == 0 and high > 0.8
    assert f1_interval(hits=5, predicted=5, support=0) is None
    # Many examples, all right: the interval closes in on 1 from below.
    low, high = f1_interval(hits=400, predicted=400, support=400)
    assert 0.98 < low < high == 1.0


def test_f1_interval_covers_the_true_f1_at_least_95_percent() -> None:
    """Simulation: a class of 12 examples in 100, an arm with recall 0.6 and a false
    positive rate of 0.05 on the others."""
    rng = np.random.default_rng(0)
    support, others, recall, false_rate = 12, 88, 0.6, 0.05
    true_precision = recall * support / (recall * support + false_rate * others)
    true_f1 = 2 * true_precision * recall / (true_precision + recall)
    covered = 0
    for _ in range(2000):
        hits = int(rng.binomial(support, recall))
        false = int(rng.binomial(others, false_rate))
        low, high = f1_interval(hits, hits + false, support)  # type: ignore[misc]
        covered += low <= true_f1 <= high
    assert covered / 2000 >= 0.95


def test_the_worst_classes_come_first() -> None:
    labels, outcomes = classification_outcomes(built_rows(), LABELS)
    from tunevsprompt.report.explain_view import worst_first
    from tunevsprompt.runfolder.results.explanations import ClassFigures

    rows = [ClassFigures.model_validate(r) for r in per_class(outcomes["poor"], labels)]
    ranked = worst_first(rows)
    f1s = [r.f1.value for r in ranked]
    assert f1s == sorted(f1s) and len(ranked) == 4


def test_confusions_count_the_off_diagonal_cells() -> None:
    rows = built_rows()
    labels, outcomes = classification_outcomes(rows, LABELS)
    matrix = confusion_matrix(outcomes["poor"], len(labels))
    assert matrix.sum() == 120 and matrix[:, -1].sum() == sum(
        r["prediction"] is None for r in rows if r["arm"] == "poor"
    )
    top = top_confusions(outcomes["poor"], labels, most=50)
    wrong = sum(not r["correct"] for r in rows if r["arm"] == "poor")
    assert sum(c["count"] for c in top) == wrong
    counts = [c["count"] for c in top]
    assert counts == sorted(counts, reverse=True)
    for cell in top:
        assert cell["target"] != cell["answered"]
        low, high = cell["share"]["ci95"]
        assert low <= cell["share"]["value"] <= high
    assert any(c["answered"] == NO_LABEL for c in top)


def test_disagreements_are_the_paired_table() -> None:
    rows = built_rows()
    _, outcomes = classification_outcomes(rows, LABELS)
    (table,) = against("good", outcomes)
    right = {(r["arm"], r["id"]): r["correct"] for r in rows}
    ids = sorted({r["id"] for r in rows})
    only_good = [i for i in ids if right[("good", i)] and not right[("poor", i)]]
    only_poor = [i for i in ids if right[("poor", i)] and not right[("good", i)]]
    assert table["rival"] == "poor" and table["n"] == 120
    assert table["anchor_only_ids"] == only_good and table["rival_only_ids"] == only_poor
    assert table["anchor_only"] == len(only_good) and table["rival_only"] == len(only_poor)
    assert sum(table[k] for k in ("both_right", "anchor_only", "rival_only", "both_wrong")) == 120


def test_the_anchor_is_the_recommended_then_the_leading_then_the_best_arm() -> None:
    arms = {"x": {"quality": {"value": 0.5}}, "y": {"quality": {"value": 0.7}}}
    assert anchor_arm({"recommendation": {"arm": "x"}, "arms": arms}) == ("x", "recommended")
    assert anchor_arm({"recommendation": {"leading": "x"}, "arms": arms}) == ("x", "leading")
    assert anchor_arm({"recommendation": {}, "arms": arms}) == ("y", "highest headline figure")


def test_tvp_report_writes_the_explanations_and_keeps_them_without_samples(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from tunevsprompt.cli import main

    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    assert CliRunner().invoke(main, ["report", str(run)]).exit_code == 0
    results = json.loads((run / "results.json").read_text())
    found = results["explanations"]
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert found == explanations(results, samples)
    assert set(found["per_class"]) == set(results["arms"])
    for arm, rows in found["per_class"].items():
        right = sum(r["correct"] for r in samples if r["arm"] == arm)
        assert sum(r["correct"] for r in rows) == right
    # Without samples.jsonl (results.json alone, a CI artifact) they are kept as written.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(run / "results.json", alone / "results.json")
    assert CliRunner().invoke(main, ["report", str(alone)]).exit_code == 0
    assert json.loads((alone / "results.json").read_text())["explanations"] == found


def test_a_class_recall_gate_passes_fails_or_errs_on_the_interval(tmp_path: Path) -> None:
    from tunevsprompt.decide.config import GatesConfig
    from tunevsprompt.decide.gate import evaluate_gates

    rows = built_rows(n=400)
    results: dict[str, Any] = {
        "task": {"type": "classification", "labels": LABELS},
        "arms": {"good": {"quality": {"value": 0.8}}, "poor": {"quality": {"value": 0.5}}},
        "recommendation": {"arm": "good"},
    }
    results["explanations"] = explanations(results, rows)
    recall = {r["label"]: r["recall"] for r in results["explanations"]["per_class"]["good"]}
    low, high = recall["a"]["ci95"]
    gates = GatesConfig(min_class_recall={"a": round(low - 0.05, 3), "b": min(high + 0.05, 0.99)})
    report = evaluate_gates(results, gates)
    assert report.arm == "good"
    status = {r.name: r.status for r in report.results}
    assert status == {"class_recall[a]": "pass", "class_recall[b]": "fail"}
    straddled = evaluate_gates(results, GatesConfig(min_class_recall={"a": (low + high) / 2}))
    assert "not demonstrated" in straddled.results[0].message
    missing = evaluate_gates(results, GatesConfig(min_class_recall={"z": 0.5}))
    assert missing.results[0].status == "error"
    results.pop("explanations")
    older = evaluate_gates(results, GatesConfig(min_class_recall={"a": 0.5}))
    assert older.results[0].status == "error" and "tvp report" in older.results[0].message
    with pytest.raises(ValueError):
        GatesConfig(min_class_recall={"a": 1.5})


def test_the_class_recall_flag(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tunevsprompt.cli import main
    from tunevsprompt.decide.gate import GateUsageError, parse_class_recall_flags

    assert parse_class_recall_flags(("a=0.8", "x=y=0.5")) == {"a": 0.8, "x=y": 0.5}
    assert parse_class_recall_flags(()) is None
    for bad in ("a", "=0.5", "a=1.2", "a=high"):
        with pytest.raises(GateUsageError):
            parse_class_recall_flags((bad,))
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    assert CliRunner().invoke(main, ["report", str(run)]).exit_code == 0
    result = CliRunner().invoke(
        main,
        ["gate", str(run), "--arm", "lora", "--min-class-recall", "card_arrival=0.0"],
    )
    assert "class_recall[card_arrival] [lora]: PASS" in result.output


def test_slices_give_each_arm_a_figure_per_value() -> None:
    from tunevsprompt.explain.slices import MISSING, slices

    rows = built_rows(n=40)
    for i, row in enumerate(rows):
        row["scores"] = {"accuracy": float(row["correct"])}
        row["slices"] = {"channel": ["app", "web", None][(i // 2) % 3]}
    found = slices(rows, ["channel"], "macro_f1")
    assert found is not None
    channel = found["channel"]
    assert channel["metric"] == "accuracy"  # macro-F1 has no per-example value
    values = {v["value"]: v for v in channel["values"]}
    assert set(values) == {"app", "web", MISSING}
    for value, entry in values.items():
        for arm in ("good", "poor"):
            own = [
                r["correct"]
                for r in rows
                if r["arm"] == arm and (r["slices"]["channel"] or MISSING) == value
            ]
            figure = entry["arms"][arm]
            assert figure["n"] == len(own) == entry["n"]
            assert figure["value"] == pytest.approx(sum(own) / len(own))
            assert figure["ci95"][0] <= figure["value"] <= figure["ci95"][1]
    assert slices(rows, [], "accuracy") is None


def test_rank_confidence_is_the_softmax_over_the_label_scores() -> None:
    import math

    from tunevsprompt.arms.embedding import counted_vote

    weight = [(1 + s) / 2 for s in (0.9, 0.6, 0.3)]
    assert counted_vote([("a", 0.9), ("b", 0.6), ("a", 0.3)], "similarity") == (
        "a",
        pytest.approx((weight[0] + weight[2]) / sum(weight)),
    )
    label, share = counted_vote([("a", 0.5), ("b", -0.3), ("b", -0.4)], "similarity")
    assert label == "a" and share == pytest.approx(0.75 / (0.75 + 0.35 + 0.3))
    assert counted_vote([("a", 0.9), ("b", 0.6), ("b", 0.5)], "uniform")[1] == pytest.approx(2 / 3)
    assert counted_vote([], "uniform") == (None, None)
    logprobs = [-1.0, -2.5, -0.2]
    expected = math.exp(-0.2) / sum(math.exp(x) for x in logprobs)
    assert 1.0 / sum(math.exp(lp - max(logprobs)) for lp in logprobs) == pytest.approx(expected)


@pytest.mark.slow
def test_a_run_with_slices_reports_calibration_and_slices(tmp_path: Path) -> None:
    """Two no-LLM arms on five intents, with a channel column: the samples carry the
    confidence and the slice, results.json the calibration and the slices, the report both."""
    import csv

    from helpers import FIVE_INTENTS, banking_rows, subset
    from tunevsprompt.runner import RunOptions, SilentObserver, run_compare
    from tunevsprompt.suite.loader import load_suite

    for split, per, seed in (("train", 12, 1), ("test", 8, 2)):
        rows = subset(banking_rows(split), FIVE_INTENTS, per, seed)
        with (tmp_path / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "category", "channel"])
            writer.writeheader()
            for i, row in enumerate(rows):
                writer.writerow({**row, "channel": "app" if i % 3 else "web"})
    (tmp_path / "suite.yaml").write_text(
        "name: sliced\n"
        "task:\n  type: classification\n  data: {train: train.csv, test: test.csv}\n"
        "  input_field: text\n  target_field: category\n  instruction: Name the intent.\n"
        "arms:\n  - {name: knn, type: embed-knn, k: 5}\n  - {name: linear, type: embed-linear}\n"
        "slices: [channel]\nlatency: {sample: 0}\n"
    )
    run = run_compare(
        load_suite(tmp_path / "suite.yaml"),
        RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache"),
        SilentObserver(),
    )
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert all(
        0 < r["confidence"] <= 1 and r["slices"]["channel"] in ("app", "web") for r in samples
    )
    explained = json.loads((run / "results.json").read_text())["explanations"]
    assert set(explained["calibration"]) == {"knn", "linear"}
    assert {v["value"] for v in explained["slices"]["channel"]["values"]} == {"app", "web"}
    assert sum(v["n"] for v in explained["slices"]["channel"]["values"]) == 40
    page = (run / "report.html").read_text()
    for anchor in ('id="calibration-table"', 'id="slice-channel"', 'id="chart-reliability"'):
        assert anchor in page
    assert (run / "calibration.csv").read_text().count("\n") == 3
