"""A seeded, stratified train/test split for data that comes without a test split, written
as JSON lines beside the suite (every field kept)."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from tunevsprompt.runfolder.store import write_text_atomic

TEST_SHARE = 0.2
TEST_MAX = 2000
"""A test split larger than this adds little precision for the labels it takes from train."""


def propose_split(
    rows: list[dict[str, Any]], target: str | None, seed: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """``TEST_SHARE`` of the rows (at most ``TEST_MAX``) as test, the rest as train, drawn
    within each label when ``target`` is given (a label with one row stays in train, so
    every test label can be learnt), keeping the rows' order in each split."""
    rng = random.Random(seed)
    share = min(TEST_SHARE, TEST_MAX / max(len(rows), 1))
    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[str(row.get(target)) if target else ""].append(index)
    test: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        take = min(len(members) - 1, max(1, math.floor(share * len(members))))
        test.update(rng.sample(members, take))
    return {
        "train": [row for i, row in enumerate(rows) if i not in test],
        "test": [row for i, row in enumerate(rows) if i in test],
    }


def write_splits(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> dict[str, Path]:
    """One ``<split>.jsonl`` per split in ``folder``, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, rows in splits.items():
        path = folder / f"{split}.jsonl"
        lines = (json.dumps(row, ensure_ascii=False, default=str) for row in rows)
        write_text_atomic(path, "".join(line + "\n" for line in lines))
        written[split] = path
    return written
