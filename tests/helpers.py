"""Shared test helpers: the Banking77 subsets, suite templates and writers that several test
modules use (fixtures are in conftest.py, and import these too). Tests run offline: nothing
here may reach a hub."""

from __future__ import annotations

import csv
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunevsprompt.suite.loader import LoadedSuite

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

TEN_INTENTS = [
    *FIVE_INTENTS,
    "pin_blocked",
    "top_up_failed",
    "declined_transfer",
    "change_pin",
    "country_support",
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

UNTIMED_RUN = """\
sampling:
  seed: 0
latency:
  sample: 0
metrics:
  bootstrap_samples: 200
"""
"""The end of a suite for a quick run: seed 0, no latency timing, a small bootstrap."""

ZERO_SHOT_ARMS = """\
arms:
  - name: zero-shot
    type: zero-shot
    decide: rank
"""
"""The start of an ``arms:`` list with the ranking zero-shot baseline."""


from tunevsprompt.runner import SilentObserver  # noqa: E402 (after the offline env vars)

__all__ = ["Recorder", "SilentObserver"]


class Recorder(SilentObserver):
    """A RunObserver keeping the run's messages; it raises KeyboardInterrupt once a message
    contains ``kill_on`` (a kill at that point of the run, e.g. after a checkpoint)."""

    def __init__(self, kill_on: str | None = None) -> None:
        self.messages: list[str] = []
        self.kill_on = kill_on

    def message(self, text: str) -> None:
        self.messages.append(text)
        if self.kill_on is not None and self.kill_on in text:
            raise KeyboardInterrupt(f"simulated kill at: {text}")


SUITE_TEMPLATE = (
    "name: five-intents\n"
    + BANKING_TASK
    + ZERO_SHOT_ARMS
    + """\
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


# --- the tuning run shared by the tuning and forgetting e2e tests ---------------------------

TUNING_SUITE = (
    "name: five-intents-tuning\n"
    + BANKING_TASK
    + ZERO_SHOT_ARMS
    + """\
{arms}
sampling:
  seed: 0
latency:
  sample: {latency}
  warmup: 1
metrics:
  bootstrap_samples: 500
forgetting:
{forgetting}
"""
)

NO_PROBES = "  enabled: false"
SMALL_PROBE = """\
  probes:
    - {name: prose, kind: perplexity, source: builtin:prose, max_tokens: 512, window: 128}"""

# One epoch at a high learning rate, and no LoRA dropout (on CPU drawing the dropout masks
# costs about a third of every step): measured on the 5-intent subset, LoRA reaches 0.9 and
# the soft prompt 0.83 accuracy against zero-shot's 0.43, and the LoRA adapter more than doubles
# prose perplexity (37 to 83, CI of the increase 32-63: the forgetting e2e tests need that).
LORA = """\
  - name: lora
    type: lora
    r: 8
    dropout: 0.0
    learning_rate: 0.002
    epochs: 1
{extra}"""

SOFT_PROMPT = """\
  - name: soft-prompt
    type: soft-prompt
    learning_rate: 0.3
    epochs: 1
{extra}"""


def write_suite(
    folder: Path, name: str, arms: str, latency: int = 0, forgetting: str = NO_PROBES
) -> LoadedSuite:
    from tunevsprompt.suite.loader import load_suite

    path = folder / f"{name}.yaml"
    path.write_text(TUNING_SUITE.format(arms=arms, latency=latency, forgetting=forgetting))
    return load_suite(path)


# --- an out-of-scope task (abstention, slices, calibration) ----------------------------------

INTENTS = {
    "card_lost": ["lost", "stolen", "missing", "misplaced"],
    "transfer": ["send", "transfer", "wire", "move"],
    "balance": ["balance", "funds", "savings", "money left"],
    "pin": ["pin", "passcode", "secret number", "code"],
}
OFF_TOPIC = [
    "what is the weather in {}",
    "tell me a joke about {}",
    "how tall is the tallest {}",
    "recommend a film about {}",
    "what rhymes with {}",
    "how do I grow {} at home",
]
THINGS = ["tomatoes", "penguins", "volcanoes", "jazz", "castles", "rivers", "robots", "tea"]


def out_of_scope_rows(split: str, per_intent: int, oos: int, seed: int) -> list[dict[str, str]]:
    import random

    rng = random.Random(f"{split}-{seed}")
    rows = []
    for intent, words in INTENTS.items():
        for i in range(per_intent):
            word = words[i % len(words)]
            rows.append(
                {
                    "text": f"{rng.choice(['hi', 'hello', 'please'])} my card {word} "
                    f"question {rng.randint(0, 999)}",
                    "label": intent,
                }
            )
    for i in range(oos):
        template = OFF_TOPIC[(i + seed) % len(OFF_TOPIC)]
        rows.append({"text": template.format(rng.choice(THINGS)) + f" {i}", "label": "oos"})
    return rows


def write_out_of_scope_suite(folder: Path, arms: str, extra: str = "") -> Path:
    """Four intents and out-of-scope messages (label `oos`) in train (a few), dev and test,
    each row with a `channel`; a suite with `abstain_label: oos` and the given arms."""
    for split, per, oos, seed in (("train", 12, 3, 1), ("dev", 6, 12, 2), ("test", 8, 24, 3)):
        rows = out_of_scope_rows(split, per, oos, seed)
        with (folder / f"{split}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "label", "channel"])
            writer.writeheader()
            writer.writerows(
                {**r, "channel": "app" if i % 3 else "web"} for i, r in enumerate(rows)
            )
    suite = folder / "suite.yaml"
    suite.write_text(
        "name: out-of-scope\n"
        "task:\n  type: classification\n"
        "  data: {train: train.csv, dev: dev.csv, test: test.csv}\n"
        "  instruction: Name the intent.\n  abstain_label: oos\n"
        f"arms:\n{arms}latency: {{sample: 0}}\n{extra}"
    )
    return suite
