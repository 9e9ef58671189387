"""The decision rule on paired data built to order (no model): every failure mode issue 17
found, and the rule's operating characteristics computed exactly by enumerating every
paired table of two arms."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from tunevsprompt.decide.analyse import Policy, decide
from tunevsprompt.decide.config import DecisionConfig, GatesConfig, PricingConfig
from tunevsprompt.decide.evidence import Evidence
from tunevsprompt.decide.gate import evaluate_gates
from tunevsprompt.decide.rule import Contender, Margin, choose
from tunevsprompt.measure.stats import PairedCounts
from tunevsprompt.measure.stats.power import noninferiority_n_paired_binary_exact, paired_tables

CPU_PRICE = 0.36  # $/hour: 1 example/s costs $0.0002 per request at 50% utilisation


def correctness(n: int, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < accuracy).astype(float)


def paired(n: int, both: int, first_only: int, second_only: int) -> tuple[np.ndarray, np.ndarray]:
    first = np.zeros(n)
    second = np.zeros(n)
    first[:both] = second[:both] = 1
    first[both : both + first_only] = 1
    second[both + first_only : both + first_only + second_only] = 1
    return first, second


def run(
    arms: dict[str, tuple[np.ndarray, float]],
    decision: DecisionConfig,
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Decide over arms given as (per-example correctness, examples/s)."""
    samples = [
        {
            "arm": name,
            "id": f"e{i}",
            "target": "a",
            "prediction": "a" if v else "b",
            "scores": {"accuracy": float(v)},
            "latency_ms": None,
        }
        for name, (values, _) in arms.items()
        for i, v in enumerate(values)
    ]
    results = {
        "schema_version": "2.0",
        "task": {"primary_metric": "accuracy", "type": "classification"},
        "manifest": {"seed": 0, "device": "cpu"},
        "arms": {
            name: {
                "quality": {"metric": "accuracy", "value": None},
                "n": len(values),
                "throughput_eps": speed,
                "parse_failure_rate": 0.0,
                **(extra or {}).get(name, {}),
            }
            for name, (values, speed) in arms.items()
        },
    }
    pricing = PricingConfig(cpu_usd_per_hour=CPU_PRICE, monthly_requests=[100_000])
    return decide(copy.deepcopy(results), samples, Policy(pricing, decision, None))


def test_a_cheaper_arm_significantly_worse_is_not_recommended_the_demo_case() -> None:
    # make demo: embed-knn 0.584 vs embed-linear 0.675 on 154 examples, paired 95% CI of
    # knn − linear about [-0.156, -0.026]; knn was recommended to save $0.02 a month.
    linear, knn = paired(154, both=80, first_only=24, second_only=10)
    out = run({"embed-linear": (linear, 88.0), "embed-knn": (knn, 104.8)}, DecisionConfig())
    rec = out["recommendation"]
    assert (
        out["arms"]["embed-knn"]["cost"]["monthly_usd"]
        < (out["arms"]["embed-linear"]["cost"]["monthly_usd"])
    )
    assert rec["arm"] == "embed-linear" and rec["status"] == "recommended"
    (test,) = rec["tests"]
    assert test["arm"] == "embed-knn" and test["against"] == "embed-linear"
    assert test["ci95"][0] > 0 and not test["within_margin"]
    assert out["comparisons"][0]["winner"] == "embed-linear"
    text = " ".join(rec["reasons"])
    assert "embed-knn costs less" in text
    assert "the observed loss (0.091) is already at least the margin" in text
    clearly = run(
        {"embed-linear": (linear, 88.0), "embed-knn": (paired(154, 80, 34, 6)[1], 104.8)},
        DecisionConfig(),
    )
    assert "lies wholly above the margin, so its loss is likely larger" in " ".join(
        clearly["recommendation"]["reasons"]
    )


def test_absence_of_evidence_is_not_equivalence() -> None:
    # A cheaper arm 1.3 points behind on 154 examples is not shown worse (the old rule
    # recommended it); it is not shown within the margin either, so the dearer arm stays,
    # and the reasons say how many examples would decide.
    dear, cheap = paired(154, both=90, first_only=14, second_only=12)
    out = run({"dear": (dear, 1.0), "cheap": (cheap, 10.0)}, DecisionConfig())
    rec = out["recommendation"]
    pair = out["comparisons"][0]
    assert pair["verdict"] == "INCONCLUSIVE"
    assert rec["arm"] == "dear"
    text = " ".join(rec["reasons"])
    assert "not shown to lose less than the margin 0.02 against dear" in text
    assert "test examples would decide" in text
    (test,) = rec["tests"]
    assert test["n_needed"] > 154


def test_a_loss_within_the_margin_is_accepted_and_called_what_it_is() -> None:
    # 3,080 examples, the cheaper arm 1 point worse: significantly worse, but the whole
    # interval lies below the 0.02 margin.
    dear, cheap = paired(3080, both=2600, first_only=60, second_only=29)
    out = run({"dear": (dear, 1.0), "cheap": (cheap, 10.0)}, DecisionConfig())
    rec = out["recommendation"]
    assert rec["arm"] == "cheap"
    assert out["comparisons"][0]["winner"] == "dear"
    text = " ".join(rec["reasons"])
    assert (
        "cheap is significantly worse (this comparison alone), but by less than the margin 0.02"
        in text
    )
    zero = run({"dear": (dear, 1.0), "cheap": (cheap, 10.0)}, DecisionConfig(margin=0))
    assert zero["recommendation"]["arm"] == "dear"
    relative = run({"dear": (dear, 1.0), "cheap": (cheap, 10.0)}, DecisionConfig(margin="1%"))
    assert relative["recommendation"]["rule"]["margin_kind"] == "relative"
    margin = relative["recommendation"]["tests"][0]["margin"]
    assert margin == pytest.approx(0.01 * 2660 / 3080, abs=1e-6)


def test_arms_rejected_by_a_bar_never_change_the_recommendation() -> None:
    dear, cheap = paired(1000, both=700, first_only=40, second_only=30)
    arms = {"dear": (dear, 1.0), "cheap": (cheap, 10.0)}
    slow = {f"slow{i}": correctness(1000, 0.72, i) for i in range(6)}
    extra: dict[str, dict[str, Any]] = {
        name: {"latency_ms": {"p95": 9000, "p95_ci95": [8000, 9500]}} for name in slow
    }
    for name in arms:
        extra[name] = {"latency_ms": {"p95": 100, "p95_ci95": [90, 120]}}
    decision = DecisionConfig(margin=0.05, max_p95_ms=1000)
    alone = run(arms, decision, extra)["recommendation"]
    crowded = run({**arms, **{n: (v, 0.5) for n, v in slow.items()}}, decision, extra)
    rec = crowded["recommendation"]
    assert {rec["verdicts"][n] for n in slow} == {"REJECT"}
    assert rec["arm"] == alone["arm"] == "cheap"
    assert rec["claims"] == alone["claims"]


def test_unknown_cost_is_never_called_cheaper_or_dearer() -> None:
    hosted, local = paired(500, both=300, first_only=60, second_only=20)
    extra = {"hosted": {"api": {"model": "self-hosted-x"}, "tokens": {"input_mean": 100}}}
    out = run({"hosted": (hosted, 5.0), "local": (local, 1.0)}, DecisionConfig(), extra)
    rec = out["recommendation"]
    assert out["arms"]["hosted"]["cost"]["monthly_usd"] is None
    text = " ".join(rec["reasons"])
    assert "costs less (" not in text.replace("local costs less", "")
    assert "cost unknown" in text and "pricing.api" in text
    # hosted is clearly better: it is shown within the margin of local (and better).
    assert rec["arm"] == "hosted"
    # Close: neither can claim a saving over the other.
    a, b = paired(500, both=300, first_only=30, second_only=25)
    close = run({"hosted": (a, 5.0), "local": (b, 1.0)}, DecisionConfig(), extra)
    assert close["recommendation"]["arm"] is None
    assert close["recommendation"]["status"] == "undecided"


def test_a_cheaper_leader_not_shown_within_the_margin_leaves_the_decision_open() -> None:
    dear, cheap = paired(154, both=90, first_only=10, second_only=14)
    out = run({"dear": (dear, 1.0), "cheap": (cheap, 10.0)}, DecisionConfig())
    rec = out["recommendation"]
    assert rec["arm"] is None and rec["status"] == "undecided" and rec["leading"] == "cheap"
    assert rec["reasons"][0].startswith("No arm is recommended yet")
    assert any("With a margin of" in f and "cheap" in f for f in rec["flip_conditions"])
    gate = evaluate_gates(out, GatesConfig(require_recommendation="cheap"))
    assert not gate.passed


def test_latency_bar_needs_an_interval() -> None:
    dear, cheap = paired(154, both=100, first_only=30, second_only=5)
    few = {"p95": 500.0, "p95_ci95": [480.0, None], "n": 20}
    many = {"p95": 500.0, "p95_ci95": [480.0, 560.0], "n": 100}
    decision = DecisionConfig(max_p95_ms=1000)
    out = run(
        {"dear": (dear, 1.0), "cheap": (cheap, 10.0)},
        decision,
        {"dear": {"latency_ms": few}, "cheap": {"latency_ms": many}},
    )
    checks = {n: {c["name"]: c for c in cs} for n, cs in out["recommendation"]["checks"].items()}
    assert checks["dear"]["p95_latency"]["status"] == "inconclusive"
    assert "at least 72 timed requests" in checks["dear"]["p95_latency"]["message"]
    assert checks["cheap"]["p95_latency"]["status"] == "pass"
    assert out["recommendation"]["arm"] == "cheap"


def test_parse_failures_have_a_bar_and_a_warning() -> None:
    a, b = paired(200, both=120, first_only=20, second_only=10)
    extra = {"a": {"parse_failure_rate": 0.1}, "b": {"parse_failure_rate": 0.0}}
    out = run({"a": (a, 1.0), "b": (b, 10.0)}, DecisionConfig(max_parse_failure_rate=0.05), extra)
    rec = out["recommendation"]
    assert rec["verdicts"] == {"a": "REJECT", "b": "ALLOW"}
    assert any(w.startswith("a: 10.0% of its answers (20 of 200)") for w in rec["warnings"])
    assert rec["arm"] == "b"


def test_min_seeds_keeps_a_tuned_arm_with_one_seed_out() -> None:
    a, b = paired(200, both=120, first_only=40, second_only=10)
    extra = {"tuned": {"adapter": {"path": "adapters/tuned"}}}
    out = run({"tuned": (a, 10.0), "prompt": (b, 1.0)}, DecisionConfig(min_seeds=3), extra)
    rec = out["recommendation"]
    assert rec["verdicts"]["tuned"] == "REJECT" and rec["arm"] == "prompt"
    assert any("decision.min_seeds 3" in r for r in rec["reasons"])


def test_the_recommendation_by_volume_and_its_flip() -> None:
    # A tuned arm (one-time training, cheap per request) against prompting (no one-time
    # cost, dear per request): which is cheaper depends on the volume.
    tuned, prompt = paired(3000, both=2500, first_only=20, second_only=18)
    results_extra = {
        "tuned": {"training": {"wall_s": 3_600_000.0, "device": "cpu"}},
    }
    samples_arms = {"tuned": (tuned, 20.0), "prompt": (prompt, 2.0)}
    out = run(samples_arms, DecisionConfig(volume=100_000), results_extra)
    rec = out["recommendation"]
    crossing = out["break_even"][0]["volume"]
    assert crossing is not None and crossing > 100_000
    assert rec["arm"] == "prompt"
    assert any(f.startswith("Above") and "tuned" in f for f in rec["flip_conditions"])


# -- operating characteristics, exactly ------------------------------------------------------


def _probability_cheaper_recommended(
    n: int, gap: float, discordance: float, margin: float
) -> float:
    """P(the rule recommends the cheaper of two arms), summed over every paired table with
    its multinomial probability: the dearer arm alone is right on (ψ + gap)/2 of the
    examples, the cheaper alone on (ψ − gap)/2."""
    first, second = (discordance + gap) / 2, (discordance - gap) / 2
    total = probability = 0.0
    for b, c, p in paired_tables(n, first, second):
        difference = (b - c) / n
        evidence = Evidence("dear", "cheap", difference, n, "tango", PairedCounts(b, c, n))
        contenders = [
            Contender("dear", 0.5 + difference / 2, 2.0),
            Contender("cheap", 0.5 - difference / 2, 1.0),
        ]

        def lookup(reference: str, candidate: str, found: Evidence = evidence) -> Evidence:
            assert (reference, candidate) == ("dear", "cheap")
            return found

        choice = choose(contenders, lookup, Margin(margin), 0.95)
        total += p
        probability += p * (choice.arm == "cheap")
    assert total == pytest.approx(1, abs=1e-6)
    return probability


@pytest.mark.parametrize("n", [154, 1000])
def test_a_cheaper_arm_truly_worse_by_twice_the_margin_is_rarely_recommended(n: int) -> None:
    # The old rule recommended a 10-points-worse arm half the time at n = 154.
    for gap in (0.04, 0.10):
        probability = _probability_cheaper_recommended(n, gap, 0.2, 0.02)
        assert probability <= 0.05, (n, gap, probability)


def test_a_truly_equal_cheaper_arm_is_recommended_once_n_resolves_the_margin() -> None:
    n = noninferiority_n_paired_binary_exact(0.1, 0.1, 0.04, 0.025)
    assert n is not None and 900 < n < 1100
    assert _probability_cheaper_recommended(n, 0.0, 0.2, 0.04) >= 0.80
    # ... and at n = 154 the data cannot resolve it: the dearer arm is kept.
    assert _probability_cheaper_recommended(154, 0.0, 0.2, 0.04) < 0.2


def test_monte_carlo_through_the_whole_decision_agrees() -> None:
    rng = np.random.default_rng(17)
    recommended = 0
    sims = 60
    for _ in range(sims):
        cells = rng.multinomial(154, [0.55, 0.15, 0.05, 0.25])  # cheaper arm 10 points worse
        dear, cheap = paired(154, int(cells[0]), int(cells[1]), int(cells[2]))
        out = run({"dear": (dear, 1.0), "cheap": (cheap, 10.0)}, DecisionConfig())
        recommended += out["recommendation"]["arm"] == "cheap"
    assert recommended / sims <= 0.05


def test_tvp_plan_from_a_run_and_from_assumptions(tmp_path: Any) -> None:
    import json

    from click.testing import CliRunner

    from tunevsprompt.cli import main

    dear, cheap = paired(154, both=90, first_only=14, second_only=12)
    out = run({"dear": (dear, 1.0), "cheap": (cheap, 10.0)}, DecisionConfig())
    (tmp_path / "results.json").write_text(json.dumps(out))
    runner = CliRunner()
    planned = runner.invoke(main, ["plan", str(tmp_path)])
    assert planned.exit_code == 0, planned.output
    (test,) = out["recommendation"]["tests"]
    assert "cheap vs dear: dear − cheap = +0.013, margin 0.02; n = 154" in planned.output
    assert f"needed at 80% power: {test['n_needed']:,} (not shown in this run)" in planned.output
    wider = runner.invoke(main, ["plan", str(tmp_path), "--margin", "0.2"])
    assert "(within the margin in this run)" in wider.output
    assumed = runner.invoke(main, ["plan", "--discordance", "0.2", "--margin", "0.04"])
    exact = noninferiority_n_paired_binary_exact(0.1, 0.1, 0.04, 0.025)
    assert assumed.exit_code == 0 and assumed.output.rstrip().endswith(f": {exact} test examples")
    graded = runner.invoke(main, ["plan", "--sd", "0.3", "--margin", "0.02", "--gap", "0.05"])
    assert "no number of test examples is enough" in graded.output
    for bad in (
        ["plan"],
        ["plan", "--discordance", "0.1", "--gap", "0.3"],
        ["plan", "--sd", "1", "--margin", "5%"],
    ):
        result = runner.invoke(main, bad)
        assert result.exit_code == 2 and "error:" in result.output, bad


def test_an_optimized_prompt_that_kept_a_hand_written_prompt_stands_aside_for_it() -> None:
    """The search kept few-shot's prompt as written: identical predictions, the search's cost
    on top. Without the rule the cheaper original could not show non-inferiority against its
    own copy on 154 examples (0 discordant pairs bound the loss at about 2.4 points) and the
    dearer copy would be recommended."""
    same = correctness(154, 0.6, seed=3)
    search = {"search": {"winner": {"origin": "arm:few-shot"}, "spent": {"seconds": 600.0}}}
    out = run(
        {"few-shot": (same, 1.0), "optimized": (same, 1.0)}, DecisionConfig(), {"optimized": search}
    )
    rec = out["recommendation"]
    assert rec["arm"] == "few-shot" and rec["status"] == "recommended"
    assert rec["same_system"] == {"optimized": "few-shot"}
    assert any("kept few-shot's prompt as written" in r for r in rec["reasons"])
    # A search that wrote its own prompt is an arm of its own, and must earn its place.
    own = {"search": {"winner": {"origin": "proposed:1"}, "spent": {"seconds": 600.0}}}
    other = run(
        {"few-shot": (same, 1.0), "optimized": (same, 1.0)}, DecisionConfig(), {"optimized": own}
    )
    assert "same_system" not in other["recommendation"]
    # The pure rule: the copy stands aside only for an original that costs no more.
    cheap_copy = [Contender("a", 0.6, 2.0), Contender("b", 0.6, 1.0, same_as="a")]
    assert choose(cheap_copy, lambda r, c: None, Margin(0.02), 0.95).same_system == {}
    dear_copy = [Contender("a", 0.6, 1.0), Contender("b", 0.6, 2.0, same_as="a")]
    choice = choose(dear_copy, lambda r, c: None, Margin(0.02), 0.95)
    assert choice.same_system == {"b": "a"} and choice.arm == "a"
