"""The LLM tuning arms' objective: cross-entropy on the answer tokens only, over left-padded
batches of ``EncodedExample`` (``batches``). LoRA and prompt tuning differ only in how a
batch is fed to the model (``last_logits``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunevsprompt.training.batches import EncodedExample, collate_left_padded

if TYPE_CHECKING:
    import torch


def answer_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over answer tokens (targets of -100 are prompt or padding)."""
    import torch

    count = int((targets != -100).sum())
    total = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    return total / max(count, 1), count


class CausalLMTrainable:
    """A causal LM with an adapter, trained on the answer tokens (a ``loop.Trainable``).
    Subclasses feed a batch to their model in ``last_logits``."""

    def __init__(self, device: str, autocast: torch.dtype | None, pad_id: int):
        self.device = device
        self.autocast_dtype = autocast
        """bf16 autocast on CUDA; None runs in the weights' own dtype (float32 on CPU)."""
        self.pad_id = pad_id

    def parameters_to_train(self) -> dict[str, torch.nn.Parameter]:
        raise NotImplementedError

    def set_training(self, training: bool) -> None:
        raise NotImplementedError

    def last_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int
    ) -> torch.Tensor:
        """Logits [batch, keep, vocab] for the last ``keep`` columns of a left-padded batch."""
        raise NotImplementedError

    def batch_loss(self, items: Sequence[EncodedExample]) -> tuple[torch.Tensor, int, int]:
        """(mean answer loss, answer tokens, tokens fed) of one left-padded batch."""
        batch = collate_left_padded(items, self.pad_id)
        with self._autocast():
            logits = self.last_logits(
                batch.input_ids.to(self.device), batch.attention_mask.to(self.device), batch.keep
            )
        loss, count = answer_loss(logits, batch.targets.to(logits.device))
        return loss, count, int(batch.attention_mask.sum())

    def _autocast(self) -> Any:
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.autocast_dtype)
