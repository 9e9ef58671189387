"""Turn (prompt, answer) token ids into left-padded batches with answer-only targets.

Left padding puts every answer at the end of its row, so the model only has to produce
logits for the last few columns (``logits_to_keep``), not for the whole prompt: the
vocabulary projection is a large share of a small model's compute.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

IGNORE = -100


@dataclass(frozen=True)
class EncodedExample:
    """One training example as token ids: the rendered prompt and the answer the model
    should produce after it (label surface form + end-of-turn)."""

    id: str
    prompt_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.answer_ids)

    def key_row(self) -> list[object]:
        """What of it decides the trained weights (``adapter_cache.training_key``)."""
        return [self.id, list(self.prompt_ids), list(self.answer_ids)]


def truncate(
    prompt_ids: list[int], answer_ids: list[int], max_length: int
) -> tuple[list[int], bool]:
    """Drop prompt tokens from the left so prompt + answer fit; the answer is kept whole."""
    room = max_length - len(answer_ids)
    if len(prompt_ids) <= room:
        return prompt_ids, False
    if room < 1:
        raise ValueError(
            f"an answer of {len(answer_ids)} tokens does not fit max_seq_length {max_length}"
        )
    return prompt_ids[len(prompt_ids) - room :], True


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor
    """[batch, keep]: target token for the logits at each of the last ``keep`` columns."""
    keep: int


def collate_left_padded(examples: Sequence[EncodedExample], pad_id: int) -> Batch:
    """Rows are ``pad.. prompt answer``. The logits at column t predict column t+1, so the
    answer (columns W-a .. W-1) is predicted by columns W-a-1 .. W-2; the last kept column
    predicts nothing."""
    import torch

    width = max(e.length for e in examples)
    keep = max(len(e.answer_ids) for e in examples) + 1
    ids, mask, targets = [], [], []
    for e in examples:
        row = [*e.prompt_ids, *e.answer_ids]
        pad = width - len(row)
        ids.append([pad_id] * pad + row)
        mask.append([0] * pad + [1] * len(row))
        answer = list(e.answer_ids)
        targets.append([IGNORE] * (keep - 1 - len(answer)) + answer + [IGNORE])
    return Batch(
        torch.tensor(ids, dtype=torch.long),
        torch.tensor(mask, dtype=torch.long),
        torch.tensor(targets, dtype=torch.long),
        keep,
    )


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, mega: int = 50
) -> list[list[int]]:
    """Shuffled batches of similar lengths (less padding), the same for a (seed, epoch).

    As in transformers' LengthGroupedSampler: shuffle, cut into mega-batches of ``mega``
    batches, sort each by length, split, shuffle the batch order, and put the longest batch
    first so that running out of memory happens at step 1, not hours in.
    """
    rng = random.Random(f"{seed}-epoch-{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = mega * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
    batches[0], batches[longest] = batches[longest], batches[0]
    return batches


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Deterministic batches by descending length (evaluation)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
