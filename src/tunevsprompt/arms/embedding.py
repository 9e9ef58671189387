"""The no-LLM baselines: frozen sentence embeddings and a light classifier on top (the
"feature-based" way to adapt a pretrained model). No language model answers; a request costs
one embedding and a search or a dot product.

- ``embed-knn``: the label most of the k nearest training examples carry (FAISS over the train
  split, the same embedder and index cache as the retrieving arms).
- ``embed-linear``: logistic regression (scikit-learn) on the train split's embeddings.
- ``nearest-answer``: for generation tasks, the target of the most similar training example,
  verbatim (the FAQ lookup many support teams start from).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from tunevsprompt.arms.base import ArmConfig, RunContext
from tunevsprompt.arms.capabilities import LearnsFromExamples
from tunevsprompt.errors import RunError
from tunevsprompt.retrieval.config import EmbedderConfig, IndexConfig
from tunevsprompt.task.types import Example, Prediction

if TYPE_CHECKING:
    from tunevsprompt.arms.retrieving import ArmRetrieval
    from tunevsprompt.retrieval.embedder import Embedder


class EmbeddingArmConfig(ArmConfig, LearnsFromExamples):
    """Keys every embedding baseline has."""

    embedder: EmbedderConfig = Field(
        default_factory=EmbedderConfig,
        description="The sentence-transformers model (default: packaged all-MiniLM-L6-v2).",
    )
    batch_size: int = Field(64, ge=1, description="Test inputs per embedding call.")
    task_types: ClassVar[tuple[str, ...]] = ("classification",)
    answers_train_labels_only: ClassVar[bool] = True

    def problems_for_task(self, task_type: str) -> list[tuple[str, str]]:
        if task_type in self.task_types:
            return []
        other = (
            "nearest-answer"
            if task_type == "generation"
            else "embed-knn (k: 1 is the nearest answer) or embed-linear"
        )
        return [("type", f"{self.type} is for {self.task_types[0]} tasks; use {other}")]


class EmbedKnnConfig(EmbeddingArmConfig):
    type: Literal["embed-knn"] = "embed-knn"
    k: int = Field(10, ge=1, description="Training examples that vote.")
    weighting: Literal["similarity", "uniform"] = Field(
        "similarity",
        description="similarity: each neighbour's vote is its cosine similarity; uniform: "
        "one vote each. Ties go to the label of the nearest neighbour.",
    )
    index: IndexConfig = Field(
        default_factory=IndexConfig, description="The FAISS index over the train split."
    )


class EmbedLinearConfig(EmbeddingArmConfig):
    type: Literal["embed-linear"] = "embed-linear"
    C: float = Field(
        1.0, gt=0, description="Inverse regularisation strength (scikit-learn's C; L2)."
    )
    max_iter: int = Field(1000, ge=1, description="Solver iterations (lbfgs) at most.")
    class_weight: Literal["balanced"] | None = Field(
        None, description="balanced: weigh classes inversely to their training frequency."
    )


class NearestAnswerConfig(EmbeddingArmConfig):
    type: Literal["nearest-answer"] = "nearest-answer"
    index: IndexConfig = Field(
        default_factory=IndexConfig, description="The FAISS index over the train split."
    )
    task_types: ClassVar[tuple[str, ...]] = ("generation",)


class EmbeddingArm:
    """What the three share: the embedder, token counts, the record that says no LLM ran."""

    config_model: ClassVar[type[EmbeddingArmConfig]] = EmbeddingArmConfig
    method: ClassVar[str] = ""

    def __init__(self, config: EmbeddingArmConfig):
        self.config = config
        self.name = config.name
        self._embedder: Embedder | None = None

    def _check(self, train: Sequence[Example], ctx: RunContext) -> None:
        problems = self.config.problems_for_task(ctx.task.type)
        if problems:
            raise ctx.config_error(problems[0][0], problems[0][1], None)
        if not train:
            raise RunError(f"arm {self.name}: the train split is empty; nothing to compare with")

    def _load_embedder(self, ctx: RunContext) -> Embedder:
        from tunevsprompt.retrieval.embedder import load_embedder

        config = self.config.embedder
        device = config.device if config.device != "auto" else ctx.device
        return load_embedder(config.id, config.revision, device, config.batch_size)

    def _record(self, embedder: Embedder, train: Sequence[Example]) -> dict[str, Any]:
        return {
            "uses_llm": False,
            "compute_device": embedder.device,
            "embedding": {
                "method": self.method,
                "embedder": embedder.model_id,
                "fingerprint": embedder.fingerprint,
                "device": embedder.device,
                "dim": embedder.dim,
                "train_examples": len(train),
            },
        }

    def _tokens(self, text: str) -> int:
        """The embedder's tokens for ``text``: what it reads, special tokens included."""
        assert self._embedder is not None
        return min(len(self._embedder.token_spans(text)) + 2, self._embedder.max_tokens)

    def _batches(self, batch: Sequence[Example]) -> list[Sequence[Example]]:
        size = self.config.batch_size
        return [batch[i : i + size] for i in range(0, len(batch), size)]

    def visible_texts(self) -> list[str]:
        """No model is shown any text: nothing to check for contamination."""
        return []


class _NeighbourArm(EmbeddingArm):
    """Answers from the nearest training examples (FAISS over the train split)."""

    def __init__(self, config: EmbeddingArmConfig):
        super().__init__(config)
        self._retrieval: ArmRetrieval | None = None
        self._pool: dict[str, Example] = {}

    def _k(self) -> int:
        """Neighbours retrieved per input."""
        raise NotImplementedError

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        """Embed and index the train split (or take both from the cache)."""
        from tunevsprompt.arms.retrieving import open_retrieval
        from tunevsprompt.retrieval.corpus import documents_from_examples

        self._check(train, ctx)
        config = self.config
        assert isinstance(config, EmbedKnnConfig | NearestAnswerConfig)
        self._pool = {e.id: e for e in train}
        self._retrieval = open_retrieval(
            documents_from_examples(train), None, 0, config.embedder, config.index, self._k(), ctx
        )
        self._embedder = self._retrieval.retriever.embedder
        return self._record(self._embedder, train)

    def _neighbours(
        self, batch: Sequence[Example]
    ) -> list[tuple[Example, list[tuple[Example, float]]]]:
        """Each input with its neighbours, nearest first, and their similarities."""
        assert self._retrieval is not None
        out = []
        for chunk in self._batches(batch):
            hits, _ms = self._retrieval.retrieve(chunk)
            for example, found in zip(chunk, hits, strict=True):
                near = [(self._pool[h.chunk.source_id], h.score) for h in found]
                self._retrieval.log.add(
                    example.id, [n.target for n, _ in near], self._gold(example)
                )
                out.append((example, near))
        return out

    def _gold(self, example: Example) -> str | None:
        return example.target

    def _answer(
        self, example: Example, answer: str | None, near: Sequence[tuple[Example, float]]
    ) -> Prediction:
        return Prediction(
            example.id,
            raw_output=answer or "",
            prediction=answer,
            input_tokens=self._tokens(example.input),
            output_tokens=0,
            parse="exact" if answer is not None else "failed",
            extra={
                "context": {
                    "neighbours": [n.id for n, _ in near],
                    "scores": [round(score, 4) for _, score in near],
                }
            },
        )

    def retrieval_record(self, example_ids: Sequence[str]) -> dict[str, Any] | None:
        """``arms.<name>.retrieval``: the index, its timings, and hit@k (is the gold label
        among the neighbours' labels)."""
        if self._retrieval is None:
            return None
        return self._retrieval.record(example_ids, "gold label")


def vote(neighbours: Sequence[tuple[str, float]], weighting: str) -> str | None:
    """The label with the most votes (similarities, or one each); ties go to the label of
    the nearest neighbour among the tied."""
    return counted_vote(neighbours, weighting)[0]


def counted_vote(
    neighbours: Sequence[tuple[str, float]], weighting: str
) -> tuple[str | None, float | None]:
    """``vote`` and the winner's share of the votes (its confidence). The share counts each
    neighbour's cosine similarity s as (1 + s) / 2, which is never negative, so a share always
    exists and a label with more, if dissimilar, neighbours is not written off."""
    totals: dict[str, float] = defaultdict(float)
    weights: dict[str, float] = defaultdict(float)
    first: dict[str, int] = {}
    for rank, (label, similarity) in enumerate(neighbours):
        uniform = weighting != "similarity"
        totals[label] += 1.0 if uniform else similarity
        weights[label] += 1.0 if uniform else (1.0 + similarity) / 2
        first.setdefault(label, rank)
    if not totals:
        return None, None
    winner = max(totals, key=lambda label: (totals[label], -first[label]))
    whole = sum(weights.values())
    return winner, (weights[winner] / whole if whole > 0 else 1.0)


class EmbedKnnArm(_NeighbourArm):
    config_model = EmbedKnnConfig
    method = "k nearest neighbours"

    def _k(self) -> int:
        assert isinstance(self.config, EmbedKnnConfig)
        return self.config.k

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        record = super().prepare(train, ctx)
        assert isinstance(self.config, EmbedKnnConfig)
        record["embedding"].update(k=self.config.k, weighting=self.config.weighting)
        return record

    def predict(self, batch: Sequence[Example]) -> list[Prediction]:
        config = self.config
        assert isinstance(config, EmbedKnnConfig)
        answers = []
        for example, near in self._neighbours(batch):
            label, share = counted_vote([(n.target, s) for n, s in near], config.weighting)
            answer = self._answer(example, label, near)
            if share is not None:
                answer.extra["confidence"] = round(share, 6)
            answers.append(answer)
        return answers


class NearestAnswerArm(_NeighbourArm):
    config_model = NearestAnswerConfig
    method = "nearest training answer"

    def _k(self) -> int:
        return 1

    def _gold(self, example: Example) -> str | None:
        return None  # answers are free text: no retrieval gold

    def predict(self, batch: Sequence[Example]) -> list[Prediction]:
        return [
            self._answer(example, near[0][0].target if near else None, near)
            for example, near in self._neighbours(batch)
        ]


class EmbedLinearArm(EmbeddingArm):
    config_model = EmbedLinearConfig
    method = "logistic regression"

    def __init__(self, config: EmbedLinearConfig):
        super().__init__(config)
        self._classifier: Any = None

    def prepare(self, train: Sequence[Example], ctx: RunContext) -> dict[str, Any]:
        from sklearn.linear_model import LogisticRegression

        from tunevsprompt.generation.model_source import cache_root
        from tunevsprompt.retrieval.cache import load_or_embed
        from tunevsprompt.retrieval.chunking import chunk_documents
        from tunevsprompt.retrieval.corpus import documents_from_examples
        from tunevsprompt.training.memory import PeakMemory

        self._check(train, ctx)
        config = self.config
        assert isinstance(config, EmbedLinearConfig)
        labels = [e.target for e in train]
        if len(set(labels)) < 2:
            raise RunError(f"arm {self.name}: the train split has one label; nothing to learn")
        embedder = self._embedder = self._load_embedder(ctx)
        memory = PeakMemory("cpu")
        memory.start()
        began = time.perf_counter()
        chunks = chunk_documents(documents_from_examples(train), embedder.token_spans, None, 0)
        vectors, embedded = load_or_embed(
            chunks, embedder, ctx.cache_dir or cache_root(), ctx.use_cache, ctx.log
        )
        embed_s = time.perf_counter() - began
        began = time.perf_counter()
        classifier = LogisticRegression(
            C=config.C, max_iter=config.max_iter, class_weight=config.class_weight
        )
        classifier.fit(vectors, labels)
        fit_s = time.perf_counter() - began
        self._classifier = classifier
        iterations = int(max(classifier.n_iter_))
        record = self._record(embedder, train)
        record["embedding"].update(C=config.C, classes=len(classifier.classes_))
        record["training"] = {
            # Embedding dominates the time (and runs where the embedder does); the fit is CPU.
            "device": embedder.device,
            "precision": "float64 (fit)",
            "train_examples": len(train),
            "steps": iterations,
            "converged": iterations < config.max_iter,
            "embed_s": round(embed_s, 4),
            "embeddings_reused": embedded["reused"],
            "fit_s": round(fit_s, 4),
            "wall_s": round(embed_s + fit_s, 4),
            "peak_memory_mb": memory.peak_mb(),
            "reused": False,
        }
        return record

    def predict(self, batch: Sequence[Example]) -> list[Prediction]:
        assert self._embedder is not None and self._classifier is not None
        predictions = []
        for chunk in self._batches(batch):
            probabilities = self._classifier.predict_proba(
                self._embedder.encode([e.input for e in chunk])
            )
            for example, row in zip(chunk, probabilities, strict=True):
                label = str(self._classifier.classes_[int(row.argmax())])
                predictions.append(
                    Prediction(
                        example.id,
                        raw_output=label,
                        prediction=label,
                        input_tokens=self._tokens(example.input),
                        output_tokens=0,
                        extra={
                            "context": {"probability": round(float(row.max()), 4)},
                            "confidence": round(float(row.max()), 6),
                        },
                    )
                )
        return predictions
