"""What the encoder arms train on: labelled token ids (classification fine-tuning) and pairs
of them (SetFit's contrastive stage), the pair sampler, and the padding of a batch."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LabelledText:
    """One example: the encoder's token ids of its input and the index of its label."""

    id: str
    input_ids: tuple[int, ...]
    label: int

    @property
    def length(self) -> int:
        return len(self.input_ids)

    def key_row(self) -> list[object]:
        return [self.id, list(self.input_ids), self.label]


@dataclass(frozen=True)
class TextPair:
    """Two examples and whether they share a label (SetFit: target cosine 1 or 0)."""

    first: LabelledText
    second: LabelledText

    @property
    def same(self) -> bool:
        return self.first.label == self.second.label

    @property
    def length(self) -> int:
        return max(self.first.length, self.second.length)


def sample_pairs(examples: Sequence[LabelledText], rounds: int, seed: int) -> list[TextPair]:
    """SetFit's pair sampling: in each round every example is paired once with another of
    its label (when its label has another) and once with an example of a different label
    (drawn uniformly among those examples, when there are any), so positive and negative
    pairs come in near-equal numbers however many labels there are. The same for the same
    (examples, rounds, seed)."""
    by_label: dict[int, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        by_label[example.label].append(index)
    pairs: list[TextPair] = []
    for round_ in range(rounds):
        rng = random.Random(f"{seed}-pairs-{round_}")
        for index, example in enumerate(examples):
            same = [i for i in by_label[example.label] if i != index]
            if same:
                pairs.append(TextPair(example, examples[rng.choice(same)]))
            if len(by_label) > 1:
                other = rng.randrange(len(examples) - len(by_label[example.label]))
                pairs.append(TextPair(example, examples[_skipping(other, by_label[example.label])]))
    return pairs


def _skipping(position: int, taken: list[int]) -> int:
    """The index at ``position`` among all indices but the sorted ``taken`` ones."""
    index = position
    for used in taken:
        if used <= index:
            index += 1
        else:
            break
    return index


def pad_batch(rows: Sequence[tuple[int, ...]], pad_id: int, device: str) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``token_type_ids``: the features a
    sentence-transformers model reads."""
    import torch

    width = max(len(r) for r in rows)
    ids = [list(r) + [pad_id] * (width - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
    input_ids = torch.tensor(ids, dtype=torch.long, device=device)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.tensor(mask, dtype=torch.long, device=device),
        "token_type_ids": torch.zeros_like(input_ids),
    }
