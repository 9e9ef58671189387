"""Shared fixtures (the helpers they use are in helpers.py). Tests run offline: nothing here
may reach a hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import (
    FIVE_INTENTS,
    LORA,
    SMALL_PROBE,
    SOFT_PROMPT,
    SUITE_TEMPLATE,
    SilentObserver,
    banking_rows,
    subset,
    write_csv,
    write_suite,
)


@pytest.fixture(scope="session")
def five_intent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A suite folder with a 5-intent Banking77 subset: 20 train and 6 test per intent."""
    folder = tmp_path_factory.mktemp("five-intents")
    write_csv(
        folder / "data" / "train.csv", subset(banking_rows("train"), FIVE_INTENTS, 20, seed=1)
    )
    write_csv(folder / "data" / "test.csv", subset(banking_rows("test"), FIVE_INTENTS, 6, seed=2))
    (folder / "suite.yaml").write_text(SUITE_TEMPLATE.format(latency_sample=4))
    (folder / "suite-nolatency.yaml").write_text(SUITE_TEMPLATE.format(latency_sample=0))
    return folder


@pytest.fixture(scope="session")
def tuning_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cache folder of ``tuned_run``: its predictions and its trained adapters (under
    training/, by training key)."""
    return tmp_path_factory.mktemp("tuning-cache")


@pytest.fixture(scope="session")
def tuned_run(
    five_intent_dir: Path, tuning_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """zero-shot, LoRA and soft-prompt trained on the 5-intent subset (100 examples, 20 per
    intent, 10% carved off for dev), with a small prose forgetting probe. Session-scoped: the
    forgetting e2e tests probe this run's LoRA adapter (reused by its training key) instead
    of training one of their own."""
    from tunevsprompt.runner import RunOptions, run_compare

    loaded = write_suite(
        five_intent_dir,
        "tuning",
        LORA.format(extra="") + SOFT_PROMPT.format(extra=""),
        latency=3,
        forgetting=SMALL_PROBE,
    )
    out = tmp_path_factory.mktemp("tuning-run") / "run"
    options = RunOptions(out=out, device="cpu", cache_dir=tuning_cache)
    return run_compare(loaded, options, SilentObserver())
