"""Headline figures from sample rows: which interval and test each kind of metric gets, the
headline metric itself tested (macro-F1, not accuracy), seed-to-seed variance in the
figures, clusters and their design effect, and verdicts that do not depend on the bootstrap
seed. Paired data is built in each test; no model."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tunevsprompt.decide.analyse import Policy, decide
from tunevsprompt.decide.config import DecisionConfig, PricingConfig
from tunevsprompt.measure.comparisons import compare_arms
from tunevsprompt.measure.quality import Figures, QualitySettings
from tunevsprompt.measure.score_table import score_table


def rows(arm: str, targets: list[str], predictions: list[str | None], **extra: Any) -> list[dict]:
    out = []
    for i, (t, p) in enumerate(zip(targets, predictions, strict=True)):
        row = {
            "arm": arm,
            "id": f"e{i}",
            "target": t,
            "prediction": p,
            "scores": {"accuracy": float(t == p)},
            "parse": "rank",
        }
        out.append({**row, **{k: v[i] if isinstance(v, list) else v for k, v in extra.items()}})
    return out


def record(metric: str = "accuracy", **extra: Any) -> dict[str, Any]:
    return {"quality": {"metric": metric, "value": 0.0, "ci95": [0, 0]}, "n": 0, **extra}


def test_binary_metric_gets_clopper_pearson_and_tango() -> None:
    n = 200
    targets = ["a"] * n
    strong = ["a"] * 180 + ["b"] * 20
    weak = ["a"] * 150 + ["b"] * 50
    samples = rows("strong", targets, strong) + rows("weak", targets, weak)
    arms = {"strong": record(), "weak": record()}
    table = score_table(samples, [], arms, "accuracy")
    assert table is not None and table.kind == "mean" and table.n == n
    figures = Figures(table, QualitySettings())
    arm = figures.arm("strong")
    assert arm["method"] == "clopper-pearson" and arm["value"] == pytest.approx(0.9)
    assert arm["ci95"][0] < 0.9 < arm["ci95"][1]
    (pair,) = compare_arms(figures)
    assert pair["method"] == "tango-score" and pair["test"] == "tango-score"
    assert pair["discordance"] == {"a_only": 30, "b_only": 0}
    assert pair["difference"] == pytest.approx(0.15)
    assert pair["ci95"][0] > 0 and pair["verdict"] == "strong better"


def test_a_significant_difference_counts_whatever_the_mde() -> None:
    # n = 1,000, a 3-point loss with p ~ 0.02: the old rule called it INCONCLUSIVE because
    # 0.03 is below the MDE; a significant difference is a difference.
    n = 1000
    targets = ["a"] * n
    better = ["a"] * 700 + ["b"] * 300
    worse = list(better)
    worse[:98] = ["b"] * 98  # 98 examples only `better` gets right...
    worse[700:768] = ["a"] * 68  # ...and 68 only `worse` does: 0.03 apart
    samples = rows("better", targets, better) + rows("worse", targets, worse)
    figures = Figures(
        score_table(samples, [], {"better": record(), "worse": record()}, "accuracy"),  # type: ignore[arg-type]
        QualitySettings(),
    )
    (pair,) = compare_arms(figures)
    assert pair["difference"] == pytest.approx(0.03)
    assert 0.01 < pair["p_value"] < 0.05 and abs(pair["difference"]) < pair["mde"]
    assert pair["verdict"] == "better better" and pair["winner"] == "better"


def imbalanced(n: int = 300) -> tuple[list[str], list[str], list[str]]:
    """90% of the examples are label a. `majority` always answers a; `reader` gets most of
    every class right but misses some a."""
    rng = np.random.default_rng(1)
    targets = ["a"] * int(0.9 * n) + ["b"] * int(0.05 * n) + ["c"] * int(0.05 * n)
    majority = ["a"] * n
    reader = [t if rng.random() < 0.85 else ("b" if t == "a" else "a") for t in targets]
    return targets, majority, reader


def test_the_headline_macro_f1_is_tested_not_accuracy() -> None:
    targets, majority, reader = imbalanced()
    samples = rows("majority", targets, majority) + rows("reader", targets, reader)
    arms = {"majority": record("macro_f1"), "reader": record("macro_f1")}
    table = score_table(samples, [], arms, "macro_f1")
    assert table is not None and table.metric == "macro_f1" and table.kind == "macro_f1"
    figures = Figures(table, QualitySettings(n_boot=10_000))
    fig = figures.arm("reader")
    assert fig["value"] == pytest.approx(f1_score(targets, reader, average="macro"), abs=1e-6)
    assert fig["method"] == "bootstrap-se" and fig["ci95"][0] < fig["value"] < fig["ci95"][1]
    (pair,) = compare_arms(figures)
    # On accuracy the majority arm leads (0.9 vs ~0.85); on macro-F1 it is far behind.
    accuracy = {
        a: np.mean([r["scores"]["accuracy"] for r in samples if r["arm"] == a]) for a in arms
    }
    assert accuracy["majority"] > accuracy["reader"]
    assert pair["metric"] == "macro_f1" and pair["winner"] == "reader"
    assert pair["method"] == "paired-bootstrap-se" and pair["se"] > 0

    results = {
        "task": {"primary_metric": "macro_f1", "type": "classification"},
        "manifest": {"seed": 0},
        "arms": {
            name: {
                **record("macro_f1"),
                "n": 300,
                "throughput_eps": 100.0 if name == "majority" else 50.0,
            }
            for name in arms
        },
    }
    policy = Policy(PricingConfig(), DecisionConfig(), None)
    out = decide(copy.deepcopy(results), samples, policy)
    assert out["comparisons"][0]["metric"] == "macro_f1"
    assert out["recommendation"]["arm"] == "reader"


def test_the_decision_does_not_depend_on_the_bootstrap_seed() -> None:
    targets, majority, reader = imbalanced(400)
    rng = np.random.default_rng(4)
    close = [t if rng.random() < 0.8 else "a" for t in targets]
    samples = (
        rows("majority", targets, majority)
        + rows("reader", targets, reader)
        + rows("close", targets, close)
    )
    results = {
        "task": {"primary_metric": "macro_f1", "type": "classification"},
        "manifest": {"seed": 0},
        "arms": {
            name: {**record("macro_f1"), "n": 400, "throughput_eps": speed}
            for name, speed in (("majority", 300.0), ("reader", 50.0), ("close", 100.0))
        },
    }
    policy = Policy(PricingConfig(), DecisionConfig(margin=0.05, min_quality=0.5), None)
    answers = set()
    bounds = []
    for seed in range(20):
        out = decide(copy.deepcopy(results), samples, policy, bootstrap_seed=seed)
        rec = out["recommendation"]
        answers.add((rec["arm"], tuple(sorted(rec["verdicts"].items()))))
        bounds.append([c["ci95"][1] for c in out["comparisons"]])
    assert len(answers) == 1, answers
    # 10,000 resamples: the interval bounds move by less than 0.005 from seed to seed.
    assert float(np.ptp(np.array(bounds), axis=0).max()) < 0.005


def test_seed_to_seed_variance_widens_the_headline_interval() -> None:
    n = 200
    targets = ["a"] * n
    rng = np.random.default_rng(0)
    base = ["a" if rng.random() < 0.7 else "b" for _ in range(n)]
    tuned_by_seed = {
        seed: ["a" if rng.random() < rate else "b" for _ in range(n)]
        for seed, rate in ((0, 0.80), (1, 0.60), (2, 0.72))
    }
    samples = rows("base", targets, base) + rows("tuned", targets, tuned_by_seed[0])
    seed_samples = [
        {**row, "seed": seed}
        for seed in (1, 2)
        for row in rows("tuned", targets, tuned_by_seed[seed])
    ]
    per_seed = [
        {"seed": s, "quality": {"value": float(np.mean([p == "a" for p in tuned_by_seed[s]]))}}
        for s in (0, 1, 2)
    ]
    tuned = record(seeds={"metric": "accuracy", "values": [0, 1, 2], "per_seed": per_seed})
    arms = {"base": record(), "tuned": tuned}
    settings = QualitySettings()
    full = Figures(score_table(samples, seed_samples, arms, "accuracy"), settings)  # type: ignore[arg-type]
    single = Figures(
        score_table(samples, [], {"base": record(), "tuned": record()}, "accuracy"), settings
    )  # type: ignore[arg-type]
    fig, one = full.arm("tuned"), single.arm("tuned")
    values = [p["quality"]["value"] for p in per_seed]
    assert fig["value"] == pytest.approx(np.mean(values), abs=1e-6)
    assert fig["seeds"]["n"] == 3 and fig["seeds"]["range"] == [
        pytest.approx(min(values), abs=1e-6),
        pytest.approx(max(values), abs=1e-6),
    ]
    assert "seeds" in fig["method"]
    width = fig["ci95"][1] - fig["ci95"][0]
    assert width > 2 * (one["ci95"][1] - one["ci95"][0])
    pair = full.pair("base", "tuned")
    assert "seeds" in pair["method"] and pair["variance"]["seeds"] > 0
    # Without the seed rows (a run folder from before seed_samples.jsonl), the seed study
    # in results.json still brings the seed-to-seed part in.
    fallback = Figures(score_table(samples, [], arms, "accuracy"), settings)  # type: ignore[arg-type]
    assert fallback.arm("tuned")["value"] == pytest.approx(fig["value"], abs=1e-6)
    assert fallback.arm("tuned")["ci95"][1] - fallback.arm("tuned")["ci95"][0] > width * 0.8


def test_clusters_report_a_design_effect_and_widen_intervals() -> None:
    # 20 intents of 10 examples; whole intents are right or wrong together.
    rng = np.random.default_rng(2)
    clusters = [f"intent{i // 10}" for i in range(200)]
    targets = ["a"] * 200
    good = {c: rng.random() < 0.7 for c in set(clusters)}
    clustered = ["a" if good[c] else "b" for c in clusters]
    other = ["a" if rng.random() < 0.5 else "b" for _ in range(200)]
    samples = rows("clustered", targets, clustered, cluster=clusters) + rows(
        "other", targets, other, cluster=clusters
    )
    arms = {"clustered": record(), "other": record()}
    table = score_table(samples, [], arms, "accuracy")
    assert table is not None and table.clusters is not None and table.units == 20
    figures = Figures(table, QualitySettings())
    fig = figures.arm("clustered")
    assert fig["design_effect"] > 5 and fig["clusters"] == 20
    plain = Figures(
        score_table(
            [{k: v for k, v in r.items() if k != "cluster"} for r in samples], [], arms, "accuracy"
        ),  # type: ignore[arg-type]
        QualitySettings(),
    ).arm("clustered")
    assert fig["ci95"][1] - fig["ci95"][0] > 2 * (plain["ci95"][1] - plain["ci95"][0])
    pair = figures.pair("clustered", "other")
    # With clusters 0/1 scores take the cluster-robust t path (C − 1 degrees of freedom).
    assert pair["design_effect"] > 1 and pair["test"] == "paired-t" and pair["df"] == 19


def test_graded_metrics_get_t_intervals() -> None:
    rng = np.random.default_rng(9)
    values = {"x": rng.uniform(0, 1, 8), "y": rng.uniform(0, 1, 8)}
    samples = [
        {"arm": arm, "id": f"e{i}", "scores": {"token_f1": float(v)}}
        for arm, vs in values.items()
        for i, v in enumerate(vs)
    ]
    table = score_table(samples, [], {"x": record("token_f1"), "y": record("token_f1")}, "token_f1")
    figures = Figures(table, QualitySettings())  # type: ignore[arg-type]
    fig = figures.arm("x")
    sd = np.std(values["x"], ddof=1)
    from scipy.stats import t

    half = t.ppf(0.975, 7) * sd / np.sqrt(8)
    assert fig["method"] == "t"
    assert fig["ci95"][0] == pytest.approx(max(0.0, values["x"].mean() - half), abs=1e-6)
    pair = figures.pair("x", "y")
    assert pair["test"] == "paired-t" and pair["df"] == pytest.approx(7)


def test_no_spread_seen_is_not_certainty() -> None:
    # Several seeds that all get every example right take the t path; a standard error of
    # zero would give the interval [1, 1] and "shown within any margin" with p = 0.
    n = 30
    targets = ["a"] * n
    perfect = rows("tuned", targets, ["a"] * n)
    other = rows("base", targets, ["a"] * n)
    seed_rows = [{**r, "seed": 1} for r in rows("tuned", targets, ["a"] * n)]
    per_seed = [{"seed": s, "quality": {"value": 1.0}} for s in (0, 1)]
    tuned = record(seeds={"metric": "accuracy", "values": [0, 1], "per_seed": per_seed})
    figures = Figures(
        score_table(perfect + other, seed_rows, {"tuned": tuned, "base": record()}, "accuracy"),  # type: ignore[arg-type]
        QualitySettings(),
    )
    fig = figures.arm("tuned")
    assert fig["ci95"][1] == 1.0 and fig["ci95"][0] < 0.95
    pair = figures.pair("base", "tuned")
    assert pair["ci95"][0] < -0.02 and pair["ci95"][1] > 0.02
    # Graded scores identical on five examples show nothing either.
    graded = [
        {"arm": arm, "id": f"e{i}", "scores": {"token_f1": 0.5}}
        for arm in ("x", "y")
        for i in range(5)
    ]
    table = score_table(graded, [], {"x": record("token_f1"), "y": record("token_f1")}, "token_f1")
    same = Figures(table, QualitySettings()).pair("x", "y")  # type: ignore[arg-type]
    assert same["p_value"] == 1.0 and same["ci95"][1] > 0.1
    # One cluster leaves no spread between clusters to estimate: nothing is shown.
    one = rows("a", targets, ["a"] * 20 + ["b"] * 10, cluster="only") + rows(
        "b", targets, ["a"] * 10 + ["b"] * 20, cluster="only"
    )
    lonely = Figures(
        score_table(one, [], {"a": record(), "b": record()}, "accuracy"), QualitySettings()
    )  # type: ignore[arg-type]
    assert lonely.arm("a")["ci95"] == [0.0, 1.0]
    assert lonely.pair("a", "b")["p_value"] == 1.0 and lonely.pair("a", "b")["se"] is None
