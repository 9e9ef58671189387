"""Build ../banking77-10/, the demo suite's data: ten Banking77 intents, all of their train
and test messages, and the intent catalog of those ten (the RAG arm's corpus).

Ten intents rather than 77 keep the demo inside ten minutes on 2 CPU cores: an LLM arm that
ranks labels scores every label for every message, and the prompting arms list every label.
Deterministic: `python build_demo_subset.py` rewrites the same files.
"""

from __future__ import annotations

import csv
from pathlib import Path

from build_intent_catalog import write_catalog

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "banking77-10"
INTENTS = (
    "activate_my_card",
    "age_limit",
    "apple_pay_or_google_pay",
    "card_arrival",
    "change_pin",
    "exchange_rate",
    "lost_or_stolen_card",
    "pin_blocked",
    "terminate_account",
    "top_up_failed",
)


def copy_intents(source: Path, target: Path) -> None:
    with source.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["category"] in INTENTS]
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for split in ("train", "test"):
        copy_intents(HERE / f"{split}.csv", OUT / f"{split}.csv")
    write_catalog(OUT / "train.csv", OUT / "intents.jsonl")
