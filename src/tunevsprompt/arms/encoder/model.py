"""The fine-tuned encoder as one object: a sentence-transformers encoder and a linear head
over its sentence embedding (one score per label). Saved as a sentence-transformers folder
whose last module is that head (a ``Dense`` layer without activation), with the label names
beside it, so ``SentenceTransformer(folder).encode(texts)`` gives the scores and needs
nothing from tvp."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunevsprompt.arms.encoder.items import pad_batch
from tunevsprompt.generation.quiet import no_loading_bars

if TYPE_CHECKING:
    import torch

LABELS_FILE = "labels.json"
"""The label of each score, in order (``{"labels": [...]}``)."""
WEIGHTS_FILE = "model.safetensors"
"""The encoder's weights inside the saved folder (a finished save has it)."""
NOT_THE_MODEL = {"training.json", "tvp_export.json", "README.md"}
"""Files beside the model in its folder that do not change what it answers."""


def model_sha256(folder: Path) -> str:
    """sha256 over every file of a saved model (the encoder, the head, the tokenizer, the
    configs, labels.json), by relative path: what the run records and export checks."""
    import hashlib

    from tunevsprompt.generation.model_source import file_sha256

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name in NOT_THE_MODEL and path.parent == folder:
            continue
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


class EncoderClassifier:
    """``encoder`` (a SentenceTransformer without head) + ``head`` (torch Linear)."""

    def __init__(self, encoder: Any, head: torch.nn.Linear, labels: Sequence[str]):
        self.encoder = encoder
        self.head = head
        self.labels = list(labels)
        self.device = str(encoder.device)

    @property
    def pad_id(self) -> int:
        return int(self.encoder.tokenizer.pad_token_id)

    def token_ids(self, texts: Sequence[str], max_length: int) -> list[tuple[int, ...]]:
        """Each text's token ids with special tokens, cut to ``max_length``."""
        encoded = self.encoder.tokenizer(list(texts), truncation=True, max_length=max_length)
        return [tuple(ids) for ids in encoded["input_ids"]]

    def embed_ids(self, rows: Sequence[tuple[int, ...]]) -> torch.Tensor:
        """Sentence embeddings of token-id rows (with gradients when training)."""
        features = pad_batch(rows, self.pad_id, self.device)
        embedding: torch.Tensor = self.encoder(features)["sentence_embedding"]
        return embedding

    def embed(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """float32 [n, dim] embeddings, no gradients."""
        return self._batched(texts, batch_size, lambda e: e)[0]

    def scores(self, texts: Sequence[str], batch_size: int) -> tuple[np.ndarray, list[int]]:
        """float32 [n, labels]: the head's scores, no gradients; and the tokens the encoder
        read of each text."""
        return self._batched(texts, batch_size, self.head)

    def _batched(
        self, texts: Sequence[str], batch_size: int, then: Any
    ) -> tuple[np.ndarray, list[int]]:
        import torch

        was_training = self.encoder.training
        self.encoder.eval()
        out: list[np.ndarray] = []
        lengths: list[int] = []
        max_length = int(self.encoder.max_seq_length)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = self.token_ids(texts[start : start + batch_size], max_length)
                lengths.extend(len(row) for row in rows)
                out.append(then(self.embed_ids(rows)).float().cpu().numpy())
        self.encoder.train(was_training)
        if not out:
            return np.zeros((0, 0), dtype=np.float32), lengths
        return np.concatenate(out).astype(np.float32), lengths

    def parameters(self) -> dict[str, torch.nn.Parameter]:
        named = {f"encoder.{n}": p for n, p in self.encoder.named_parameters()}
        named.update({f"head.{n}": p for n, p in self.head.named_parameters()})
        return named

    def save(self, folder: Path) -> None:
        """The sentence-transformers folder with the head as its last module."""
        from sentence_transformers import SentenceTransformer
        from torch import nn

        try:  # sentence-transformers 6
            from sentence_transformers.sentence_transformer.modules import Dense
        except ImportError:  # 3 to 5
            from sentence_transformers.models import Dense  # type: ignore[no-redef]

        dense = Dense(
            self.head.in_features,
            self.head.out_features,
            bias=True,
            activation_function=nn.Identity(),
            init_weight=self.head.weight.detach().clone(),
            init_bias=self.head.bias.detach().clone(),
        )
        whole = SentenceTransformer(modules=[*self.encoder, dense], device=self.device)
        with no_loading_bars():
            whole.save(str(folder))
        (folder / LABELS_FILE).write_text(
            json.dumps({"labels": self.labels}, ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, folder: Path, device: str) -> EncoderClassifier:
        """A folder ``save`` wrote: the encoder and the head split apart again."""
        import torch
        from sentence_transformers import SentenceTransformer

        with no_loading_bars():
            whole = SentenceTransformer(str(folder), device=device)
        *modules, dense = list(whole)
        encoder = SentenceTransformer(modules=modules, device=device)
        encoder.max_seq_length = whole.max_seq_length
        labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))["labels"]
        head = dense.linear
        assert isinstance(head, torch.nn.Linear)
        return cls(encoder, head, labels)


def linear_head(weight: np.ndarray, bias: np.ndarray, device: str) -> torch.nn.Linear:
    """A torch Linear holding ``weight`` [labels, dim] and ``bias`` [labels]."""
    import torch

    head = torch.nn.Linear(weight.shape[1], weight.shape[0]).to(device)
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return head


def logistic_regression_head(
    vectors: np.ndarray, labels: Sequence[str], classes: Sequence[str], c: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """A multinomial logistic regression on ``vectors`` as (weight [classes, dim], bias
    [classes], solver iterations), rows in ``classes`` order: argmax of ``x·Wᵀ + b`` is
    scikit-learn's prediction and its softmax is ``predict_proba``. Two classes (one
    coefficient row in scikit-learn) become the rows (0, w) and (0, b)."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=c, max_iter=max_iter).fit(vectors, list(labels))
    coef, intercept = fitted.coef_, fitted.intercept_
    if coef.shape[0] == 1:  # binary: p(class 1) = sigmoid(w·x + b)
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    weight = np.zeros((len(classes), vectors.shape[1]))
    bias = np.full(len(classes), -1e4)  # a label absent from training is never predicted
    for row, name in enumerate(fitted.classes_):
        weight[list(classes).index(str(name))] = coef[row]
        bias[list(classes).index(str(name))] = intercept[row]
    return weight.astype(np.float32), bias.astype(np.float32), int(max(fitted.n_iter_))
