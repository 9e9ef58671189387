"""A candidate prompt: an instruction, optional label descriptions and a demonstration set,
and how it becomes chat prompts (the same layout as the prompting arms')."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tunevsprompt.task.data import groups_by_label
from tunevsprompt.task.types import Example

NO_DEMOS = "none"


@dataclass(frozen=True)
class Demos:
    """Which demonstrations a candidate shows. ``ids`` for a fixed set (random, stratified,
    bootstrapped); none for ``similar``, whose k nearest training examples are retrieved for
    each input."""

    strategy: str = NO_DEMOS
    k: int = 0
    ids: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.strategy == NO_DEMOS or self.k == 0:
            return "no demonstrations"
        return f"{self.k} {self.strategy} demonstrations"


@dataclass(frozen=True)
class Candidate:
    """One point of the search space. ``origin`` says where it came from: ``suite`` (the
    task's instruction), ``arm:<name>`` (a prompting arm of the suite as written),
    ``proposed:<i>`` (the proposer, from the task and examples), ``reflection:<r>``
    (the proposer, from the best candidate's failures) or ``bootstrapped:<origin>`` (a
    leader with demonstrations it answered right)."""

    instruction: str
    origin: str
    demos: Demos = field(default_factory=Demos)
    descriptions: tuple[tuple[str, str], ...] | None = None
    """(label form, one line) per label, shown in the label list; None for the plain list."""
    show_labels: bool = True
    passages: int = 0
    """Passages retrieved from the corpus of the rag arm the search starts from, in that
    arm's prompt layout (0: none; such candidates show no demonstrations)."""

    @property
    def key(self) -> str:
        """Stable identity: the same candidate gets the same key in every run."""
        payload = json.dumps(self.content(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def content(self) -> dict[str, Any]:
        """What the model sees, without the origin (two origins, one prompt: one candidate)."""
        return {
            "instruction": self.instruction,
            "demos": asdict(self.demos),
            "descriptions": [list(d) for d in self.descriptions] if self.descriptions else None,
            "show_labels": self.show_labels,
            # Only when set: the keys of candidates without passages stay as they were.
            **({"passages": self.passages} if self.passages else {}),
        }

    def describe(self) -> str:
        described = ", label descriptions" if self.descriptions else ""
        shown = f"{self.passages} retrieved passages" if self.passages else self.demos.describe()
        return f"{self.origin} instruction, {shown}{described}"

    def record(self) -> dict[str, Any]:
        """The candidate verbatim, for prompts/<arm>.json and the search trajectory."""
        return {
            "id": self.key,
            "origin": self.origin,
            "instruction": self.instruction,
            "label_descriptions": dict(self.descriptions) if self.descriptions else None,
            "show_labels": self.show_labels,
            "demonstrations": {
                "strategy": self.demos.strategy,
                "k": self.demos.k,
                "ids": list(self.demos.ids) if self.demos.strategy != "similar" else None,
            },
            "passages": self.passages,
        }


def ordered_dev(examples: Sequence[Example], seed: int, stratify: bool) -> list[Example]:
    """Dev examples in an order whose every prefix is spread over the labels: labels in a
    seeded order, then one example of each in turn (each label's examples shuffled)."""
    rng = random.Random(f"{seed}-prompt-search-dev")
    groups = groups_by_label(examples, stratify)
    lists = [groups[label] for label in sorted(groups)]
    for group in lists:
        rng.shuffle(group)
    rng.shuffle(lists)
    ordered: list[Example] = []
    depth = 0
    while len(ordered) < len(examples):
        ordered.extend(group[depth] for group in lists if depth < len(group))
        depth += 1
    return ordered
