"""The fine-tuned encoder arms for real: the packaged MiniLM trained end to end
(encoder-finetune) and with SetFit's contrastive stage (setfit) on twelve Banking77 intents
that are easy to confuse (card payments and transfers), beside embed-linear, on CPU.

Training must beat the frozen encoder's logistic regression on dev, the record must say
what a tuned arm's says, the exported folder must reload with nothing but
sentence-transformers and answer the same, and a killed training must resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import (
    BANKING_TASK,
    UNTIMED_RUN,
    Recorder,
    SilentObserver,
    banking_rows,
    subset,
    write_csv,
)
from tunevsprompt.arms.encoder.model import model_sha256
from tunevsprompt.cli import main
from tunevsprompt.runner import RunOptions, run_compare
from tunevsprompt.suite.loader import load_suite

pytestmark = pytest.mark.slow

CONFUSABLE = [
    "card_arrival",
    "card_delivery_estimate",
    "card_not_working",
    "card_payment_not_recognised",
    "declined_card_payment",
    "pending_card_payment",
    "reverted_card_payment?",
    "transfer_not_received_by_recipient",
    "pending_transfer",
    "failed_transfer",
    "declined_transfer",
    "transfer_timing",
]

ARMS = """\
arms:
  - name: embed-linear
    type: embed-linear
  - name: encoder-finetune
    type: encoder-finetune
    epochs: 4
    train_batch_size: 16
    learning_rate: 0.0001
    select_on: primary
  - name: setfit
    type: setfit
    pair_rounds: 5
    learning_rate: 0.00005
sampling:
  seed: 0
latency:
  sample: 3
  warmup: 1
metrics:
  bootstrap_samples: 200
"""


@pytest.fixture(scope="module")
def confusable_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 training, 4 dev (from the train file) and 3 test messages per intent."""
    folder = tmp_path_factory.mktemp("confusable")
    rows = subset(banking_rows("train"), CONFUSABLE, 12, seed=3)
    write_csv(folder / "data" / "train.csv", [r for i, r in enumerate(rows) if i % 12 < 8])
    write_csv(folder / "data" / "dev.csv", [r for i, r in enumerate(rows) if i % 12 >= 8])
    write_csv(folder / "data" / "test.csv", subset(banking_rows("test"), CONFUSABLE, 3, seed=4))
    task = BANKING_TASK.replace("    test:", "    dev: data/dev.csv\n    test:")
    (folder / "suite.yaml").write_text("name: confusable\n" + task + ARMS)
    return folder


@pytest.fixture(scope="module")
def encoder_run(confusable_dir: Path) -> Path:
    options = RunOptions(
        out=confusable_dir / "run", cache_dir=confusable_dir / "cache", device="cpu"
    )
    return run_compare(load_suite(confusable_dir / "suite.yaml"), options, SilentObserver())


def results(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "results.json").read_text())
    return data


@pytest.mark.parametrize("arm", ["encoder-finetune", "setfit"])
def test_training_beats_the_frozen_encoders_head_on_dev(encoder_run: Path, arm: str) -> None:
    dev = results(encoder_run)["arms"][arm]["training"]["dev_quality"]
    assert dev["metric"] == "accuracy" and dev["n"] == 48
    assert dev["tuned"]["value"] > dev["frozen"]["value"], dev


@pytest.mark.parametrize("arm", ["encoder-finetune", "setfit"])
def test_an_encoder_arm_is_recorded_like_a_tuned_arm_that_runs_no_llm(
    encoder_run: Path, arm: str
) -> None:
    record = results(encoder_run)["arms"][arm]
    assert record["uses_llm"] is False and record["compute_device"] == "cpu"
    training = record["training"]
    assert training["train_examples"] == 96 and training["reused"] is False
    assert 0 < training["steps"] <= training["planned_steps"]
    assert training["examples_per_s"] > 0 and training["peak_memory_mb"] > 100
    assert training["trainable_params"] > 20_000_000
    assert training["loss_curve"] and training["dev_curve"]
    assert training["head"]["kind"] == "logistic regression"
    integrity = record["integrity"]
    assert integrity["ok"] is True and integrity["sample"] == 36  # every test example
    against = integrity["quality_against_base"]
    assert against["n"] == 36 and against["method"] == "tango-score"
    assert against["tuned"] == pytest.approx(record["quality"]["value"])
    assert against["ci95"][0] <= against["difference"] <= against["ci95"][1]
    assert record["forgetting"]["by_construction"] is True
    assert record["forgetting"]["reason"].startswith("not applicable")
    adapter = record["adapter"]
    assert adapter["format"] == "sentence-transformers" and adapter["method"] == arm
    assert (encoder_run / adapter["path"] / "modules.json").is_file()
    assert adapter["sha256"] == model_sha256(encoder_run / adapter["path"])
    assert record["latency_ms"]["n"] == 3 and record["throughput_eps"] > 0
    assert record["cost"]["basis"]["per_request"]["kind"] == "local-compute"
    assert record["cost"]["one_time_usd"] > 0


def test_the_exported_folder_reloads_and_answers_the_same(
    encoder_run: Path, confusable_dir: Path, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "exported"
    result = CliRunner().invoke(
        main, ["export", str(encoder_run), str(out), "--arm", "encoder-finetune"]
    )
    assert result.exit_code == 0, result.output
    labels = json.loads((out / "labels.json").read_text())["labels"]
    rows = [json.loads(line) for line in (encoder_run / "samples.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["arm"] == "encoder-finetune"]
    scores = SentenceTransformer(str(out), device="cpu").encode([r["input"] for r in rows])
    assert scores.shape == (len(rows), len(CONFUSABLE))
    assert [labels[int(i)] for i in np.argmax(scores, axis=1)] == [r["prediction"] for r in rows]
    provenance = json.loads((out / "tvp_export.json").read_text())
    assert (
        provenance["sha256"]
        == results(encoder_run)["arms"]["encoder-finetune"]["adapter"]["sha256"]
    )


def test_a_killed_training_resumes_from_its_checkpoint_and_is_then_reused(
    confusable_dir: Path, tmp_path: Path
) -> None:
    arm = """\
arms:
  - name: encoder-finetune
    type: encoder-finetune
    epochs: 2
    train_batch_size: 16
    integrity_sample: 4
"""
    suite = confusable_dir / "resume.yaml"
    suite.write_text(
        (confusable_dir / "suite.yaml").read_text().split("arms:")[0] + arm + UNTIMED_RUN
    )
    loaded = load_suite(suite)
    options = RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache", device="cpu")
    with pytest.raises(KeyboardInterrupt):
        run_compare(loaded, options, Recorder(kill_on="encoder-finetune: checkpoint at step"))
    assert list((tmp_path / "cache" / "training").glob("*/checkpoint.pt"))
    recorder = Recorder()
    training = results(run_compare(loaded, options, recorder))["arms"]["encoder-finetune"][
        "training"
    ]
    assert any("resuming training" in m for m in recorder.messages)
    assert training["resumed_from_step"] == training["steps_per_epoch"]
    assert training["steps"] == 2 * training["steps_per_epoch"]
    assert not list((tmp_path / "cache" / "training").glob("*/checkpoint.pt"))
    again = RunOptions(out=tmp_path / "again", cache_dir=tmp_path / "cache", device="cpu")
    reused = results(run_compare(loaded, again, Recorder()))["arms"]["encoder-finetune"]
    assert reused["training"]["reused"] is True
    assert (
        reused["adapter"]["sha256"]
        == results(tmp_path / "run")["arms"]["encoder-finetune"]["adapter"]["sha256"]
    )
    # A label renamed in the data is another model (its labels.json would be stale).
    renamed = tmp_path / "renamed"
    shutil.copytree(confusable_dir / "data", renamed / "data")
    for split in ("train.csv", "dev.csv", "test.csv"):
        path = renamed / "data" / split
        path.write_text(path.read_text().replace("card_arrival", "card_arrived"))
    shutil.copy(suite, renamed / "suite.yaml")
    elsewhere = RunOptions(out=renamed / "run", cache_dir=tmp_path / "cache", device="cpu")
    retrained = results(run_compare(load_suite(renamed / "suite.yaml"), elsewhere, Recorder()))
    assert retrained["arms"]["encoder-finetune"]["training"]["reused"] is False


def test_seeds_a_learning_curve_and_a_sweep_of_an_encoder_arm(
    confusable_dir: Path, tmp_path: Path
) -> None:
    arm = """\
arms:
  - name: encoder-finetune
    type: encoder-finetune
    max_steps: 2
    train_batch_size: 8
    integrity_sample: 4
    seeds: [0, 1]
    train_sizes: [24, all]
    sweep:
      params:
        learning_rate: [0.00001, 0.0001]
"""
    suite = confusable_dir / "passes.yaml"
    suite.write_text(
        (confusable_dir / "suite.yaml").read_text().split("arms:")[0] + arm + UNTIMED_RUN
    )
    options = RunOptions(out=tmp_path / "run", cache_dir=tmp_path / "cache", device="cpu")
    run = run_compare(load_suite(suite), options, Recorder())
    record = results(run)["arms"]["encoder-finetune"]
    trials = record["sweep"]["trials"]
    assert [t["params"]["learning_rate"] for t in trials] == [0.00001, 0.0001]
    assert all(t["dev_examples"] == 48 and t["dev"]["metric"] == "accuracy" for t in trials)
    assert record["config"]["learning_rate"] == record["sweep"]["chosen"]["learning_rate"]
    assert [p["seed"] for p in record["seeds"]["per_seed"]] == [0, 1]
    assert [p["train_size"] for p in record["learning_curve"]] == [24, 96]
    assert (run / "models" / "encoder-finetune@seed1" / "labels.json").is_file()
    assert (run / "models" / "encoder-finetune@n24" / "labels.json").is_file()
