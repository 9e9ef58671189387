"""The two ways the encoder arms train, as ``training.loop.Trainable``: cross-entropy through
the head and the whole encoder (``encoder-finetune``), and SetFit's contrastive stage, the
cosine similarity of a pair pulled towards 1 for the same label and 0 for different ones
(``setfit``; the head is fitted afterwards)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tunevsprompt.arms.encoder.items import LabelledText, TextPair
from tunevsprompt.arms.encoder.model import EncoderClassifier

if TYPE_CHECKING:
    import torch


class _EncoderTrainable:
    def __init__(self, model: EncoderClassifier):
        self.model = model
        self.device = model.device

    def set_training(self, training: bool) -> None:
        self.model.encoder.train(training)
        self.model.head.train(training)


class ClassificationObjective(_EncoderTrainable):
    """Every encoder weight and the head, trained on cross-entropy over the labels."""

    def parameters_to_train(self) -> dict[str, torch.nn.Parameter]:
        return self.model.parameters()

    def batch_loss(self, items: Sequence[LabelledText]) -> tuple[torch.Tensor, int, int]:
        import torch

        logits = self.model.head(self.model.embed_ids([i.input_ids for i in items]))
        targets = torch.tensor([i.label for i in items], device=logits.device)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        return loss, len(items), sum(i.length for i in items)


class ContrastiveObjective(_EncoderTrainable):
    """The encoder's weights (not the head), trained on SetFit's cosine-similarity loss: the
    mean squared gap between a pair's cosine similarity and 1 (same label) or 0 (not).
    Each distinct text of a batch is encoded once."""

    def parameters_to_train(self) -> dict[str, torch.nn.Parameter]:
        return {n: p for n, p in self.model.parameters().items() if n.startswith("encoder.")}

    def batch_loss(self, items: Sequence[TextPair]) -> tuple[torch.Tensor, int, int]:
        import torch

        texts: dict[str, LabelledText] = {}
        for pair in items:
            texts.setdefault(pair.first.id, pair.first)
            texts.setdefault(pair.second.id, pair.second)
        order = {text_id: i for i, text_id in enumerate(texts)}
        embedded = self.model.embed_ids([t.input_ids for t in texts.values()]).float()
        first = embedded[[order[p.first.id] for p in items]]
        second = embedded[[order[p.second.id] for p in items]]
        cosine = torch.nn.functional.cosine_similarity(first, second, dim=-1)
        target = torch.tensor([float(p.same) for p in items], device=cosine.device)
        loss = torch.nn.functional.mse_loss(cosine, target)
        return loss, len(items), sum(t.length for t in texts.values())
