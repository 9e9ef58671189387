"""The cost model, break-even volumes, constraint checks and the recommendation, on
hand-computed cases and on the fixture run folder (a real 3-arm run on Banking77)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tunevsprompt.decide.analyse import Policy, decide
from tunevsprompt.decide.checks import forgetting_checks, quality_check
from tunevsprompt.decide.config import (
    ApiPrice,
    DecisionConfig,
    ForgettingLimit,
    GatesConfig,
    PricingConfig,
)
from tunevsprompt.decide.costs import arm_cost, break_even
from tunevsprompt.decide.prices import api_token_price, device_hourly_usd
from tunevsprompt.decide.recommend import DecisionInputs, recommend
from tunevsprompt.errors import RunError

FIXTURE = Path(__file__).parent / "fixtures" / "run-support-bot"
CPU = {"device": "cpu", "device_name": None}
H100 = {"device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3"}


def fixture_run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    results = json.loads((FIXTURE / "results.json").read_text())
    samples = [json.loads(line) for line in (FIXTURE / "samples.jsonl").open()]
    return results, samples


def test_local_arm_cost_by_hand() -> None:
    pricing = PricingConfig(cpu_usd_per_hour=0.36, utilisation=0.5, amortise_months=12)
    record = {
        "throughput_eps": 2.0,
        "prepare_s": 0.0,
        "training": {"wall_s": 3600, "device": "cpu"},
    }
    cost = arm_cost(record, CPU, pricing, volume=100_000)
    # 0.5 s per request / 0.5 utilisation = 1 s at $0.36/h = $0.0001 per request.
    assert cost["per_1k_requests_usd"] == pytest.approx(0.1)
    assert cost["one_time_usd"] == pytest.approx(0.36)
    assert cost["monthly_usd"] == pytest.approx(0.36 / 12 + 100 * 0.1)
    assert cost["monthly_by_volume"]["1000000"] == pytest.approx(0.03 + 1000 * 0.1)
    assert cost["basis"]["one_time"]["what"] == "training"


def test_gpu_price_by_device_type_and_index_build_cost() -> None:
    pricing = PricingConfig(gpu_usd_per_hour={"A10": 1.0, "A100": 2.0, "default": 9.0})
    assert device_hourly_usd(pricing, "cuda", "NVIDIA A100-SXM4-80GB").priced_as == "A100"
    assert device_hourly_usd(pricing, "cuda", "NVIDIA A10G").usd_per_hour == 1.0
    assert device_hourly_usd(pricing, "cuda:1", "Tesla V100").priced_as == "default"
    with pytest.raises(RunError, match="default"):
        device_hourly_usd(PricingConfig(gpu_usd_per_hour={"H100": 3.0}), "cuda", "L4")
    record = {
        "throughput_eps": 100.0,
        "prepare_s": 99.0,
        "retrieval": {"embed_s": 30.0, "index_build_s": 6.0, "embedder": {"device": "cpu"}},
    }
    cost = arm_cost(record, H100, PricingConfig(cpu_usd_per_hour=1.0), volume=1000)
    assert cost["basis"]["one_time"]["what"] == "embedding + index build"
    assert cost["one_time_usd"] == pytest.approx(36 / 3600)
    assert cost["per_1k_requests_usd"] == pytest.approx(1000 * 0.01 / 0.5 * 3.0 / 3600)


def test_an_arm_that_runs_no_llm_is_priced_on_its_own_device() -> None:
    pricing = PricingConfig(cpu_usd_per_hour=0.36, gpu_usd_per_hour={"H100": 3.6})
    record = {"throughput_eps": 100.0, "compute_device": "cpu", "uses_llm": False}
    # The run's LLM was on an H100; the embedding baseline ran on the CPU.
    cost = arm_cost(record, H100, pricing, volume=1000)
    assert cost["basis"]["per_request"]["device"] == "cpu"
    assert cost["per_1k_requests_usd"] == pytest.approx(1000 * 0.01 / 0.5 * 0.36 / 3600)
    on_gpu = arm_cost({**record, "compute_device": "cuda:0"}, H100, pricing, volume=1000)
    assert on_gpu["basis"]["per_request"]["priced_as"] == "H100"


def test_api_arm_is_priced_by_tokens() -> None:
    record = {"api": {"model": "my-model"}, "tokens": {"input_mean": 500, "output_mean": 20}}
    pricing = PricingConfig(api={"my-model": ApiPrice(input_usd_per_mtok=2, output_usd_per_mtok=8)})
    cost = arm_cost(record, CPU, pricing, volume=10_000)
    assert cost["per_1k_requests_usd"] == pytest.approx(1000 * (500 * 2 + 20 * 8) / 1e6)
    assert cost["one_time_usd"] == 0
    looked_up = api_token_price(PricingConfig(), "gpt-4o-mini", "openai")
    assert looked_up.source.startswith("genai-prices")
    assert looked_up.price.output_usd_per_mtok > looked_up.price.input_usd_per_mtok > 0
    with pytest.raises(RunError, match=r"pricing\.api"):
        api_token_price(PricingConfig(), "no-such-model-anywhere", None)


def _cost(one_time: float, per_1k: float) -> dict[str, Any]:
    return {"one_time_usd": one_time, "per_1k_requests_usd": per_1k}


def test_break_even_volume_by_hand() -> None:
    # tuned: $1,200 once (100/month over 12) + $0.10/1k; prompted: $0.60/1k.
    # 100 + 0.0001 v = 0.0006 v  =>  v = 200,000 requests/month.
    costs = {"tuned": _cost(1200, 0.10), "prompted": _cost(0, 0.60), "twin": _cost(0, 0.60)}
    entries = {tuple(e["arms"]): e for e in break_even(costs, months=12)}
    crossing = entries[("tuned", "prompted")]
    assert crossing["volume"] == pytest.approx(200_000)
    assert crossing["cheaper_above"] == "tuned" and crossing["cheaper_below"] == "prompted"
    assert entries[("prompted", "twin")]["volume"] is None
    dominated = break_even({"a": _cost(0, 0.1), "b": _cost(10, 0.2)}, months=12)[0]
    assert dominated["volume"] is None and dominated["cheaper_always"] == "a"


def test_checks_are_ci_aware() -> None:
    record = {"quality": {"metric": "accuracy", "value": 0.7, "ci95": [0.62, 0.78]}}
    assert quality_check(record, 0.6).status == "pass"
    assert quality_check(record, 0.7).status == "inconclusive"
    assert quality_check(record, 0.8).status == "fail"
    probe = {"delta": 3.0, "ci95": [2.0, 4.0], "base": 20.0, "higher_is_better": False}
    tuned = {"forgetting": {"primary": "prose", "probes": {"prose": probe}}}
    assert [c.status for c in forgetting_checks(tuned, ForgettingLimit(max_delta=5))] == ["pass"]
    assert forgetting_checks(tuned, ForgettingLimit(max_delta=1))[0].status == "fail"
    relative = forgetting_checks(tuned, ForgettingLimit(max_relative=0.15))[0]
    assert relative.status == "inconclusive" and relative.bound == pytest.approx(0.2)
    # Accuracy probes lose by going down: a +0.05 gain is no loss at all.
    gained = {"delta": 0.05, "ci95": [0.01, 0.09], "base": 0.6, "higher_is_better": True}
    record = {"forgetting": {"primary": "trivia", "probes": {"trivia": gained}}}
    assert forgetting_checks(record, ForgettingLimit(max_delta=0))[0].status == "pass"
    unmeasured = forgetting_checks({"forgetting": None}, ForgettingLimit(max_delta=1))
    assert unmeasured[0].status == "missing"


def _arm(value: float, ci: tuple[float, float], monthly: float, p95: float = 100) -> dict[str, Any]:
    return {
        "quality": {"metric": "accuracy", "value": value, "ci95": list(ci)},
        "latency_ms": {"p95": p95, "p95_ci95": [0.9 * p95, 1.1 * p95], "n": 100},
        "cost": {"monthly_usd": monthly},
    }


def _pair(a: str, b: str, difference: float, se: float = 0.02) -> dict[str, Any]:
    """A comparisons entry of a − b with a normal standard error."""
    return {
        "arms": [a, b],
        "metric": "accuracy",
        "n": 150,
        "difference": difference,
        "ci95": [difference - 1.96 * se, difference + 1.96 * se],
        "method": "paired-t",
        "se": se,
        "df": None,
        "variance": {"examples": se * se, "seeds": 0.0},
    }


def test_bars_give_verdicts_and_the_cheaper_arm_must_show_it_is_within_the_margin() -> None:
    arms = {
        "zero-shot": _arm(0.40, (0.33, 0.47), 5),
        "few-shot": _arm(0.80, (0.74, 0.86), 40),
        "lora": _arm(0.79, (0.73, 0.85), 12),
        "slow": _arm(0.85, (0.80, 0.90), 3, p95=5000),
    }
    comparisons = [
        _pair("zero-shot", "lora", -0.39),
        _pair("few-shot", "lora", 0.01, se=0.004),
    ]
    policy = DecisionConfig(min_quality=0.6, max_p95_ms=1000)
    result = recommend(arms, DecisionInputs(comparisons, [], policy, 100_000, "accuracy", 100))
    assert result["verdicts"] == {
        "zero-shot": "REJECT",
        "few-shot": "ALLOW",
        "lora": "ALLOW",
        "slow": "REJECT",
    }
    # few-shot − lora = 0.01 [0.002, 0.018]: lora loses less than the 0.02 margin.
    assert result["arm"] == "lora" and result["status"] == "recommended"
    (claim,) = result["claims"]
    assert claim["arm"] == "lora" and claim["against"] == ["few-shot"] and claim["met"]
    text = " ".join(result["reasons"])
    assert "Recommend lora" in text and "$12.00/month" in text
    assert (
        "lora is significantly worse (this comparison alone), but by less than the margin 0.02"
        in text
    )
    assert any(
        "slow would qualify if the p95 latency limit were 5,500 ms" in f
        for f in result["flip_conditions"]
    )
    assert (
        "zero-shot would qualify if the accuracy bar were 0.33 (its CI lower bound) "
        "instead of 0.6." in result["flip_conditions"]
    )
    # The same loss with a wide interval is not shown within the margin: few-shot stays.
    wide = [comparisons[0], _pair("few-shot", "lora", 0.01, se=0.03)]
    kept = recommend(arms, DecisionInputs(wide, [], policy, 100_000, "accuracy", 100))
    assert kept["arm"] == "few-shot"
    assert any(f.startswith("With a margin of 0.069 ") for f in kept["flip_conditions"])


def test_quality_bar_flip_and_no_feasible_arm() -> None:
    arms = {"zero-shot": _arm(0.62, (0.55, 0.72), 5), "lora": _arm(0.90, (0.85, 0.94), 20)}
    comparisons = [_pair("zero-shot", "lora", -0.28)]
    result = recommend(
        arms,
        DecisionInputs(comparisons, [], DecisionConfig(min_quality=0.7), 1000, "accuracy", 100),
    )
    assert result["arm"] == "lora"
    assert result["verdicts"]["zero-shot"] == "INCONCLUSIVE"
    assert any(
        "zero-shot would qualify if the accuracy bar were 0.55" in f
        for f in result["flip_conditions"]
    )
    nothing = recommend(
        arms,
        DecisionInputs(comparisons, [], DecisionConfig(min_quality=0.99), 1000, "accuracy", 100),
    )
    assert nothing["arm"] is None and nothing["status"] == "no-feasible-arm"
    assert nothing["reasons"][0].startswith("No arm is shown to meet every constraint")
    budget = recommend(
        arms,
        DecisionInputs(comparisons, [], DecisionConfig(max_monthly_usd=10), 1000, "accuracy", 100),
    )
    assert budget["arm"] == "zero-shot" and budget["verdicts"]["lora"] == "REJECT"


def test_decide_on_the_fixture_run_folder() -> None:
    results, samples = fixture_run()
    policy = Policy(
        PricingConfig(cpu_usd_per_hour=0.2, monthly_requests=[1000, 50_000]),
        DecisionConfig(min_quality=0.2, max_forgetting=ForgettingLimit(max_relative=0.1)),
        GatesConfig(min_quality=0.25),
    )
    out = decide(copy.deepcopy(results), samples, policy)
    assert out["policy"]["decision_volume"] == 50_000
    assert out["policy"]["gates"] == {"min_quality": 0.25}
    pairs = {tuple(c["arms"]): c for c in out["comparisons"]}
    assert set(pairs) == {
        ("zero-shot", "lora"),
        ("zero-shot", "soft-prompt"),
        ("lora", "soft-prompt"),
    }
    assert pairs[("zero-shot", "lora")]["test"] == "tango-score"
    assert pairs[("zero-shot", "lora")]["winner"] == "lora"
    assert pairs[("lora", "soft-prompt")]["verdict"] == "INCONCLUSIVE"
    lora = out["arms"]["lora"]
    expected = 1000 / lora["throughput_eps"] / 0.5 * 0.2 / 3600
    assert lora["cost"]["per_1k_requests_usd"] == pytest.approx(expected, rel=1e-5)
    assert lora["cost"]["one_time_usd"] == pytest.approx(
        lora["training"]["wall_s"] / 3600 * 0.2, rel=1e-5
    )
    # lora loses 12.9% [9.9%, 16.9%] of its prose perplexity: straddles 10%, so it cannot be
    # allowed; soft-prompt (7.6% [4.8%, 9.9%]) can.
    assert out["recommendation"]["verdicts"] == {
        "zero-shot": "REJECT",
        "lora": "INCONCLUSIVE",
        "soft-prompt": "ALLOW",
    }
    assert out["recommendation"]["arm"] == "soft-prompt"
    assert len(out["break_even"]) == 3
    assert Policy.from_results(out) == policy


def test_an_arm_never_compared_cannot_claim_a_saving() -> None:
    # Without per-example samples there are no comparisons: the cheaper arm cannot be shown
    # within the margin, so the dearer one is recommended and the reasons say why.
    arms = {"cheap": _arm(0.50, (0.40, 0.60), 1), "best": _arm(0.90, (0.85, 0.94), 20)}
    result = recommend(arms, DecisionInputs([], [], DecisionConfig(), 1000, "accuracy", 100))
    assert result["arm"] == "best"
    assert any("was never compared with best" in r for r in result["reasons"])
    compared = [_pair("cheap", "best", -0.4)]
    result = recommend(arms, DecisionInputs(compared, [], DecisionConfig(), 1000, "accuracy", 100))
    assert result["arm"] == "best"
    assert any("lies wholly above the margin" in r for r in result["reasons"])


def test_decide_without_samples_keeps_the_runs_comparisons() -> None:
    # results.json copied on its own (a CI artifact): the paired tests cannot be redone, so
    # the recommendation must rest on the comparisons the run made, not on none at all.
    results, samples = fixture_run()
    policy = Policy.from_results(results)
    with_samples = decide(copy.deepcopy(results), samples, policy)
    alone = decide(copy.deepcopy(with_samples), [], policy)
    assert alone["comparisons"] == with_samples["comparisons"]
    assert alone["recommendation"] == with_samples["recommendation"]
    stricter = Policy(policy.pricing, DecisionConfig(min_quality=0.99), policy.gates)
    rejected = decide(copy.deepcopy(with_samples), [], stricter)
    assert rejected["comparisons"] == with_samples["comparisons"]
    assert set(rejected["recommendation"]["verdicts"].values()) == {"REJECT"}


def test_a_hosted_model_without_a_price_has_an_unknown_cost_that_says_how_to_price_it() -> None:
    record = {
        "api": {"model": "my-self-hosted-model"},
        "tokens": {"input_mean": 120.0, "output_mean": 4.0},
        "throughput_eps": 2.0,
    }
    cost = arm_cost(record, {}, PricingConfig(), 1000)
    assert cost["per_1k_requests_usd"] is None and cost["monthly_usd"] is None
    assert "pricing.api" in cost["basis"]["per_request"]["note"]
    priced = PricingConfig(
        api={"my-self-hosted-model": ApiPrice(input_usd_per_mtok=1.0, output_usd_per_mtok=0.0)}
    )
    cost = arm_cost(record, {}, priced, 1000)
    assert cost["per_1k_requests_usd"] == pytest.approx(1000 * 120 * 1.0 / 1e6)


def test_the_recommendation_at_other_volumes_checks_the_budget_there() -> None:
    def priced(value: float, one_time: float, per_1k: float) -> dict[str, Any]:
        arm = _arm(value, (value - 0.05, value + 0.05), 0.0)
        arm["cost"] = {
            "one_time_usd": one_time,
            "per_1k_requests_usd": per_1k,
            "monthly_usd": one_time / 12 + 100 * per_1k,
            "basis": {"amortise_months": 12},
        }
        return arm

    # prompt: $0.10 per 1k requests; tuned: $600 once ($50 a month) + $0.01 per 1k.
    arms = {"prompt": priced(0.80, 0.0, 0.10), "tuned": priced(0.79, 600.0, 0.01)}
    # prompt − tuned = 0.01 [-0.01, 0.03]: prompt is within the margin of tuned, tuned is not
    # shown within the margin of prompt.
    pair = [_pair("prompt", "tuned", 0.01, se=0.01)]
    policy = DecisionConfig(max_monthly_usd=80)
    inputs = DecisionInputs(pair, [], policy, 100_000, "accuracy", 100, (100_000, 1_000_000))
    result = recommend(arms, inputs)
    # At 100,000 requests prompt costs $10 and tuned $51: prompt, the cheaper, is chosen.
    assert result["arm"] == "prompt"
    # At 1,000,000 prompt costs $100, over the $80 budget, and tuned $60: tuned is the only
    # arm within budget there, though it is not shown within the margin of prompt.
    assert result["by_volume"] == {"100000": "prompt", "1000000": "tuned"}
    # The budget is met by prompt up to 800,000 requests and by tuned up to 3,000,000.
    assert result["flip_conditions"][:2] == [
        "From 800,000 to 3,000,000 requests/month the recommendation would be tuned.",
        "Above 3,000,000 requests/month the recommendation would be no arm (none meets the "
        "constraints).",
    ]
