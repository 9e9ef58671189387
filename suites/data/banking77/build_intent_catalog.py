"""Build intents.jsonl, the knowledge corpus of the support-bot suite's RAG arm.

One document per Banking77 intent, as a support team's intent catalog would hold it: the
intent's name and a few example customer messages, taken from the train split (never from
test). Deterministic: `python build_intent_catalog.py` rewrites the same file.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES_PER_INTENT = 4
SEED = 77


def write_catalog(train_csv: Path, out: Path) -> None:
    """One catalog entry per intent of `train_csv`, written to `out`."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with train_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"].strip())
    rng = random.Random(SEED)
    lines = []
    for intent in sorted(by_intent):
        examples = rng.sample(sorted(by_intent[intent]), EXAMPLES_PER_INTENT)
        name = intent.replace("_", " ").lower()
        text = f"Intent: {name}\nExample customer messages:\n" + "\n".join(
            f"- {m}" for m in examples
        )
        lines.append(json.dumps({"id": intent, "text": text, "name": name}, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_catalog(HERE / "train.csv", HERE / "intents.jsonl")
