"""Shared fixtures. Tests run offline: nothing here may reach a hub."""

from __future__ import annotations

import csv
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
BANKING = REPO / "suites" / "data" / "banking77"
FIVE_INTENTS = [
    "card_arrival",
    "exchange_rate",
    "lost_or_stolen_phone",
    "cash_withdrawal_charge",
    "terminate_account",
]


def banking_rows(split: str) -> list[dict[str, str]]:
    with (BANKING / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def subset(
    rows: list[dict[str, str]], intents: list[str], per_intent: int, seed: int
) -> list[dict[str, str]]:
    by_intent: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["category"] in intents:
            by_intent[row["category"]].append(row)
    rng = random.Random(seed)
    out = []
    for intent in intents:
        out.extend(rng.sample(by_intent[intent], per_intent))
    return out


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)


BANKING_TASK = """\
task:
  type: classification
  data:
    train: data/train.csv
    test: data/test.csv
  input_field: text
  target_field: category
  instruction: Name the intent of this bank customer's message.
"""
"""The task block of a suite beside a Banking77 subset written by ``write_csv`` as
data/train.csv and data/test.csv (``five_intent_dir`` and the other subset folders)."""


class SilentObserver:
    """A RunObserver that shows nothing."""

    def arm_started(self, name: str, total: int) -> None:
        pass

    def advanced(self, count: int) -> None:
        pass

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass


SUITE_TEMPLATE = (
    "name: five-intents\n"
    + BANKING_TASK
    + """\
arms:
  - name: zero-shot
    type: zero-shot
    decide: rank
  - name: few-shot
    type: few-shot
    k: 10
    decide: rank
sampling:
  seed: 0
latency:
  sample: {latency_sample}
  warmup: 1
metrics:
  bootstrap_samples: 500
"""
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
