"""The tuning arms for real: peft LoRA and prompt tuning on the packaged model over a
5-intent Banking77 subset, on CPU. They must clearly beat zero-shot, their adapters must
round-trip, training must resume after a kill and be reused from the cache, and the
integrity check must fire on an adapter that changes nothing.

The trained run itself is conftest's session fixture ``tuned_run`` (the forgetting e2e
tests probe its LoRA adapter too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import LORA, Recorder, write_suite
from tunevsprompt.runner import RunOptions, load_hf_generator, run_compare
from tunevsprompt.suite.loader import load_suite
from tunevsprompt.task.types import Message

pytestmark = pytest.mark.slow


def results(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


@pytest.mark.parametrize("arm", ["lora", "soft-prompt"])
def test_tuned_arm_clearly_beats_zero_shot(tuned_run: Path, arm: str) -> None:
    arms = results(tuned_run)["arms"]
    zero = arms["zero-shot"]["quality"]["value"]
    tuned = arms[arm]["quality"]
    # The tuned arm's whole 95% CI sits above the zero-shot point estimate.
    assert tuned["ci95"][0] > zero, (arm, tuned, zero)
    assert tuned["value"] >= zero + 0.2, (arm, tuned, zero)


@pytest.mark.parametrize("arm", ["lora", "soft-prompt"])
def test_training_record_and_integrity(tuned_run: Path, arm: str) -> None:
    record = results(tuned_run)["arms"][arm]
    training = record["training"]
    assert training["device"] == "cpu"
    assert training["train_examples"] == 90  # 100 minus the 10% carved off for dev
    assert training["steps"] == training["planned_steps"] > 0
    assert training["epochs"] == pytest.approx(1.0)
    assert training["examples_per_s"] > 0 and training["tokens_per_s"] > 0
    assert training["peak_memory_mb"] > 100
    assert 0 < training["trainable_params"] < training["total_params"]
    assert training["adapter_bytes"] > 0
    assert training["best_dev_metric"]["name"] == "dev_loss"
    losses = [point["loss"] for point in training["loss_curve"]]
    assert losses[-1] < losses[0]
    assert training["reused"] is False
    assert record["integrity"]["ok"] is True
    assert record["integrity"]["changed_fraction"] > 0.9
    assert (tuned_run / record["adapter"]["path"] / "adapter_config.json").exists()


def test_lora_reports_merged_and_unmerged_latency(tuned_run: Path) -> None:
    record = results(tuned_run)["arms"]["lora"]
    assert record["inference"]["merged"] is True
    assert record["latency_ms"]["n"] == 3
    assert record["latency_variants"]["unmerged"]["n"] == 3
    assert record["latency_variants"]["unmerged"]["p50"] > 0


def _samples(run_dir: Path, arm: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return [row for row in rows if row["arm"] == arm]


@pytest.mark.parametrize("arm", ["lora", "soft-prompt"])
def test_saved_adapter_round_trips(tuned_run: Path, five_intent_dir: Path, arm: str) -> None:
    """Reloaded with PeftModel.from_pretrained, the adapter gives the same predictions."""
    from peft import PeftModel

    from tunevsprompt.task.labels import LabelSet

    run = results(tuned_run)
    loaded = load_suite(five_intent_dir / "tuning.yaml")
    base = load_hf_generator(loaded, RunOptions(device="cpu"))
    peft_model = PeftModel.from_pretrained(
        base.model, tuned_run / run["arms"][arm]["adapter"]["path"]
    )
    if arm == "lora":
        model, soft = peft_model.merge_and_unload(), None
    else:
        model, soft = peft_model.base_model, peft_model.get_prompt_embedding_to_save("default")
    generator = base.derived(model, soft_prompt=soft)
    labels = LabelSet(run["task"]["labels"])
    instruction = "Name the intent of this bank customer's message."
    for row in _samples(tuned_run, arm)[:8]:
        prompt = (Message("system", instruction), Message("user", row["input"]))
        scores = generator.score(prompt, labels.shown())
        best = max(range(len(scores.logprobs)), key=lambda i: scores.logprobs[i])
        assert labels.labels[best] == row["prediction"]


def test_soft_prompt_scoring_matches_peft_forward(tuned_run: Path, five_intent_dir: Path) -> None:
    """The generator's own placement of the virtual tokens gives the log-likelihoods that
    peft's PeftModelForCausalLM.forward gives (so the soft prompt is really applied)."""
    import torch
    from peft import PeftModel

    loaded = load_suite(five_intent_dir / "tuning.yaml")
    base = load_hf_generator(loaded, RunOptions(device="cpu"))
    path = tuned_run / results(tuned_run)["arms"]["soft-prompt"]["adapter"]["path"]
    peft_model = PeftModel.from_pretrained(base.model, path).eval()
    generator = base.derived(
        peft_model.base_model, soft_prompt=peft_model.get_prompt_embedding_to_save("default")
    )
    prompt = (Message("system", "Name the intent."), Message("user", "Where is my new card?"))
    continuations = ["card arrival", "exchange rate"]
    scores = generator.score(prompt, continuations)
    text = generator.render(prompt)
    prompt_ids = generator.encode_prompt(prompt)
    for continuation, value in zip(continuations, scores.logprobs, strict=True):
        cont = generator.continuation_ids(text, prompt_ids, continuation)
        ids = torch.tensor([prompt_ids + cont])
        with torch.inference_mode():
            logits = peft_model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
        virtual = logits.shape[0] - ids.shape[1]
        assert virtual == 20
        logp = torch.log_softmax(logits[virtual:].float(), dim=-1)
        expected = sum(float(logp[len(prompt_ids) - 1 + j, token]) for j, token in enumerate(cont))
        assert value == pytest.approx(expected, abs=2e-3)
    # ...and it is not the base model's answer.
    plain = base.derived(peft_model.base_model)
    assert plain.score(prompt, continuations).logprobs != pytest.approx(scores.logprobs, abs=1e-2)


def test_rerun_reuses_trained_adapters(
    tuned_run: Path, tuning_cache: Path, five_intent_dir: Path, tmp_path: Path
) -> None:
    """Same suite, same cache, new run folder: no training, same figures."""
    loaded = load_suite(five_intent_dir / "tuning.yaml")
    recorder = Recorder()
    rerun = run_compare(
        loaded, RunOptions(out=tmp_path / "rerun", device="cpu", cache_dir=tuning_cache), recorder
    )
    before, after = results(tuned_run)["arms"], results(rerun)["arms"]
    for arm in ("lora", "soft-prompt"):
        assert after[arm]["training"]["reused"] is True
        assert after[arm]["adapter"]["sha256"] == before[arm]["adapter"]["sha256"]
        assert after[arm]["quality"] == before[arm]["quality"]
        assert after[arm]["cache"]["computed"] == 0
    assert not any("step" in message and "loss" in message for message in recorder.messages)


def test_integrity_check_fires_on_an_adapter_that_does_nothing(
    five_intent_dir: Path, tmp_path: Path
) -> None:
    """A learning rate of 1e-12 leaves LoRA's B matrices at zero in all but name: the merged
    model answers as the base does (0 itself is refused: a learning rate must be positive)."""
    arms = LORA.format(extra="    max_steps: 1\n    train_batch_size: 2\n").replace(
        "learning_rate: 0.002", "learning_rate: 1.0e-12"
    )
    loaded = write_suite(five_intent_dir, "noop", arms)
    recorder = Recorder()
    run = run_compare(
        loaded,
        RunOptions(out=tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache", limit=5),
        recorder,
    )
    integrity = results(run)["arms"]["lora"]["integrity"]
    assert integrity["ok"] is False
    assert integrity["changed_fraction"] == 0.0
    assert any(m.startswith("WARNING: arm lora") for m in recorder.messages)


def test_training_killed_after_an_epoch_resumes_from_its_checkpoint(
    five_intent_dir: Path, tmp_path: Path
) -> None:
    # 12 examples in batches of 4: three steps an epoch, two epochs, the kill after the first.
    arms = LORA.format(extra="    train_batch_size: 4\n").replace("epochs: 1", "epochs: 2")
    loaded = write_suite(five_intent_dir, "resume", arms)
    options = RunOptions(
        out=tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache", limit=5, train_limit=12
    )
    with pytest.raises(KeyboardInterrupt):
        run_compare(loaded, options, Recorder(kill_on="lora: checkpoint at step"))
    assert list((tmp_path / "cache" / "training").glob("*/checkpoint.pt"))
    recorder = Recorder()
    run = run_compare(loaded, options, recorder)
    training = results(run)["arms"]["lora"]["training"]
    assert training["steps_per_epoch"] == 3 and training["epochs"] == pytest.approx(2.0)
    assert training["resumed_from_step"] == training["steps_per_epoch"]
    assert training["steps"] == training["planned_steps"] == 2 * training["steps_per_epoch"]
    assert any("resuming training" in m for m in recorder.messages)
    assert not list((tmp_path / "cache" / "training").glob("*/checkpoint.pt"))


def test_seeds_and_learning_curve(five_intent_dir: Path, tmp_path: Path) -> None:
    arms = (
        LORA.format(
            extra="    max_steps: 3\n    train_batch_size: 2\n"
            "    seeds: [0, 1]\n    train_sizes: [10, all]\n"
        )
        + "  - name: few-shot\n    type: few-shot\n    k: 5\n    decide: rank\n"
        "    seeds: [0, 1]\n    train_sizes: [5, 20]\n"
    )
    loaded = write_suite(five_intent_dir, "curves", arms)
    run = run_compare(
        loaded,
        RunOptions(
            out=tmp_path / "run",
            device="cpu",
            cache_dir=tmp_path / "cache",
            limit=5,
            train_limit=40,
        ),
        Recorder(),
    )
    arms_record = results(run)["arms"]
    lora = arms_record["lora"]
    seeds = lora["seeds"]
    assert [p["seed"] for p in seeds["per_seed"]] == [0, 1]
    values = [p["quality"]["value"] for p in seeds["per_seed"]]
    assert seeds["mean"] == pytest.approx(sum(values) / 2, abs=1e-6)
    assert seeds["std"] >= 0
    assert [p["train_size"] for p in lora["learning_curve"]] == [10, 40]
    assert lora["learning_curve"][0]["n_train"] == 10
    assert (run / "adapters" / "lora@seed1" / "adapter_config.json").exists()
    assert (run / "adapters" / "lora@n10" / "adapter_config.json").exists()
    few = arms_record["few-shot"]
    assert [p["train_size"] for p in few["learning_curve"]] == [5, 20]
    assert len(few["seeds"]["per_seed"]) == 2
    # The headline figure is the mean over the seeds, its interval includes the spread
    # between them, and the second seed's examples are kept for the comparisons.
    assert lora["quality"]["value"] == pytest.approx(sum(values) / 2, abs=1e-6)
    assert lora["quality"]["seeds"]["n"] == 2 and "seeds" in lora["quality"]["method"]
    seed_rows = [json.loads(line) for line in (run / "seed_samples.jsonl").open()]
    assert {(r["arm"], r["seed"]) for r in seed_rows} == {("lora", 1), ("few-shot", 1)}
    assert sum(r["arm"] == "lora" for r in seed_rows) == 5
    (pair,) = [c for c in results(run)["comparisons"] if set(c["arms"]) == {"lora", "few-shot"}]
    assert "seeds" in pair["method"] and pair["variance"]["seeds"] >= 0


def test_soft_prompt_and_lora_are_probed_for_forgetting_as_they_answer(tuned_run: Path) -> None:
    """The soft prompt is probed applied (a removed soft prompt is the base model)."""
    arms = results(tuned_run)["arms"]
    for arm, probed_as in (("lora", "LoRA adapter merged"), ("soft-prompt", "soft prompt applied")):
        forgetting = arms[arm]["forgetting"]
        assert forgetting["probed_as"].startswith(probed_as)
        prose = forgetting["probes"]["prose"]
        assert prose["n"] == 4 and prose["value"] != prose["base"]
        assert forgetting["delta"] == prose["delta"]
    assert arms["zero-shot"]["forgetting"]["by_construction"] is True
