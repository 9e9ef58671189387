"""A real LoRA sweep on the 5-intent subset: every trial trains and is scored on dev, the
winner becomes the arm (its adapter reused, not trained again), all trials are reported,
and a rerun with a value added trains only the new trial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import LORA, SilentObserver, write_suite
from tunevsprompt.runner import RunOptions, run_compare

pytestmark = pytest.mark.slow

# learning_rate 1e-12 leaves the adapter at zero in all but name (the base model): a trial
# that can only lose (a learning rate must be positive).
SWEPT_LORA = LORA.format(
    extra="    max_steps: 6\n    train_batch_size: 4\n    dev_limit: 10\n"
    "    integrity_sample: 4\n    sweep:\n      params:\n        learning_rate: {values}\n"
)


class Units(SilentObserver):
    def __init__(self) -> None:
        self.finished: dict[str, bool] = {}

    def unit_finished(self, unit: str, reused: bool) -> None:
        self.finished[unit] = reused


def _run(five_intent_dir: Path, tmp_path: Path, values: str, units: Units) -> dict[str, Any]:
    loaded = write_suite(five_intent_dir, "swept", SWEPT_LORA.format(values=values))
    options = RunOptions(
        out=tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache", limit=5, train_limit=40
    )
    run = run_compare(loaded.select_arms(["lora"]), options, units)
    lora: dict[str, Any] = json.loads((run / "results.json").read_text())["arms"]["lora"]
    return lora


def test_a_lora_sweep_picks_the_best_dev_trial_and_reports_every_trial(
    five_intent_dir: Path, tmp_path: Path
) -> None:
    units = Units()
    lora = _run(five_intent_dir, tmp_path, "[1.0e-12, 0.005]", units)
    sweep = lora["sweep"]
    trials = sweep["trials"]
    assert [t["params"] for t in trials] == [{"learning_rate": 1e-12}, {"learning_rate": 0.005}]
    for trial in trials:
        assert trial["dev"]["metric"] == "accuracy" and trial["dev_examples"] == 10
        assert trial["training"]["steps"] == 6 and trial["training"]["reused"] is False
        assert (tmp_path / "run" / trial["adapter"]["path"] / "adapter_config.json").exists()
    scores = [t["dev"]["value"] for t in trials]
    assert scores[1] > scores[0], "6 steps at 0.005 should beat an untouched adapter on dev"
    assert sweep["best_trial"] == 1 and sweep["chosen"] == {"learning_rate": 0.005}
    assert lora["config"]["learning_rate"] == 0.005
    # The headline pass reuses the winner's adapter: same training key, no second training.
    assert lora["training"]["reused"] is True
    assert lora["adapter"]["sha256"] == trials[1]["adapter"]["sha256"]
    assert lora["n"] == 5 and lora["integrity"]["ok"] is True
    assert units.finished == {"lora@trial0": False, "lora@trial1": False, "lora": False}

    again = Units()
    more = _run(five_intent_dir, tmp_path, "[1.0e-12, 0.005, 0.0001]", again)
    assert again.finished == {
        "lora@trial0": True,
        "lora@trial1": True,
        "lora@trial2": False,
        # The winner did not change: its headline pass is reused too.
        "lora": more["sweep"]["best_trial"] == 1,
    }
    assert [t["dev"]["value"] for t in more["sweep"]["trials"][:2]] == scores
