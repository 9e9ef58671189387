"""Training, integrity and config logic without a language model: batching, schedules,
the answer-only loss, the shared loop on a toy model (resume, early stopping), the
integrity check, learning-curve sizes and the tuning arms' config validation."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from tunevsprompt.arms.lora import LoraArmConfig
from tunevsprompt.arms.prompting import FewShotConfig
from tunevsprompt.arms.soft_prompt import SoftPromptConfig
from tunevsprompt.execution.units import curve_sizes
from tunevsprompt.measure.integrity import LOGPROB_TOLERANCE, integrity_record, output_changed
from tunevsprompt.task.types import Prediction
from tunevsprompt.training import answer_loss as answer_loss_module
from tunevsprompt.training.answer_loss import CausalLMTrainable, answer_loss
from tunevsprompt.training.batches import (
    IGNORE,
    Batch,
    EncodedExample,
    collate_left_padded,
    length_grouped_batches,
    sorted_batches,
    truncate,
)
from tunevsprompt.training.loop import (
    TrainingOutcome,
    TrainingSettings,
    dev_loss,
    lr_factor,
    plan_steps,
    run_training,
)

PAD = 0


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """These tensors are tiny: a second intra-op thread only adds contention (20x slower
    on a busy two-core machine). Restored afterwards for the rest of the suite."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- helpers


def encoded(idx: int, prompt: Sequence[int], answer: Sequence[int]) -> EncodedExample:
    return EncodedExample(f"e{idx}", tuple(prompt), tuple(answer))


def padding_of(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> int:
    """Pad tokens the batches need when each is padded to its longest row."""
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def expected_targets(input_ids: list[int], answer_len: int, keep: int) -> list[int]:
    """Reference: logit column t predicts token t+1; only answer tokens are targets."""
    width = len(input_ids)
    answer_start = width - answer_len
    out = []
    for column in range(width - keep, width):
        nxt = column + 1
        out.append(input_ids[nxt] if answer_start <= nxt < width else IGNORE)
    return out


def prediction(
    example_id: str, raw: str, label: str | None, logprob: float | None = None
) -> Prediction:
    extra: dict[str, object] = {} if logprob is None else {"logprob": logprob}
    return Prediction(example_id, raw, label, 10, 2, "exact", cached=False, extra=extra)


# Toy task: vocabulary 0..11; 0 pads, prompt tokens are 1..5, the answer to a prompt ending
# in x is (x + 5, END). A lookup table (embedding + linear on the current token) learns it.
VOCAB = 12
END = 11


def toy_examples(n: int, seed: int) -> list[EncodedExample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        prompt = [rng.randint(1, 5) for _ in range(rng.randint(2, 6))]
        out.append(encoded(i, prompt, [prompt[-1] + 5, END]))
    return out


class ToyTrainable(CausalLMTrainable):
    """Embedding + linear: logits for a column depend on that column's token only."""

    def __init__(self, seed: int = 0, prefix: str = "") -> None:
        super().__init__("cpu", None, PAD)
        gen = torch.Generator().manual_seed(seed)
        self.embed = torch.nn.Parameter(torch.randn(VOCAB, 8, generator=gen))
        self.head = torch.nn.Parameter(torch.randn(VOCAB, 8, generator=gen) * 0.3)
        self.bias = torch.nn.Parameter(torch.zeros(VOCAB))
        self.prefix = prefix
        self.training = False
        self.modes: list[bool] = []

    def parameters_to_train(self) -> dict[str, torch.nn.Parameter]:
        return {
            f"{self.prefix}embed.weight": self.embed,
            f"{self.prefix}head.weight": self.head,
            f"{self.prefix}head.bias": self.bias,
        }

    def last_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int
    ) -> torch.Tensor:
        assert input_ids.shape == attention_mask.shape
        hidden = torch.nn.functional.embedding(input_ids[:, -keep:], self.embed)
        return torch.nn.functional.linear(hidden, self.head, self.bias)

    def set_training(self, training: bool) -> None:
        self.training = training
        self.modes.append(training)

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.parameters_to_train().items()}


class Interrupted(Exception):
    """Stands in for a kill between two checkpoints."""


class RecordingObserver:
    def __init__(self, trainable: ToyTrainable, stop_after: int | None = None) -> None:
        self.trainable = trainable
        self.stop_after = stop_after
        self.progress: list[tuple[int, int, float]] = []
        self.checkpoints: list[int] = []
        self.weights_at: dict[int, dict[str, torch.Tensor]] = {}

    def training_progress(self, step: int, total: int, loss: float) -> None:
        self.progress.append((step, total, loss))

    def checkpoint_saved(self, step: int, path: Path) -> None:
        assert path.is_file()
        self.checkpoints.append(step)
        self.weights_at[step] = self.trainable.snapshot()
        if self.stop_after is not None and len(self.checkpoints) >= self.stop_after:
            raise Interrupted(f"stopped after checkpoint at step {step}")


def settings(**overrides: object) -> TrainingSettings:
    base: dict[str, object] = {
        "learning_rate": 0.1,
        "epochs": 3.0,
        "batch_size": 4,
        "warmup_ratio": 0.1,
        "logging_steps": 1,
        "patience": None,
    }
    base.update(overrides)
    return TrainingSettings(**base)  # type: ignore[arg-type]


def train_toy(
    tmp_path: Path,
    train: Sequence[EncodedExample],
    dev: Sequence[EncodedExample],
    config: TrainingSettings,
    *,
    seed: int = 0,
    name: str = "ckpt.pt",
    stop_after: int | None = None,
) -> tuple[TrainingOutcome, ToyTrainable, RecordingObserver]:
    toy = ToyTrainable(seed)
    observer = RecordingObserver(toy, stop_after)
    outcome = run_training(toy, train, dev, config, tmp_path / name, observer)
    return outcome, toy, observer


def n_batches(train: Sequence[EncodedExample], batch_size: int) -> int:
    return math.ceil(len(train) / batch_size)


# --------------------------------------------------------------------------- truncate


def test_truncate_keeps_prompt_that_fits() -> None:
    assert truncate([1, 2, 3], [9, 10], 5) == ([1, 2, 3], False)
    assert truncate([1, 2], [9], 8) == ([1, 2], False)


def test_truncate_drops_prompt_from_the_left_and_keeps_answer() -> None:
    prompt, cut = truncate([1, 2, 3, 4, 5, 6], [9, 10], 5)
    assert cut is True
    assert prompt == [4, 5, 6]
    assert len(prompt) + 2 == 5


def test_truncate_keeps_at_least_one_prompt_token() -> None:
    assert truncate([1, 2, 3], [9, 10], 3) == ([3], True)


@pytest.mark.parametrize(
    ("prompt", "answer", "max_length"),
    [([1, 2], [9, 10, 11], 3), ([1, 2], [9, 10, 11], 2), ([1], [9, 10, 11, 12], 3)],
)
def test_truncate_raises_when_answer_alone_does_not_fit(
    prompt: list[int], answer: list[int], max_length: int
) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        truncate(prompt, answer, max_length)


# --------------------------------------------------------------------------- collate


COLLATE_EXAMPLES = [
    encoded(0, [1, 2, 3], [7, 8]),
    encoded(1, [4], [9]),
    encoded(2, [5, 6, 5, 6, 5], [7, 8, 9]),
]


def test_collate_left_pads_and_ends_every_row_with_its_answer() -> None:
    batch = collate_left_padded(COLLATE_EXAMPLES, pad_id=PAD)
    width = max(e.length for e in COLLATE_EXAMPLES)
    assert batch.input_ids.shape == (3, width)
    assert batch.attention_mask.shape == (3, width)
    assert batch.input_ids.dtype == torch.long
    for row, e in enumerate(COLLATE_EXAMPLES):
        ids = batch.input_ids[row].tolist()
        mask = batch.attention_mask[row].tolist()
        pad = width - e.length
        assert ids[:pad] == [PAD] * pad
        assert ids[pad:] == [*e.prompt_ids, *e.answer_ids]
        assert ids[width - len(e.answer_ids) :] == list(e.answer_ids)
        assert mask == [0] * pad + [1] * e.length


def test_collate_targets_sit_under_the_columns_that_predict_them() -> None:
    batch = collate_left_padded(COLLATE_EXAMPLES, pad_id=PAD)
    assert batch.keep == 4  # longest answer + 1
    assert batch.targets.shape == (3, batch.keep)
    for row, e in enumerate(COLLATE_EXAMPLES):
        ids = batch.input_ids[row].tolist()
        targets = batch.targets[row].tolist()
        assert targets == expected_targets(ids, len(e.answer_ids), batch.keep)
        assert targets[-1] == IGNORE
        assert [t for t in targets if t != IGNORE] == list(e.answer_ids)
    assert batch.targets[1].tolist() == [IGNORE, IGNORE, 9, IGNORE]
    assert batch.targets[2].tolist() == [7, 8, 9, IGNORE]


def test_collate_with_next_token_shift_matches_full_sequence_loss() -> None:
    """The answer-only targets give the same loss as the usual shifted labels over the
    whole row with the prompt and padding masked out."""
    batch = collate_left_padded(COLLATE_EXAMPLES, pad_id=PAD)
    gen = torch.Generator().manual_seed(0)
    width = batch.input_ids.shape[1]
    full_logits = torch.randn(3, width, 10, generator=gen)
    labels = torch.full_like(batch.input_ids, IGNORE)
    for row, e in enumerate(COLLATE_EXAMPLES):
        a = len(e.answer_ids)
        labels[row, width - a :] = batch.input_ids[row, width - a :]
    reference = torch.nn.functional.cross_entropy(
        full_logits[:, :-1].reshape(-1, 10), labels[:, 1:].reshape(-1), ignore_index=IGNORE
    )
    loss, count = answer_loss(full_logits[:, -batch.keep :], batch.targets)
    assert count == sum(len(e.answer_ids) for e in COLLATE_EXAMPLES)
    assert torch.allclose(loss, reference)


def test_collate_uses_the_given_pad_id() -> None:
    batch = collate_left_padded(COLLATE_EXAMPLES, pad_id=99)
    assert batch.input_ids[1, :6].tolist() == [99] * 6
    assert int(batch.attention_mask[1].sum()) == 2


# --------------------------------------------------------------------------- batching


def skewed_lengths(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [int(rng.lognormvariate(3.0, 0.8)) + 1 for _ in range(n)]


@pytest.mark.parametrize(("n", "batch_size", "mega"), [(203, 4, 50), (37, 5, 2), (3, 8, 50)])
def test_length_grouped_batches_partition_the_indices(n: int, batch_size: int, mega: int) -> None:
    lengths = skewed_lengths(n, seed=n)
    batches = length_grouped_batches(lengths, batch_size, seed=1, epoch=0, mega=mega)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert len(batches) == math.ceil(n / batch_size)


def test_length_grouped_batches_deterministic_per_seed_and_epoch() -> None:
    lengths = skewed_lengths(100, seed=0)
    first = length_grouped_batches(lengths, 8, seed=3, epoch=2)
    assert first == length_grouped_batches(lengths, 8, seed=3, epoch=2)
    assert first != length_grouped_batches(lengths, 8, seed=3, epoch=3)
    assert first != length_grouped_batches(lengths, 8, seed=4, epoch=2)


def test_length_grouped_batches_put_the_longest_batch_first() -> None:
    lengths = skewed_lengths(300, seed=5)
    for epoch in range(4):
        batches = length_grouped_batches(lengths, 8, seed=0, epoch=epoch, mega=5)
        assert max(lengths[i] for i in batches[0]) == max(lengths)


def test_length_grouped_batches_pad_less_than_random_batches() -> None:
    lengths = skewed_lengths(400, seed=7)
    grouped = length_grouped_batches(lengths, 8, seed=0, epoch=0)
    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    shuffled = [order[i : i + 8] for i in range(0, len(order), 8)]
    assert padding_of(grouped, lengths) < 0.5 * padding_of(shuffled, lengths)


def test_sorted_batches_descend_by_length_and_partition() -> None:
    lengths = [3, 9, 1, 7, 7, 2, 8]
    batches = sorted_batches(lengths, 3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert [len(b) for b in batches] == [3, 3, 1]


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    ("n", "overrides", "expected"),
    [
        (10, {}, (10, 30)),
        (10, {"gradient_accumulation": 3}, (4, 12)),
        (10, {"gradient_accumulation": 3, "epochs": 1.5}, (4, 6)),
        (10, {"max_steps": 7}, (10, 7)),
        (10, {"epochs": 0.01}, (10, 1)),
        (1, {"gradient_accumulation": 4}, (1, 3)),
    ],
)
def test_plan_steps(n: int, overrides: dict[str, object], expected: tuple[int, int]) -> None:
    assert plan_steps(n, settings(**overrides)) == expected


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant"])
def test_lr_warmup_ramps_linearly_to_one(schedule: str) -> None:
    factors = [lr_factor(s, 100, 10, schedule) for s in range(10)]
    assert factors == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factors[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(factors))


def test_lr_linear_decays_to_zero() -> None:
    total, warmup = 100, 10
    assert lr_factor(warmup, total, warmup, "linear") == 1.0
    assert lr_factor(55, total, warmup, "linear") == pytest.approx(0.5)
    assert lr_factor(total, total, warmup, "linear") == 0.0
    assert lr_factor(total + 5, total, warmup, "linear") == 0.0
    assert 0 < lr_factor(total - 1, total, warmup, "linear") <= 1 / (total - warmup) + 1e-12
    after = [lr_factor(s, total, warmup, "linear") for s in range(warmup, total + 1)]
    assert all(a >= b for a, b in itertools.pairwise(after))


def test_lr_cosine_is_one_after_warmup_and_zero_at_the_end() -> None:
    total, warmup = 100, 10
    assert lr_factor(warmup, total, warmup, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, total, warmup, "cosine") == pytest.approx(0.5)
    assert lr_factor(total, total, warmup, "cosine") == pytest.approx(0.0, abs=1e-12)
    after = [lr_factor(s, total, warmup, "cosine") for s in range(warmup, total + 1)]
    assert all(a >= b for a, b in itertools.pairwise(after))


def test_lr_constant_stays_one_and_no_warmup_starts_at_one() -> None:
    assert all(lr_factor(s, 50, 5, "constant") == 1.0 for s in range(5, 60))
    assert lr_factor(0, 50, 0, "linear") == 1.0
    assert lr_factor(0, 50, 0, "cosine") == 1.0


# --------------------------------------------------------------------------- loss


def test_answer_loss_is_mean_cross_entropy_over_answer_tokens() -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 7, generator=gen, requires_grad=True)
    targets = torch.tensor([[IGNORE, 2, 5, IGNORE], [IGNORE, IGNORE, 6, IGNORE], [1, 0, 3, IGNORE]])
    loss, count = answer_loss(logits, targets)
    keep = targets != IGNORE
    reference = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert count == 6
    assert torch.allclose(loss, reference)
    loss.backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    assert float(logits.grad[:, -1].abs().sum()) == 0.0
    assert float(logits.grad[0, 1].abs().sum()) > 0.0


def test_answer_loss_weights_tokens_not_rows() -> None:
    """A row with three answer tokens counts three times as much as a row with one."""
    logits = torch.zeros(2, 3, 4)
    logits[0, :, 1] = 5.0  # row 0 is confident and right
    targets = torch.tensor([[1, 1, 1], [IGNORE, 2, IGNORE]])
    loss, count = answer_loss(logits, targets)
    per_token = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 4), targets.reshape(-1), ignore_index=IGNORE, reduction="none"
    )
    assert count == 4
    assert float(loss) == pytest.approx(float(per_token.sum()) / 4)


def test_answer_loss_with_no_answer_tokens_is_zero() -> None:
    loss, count = answer_loss(torch.randn(2, 3, 5), torch.full((2, 3), IGNORE))
    assert count == 0
    assert float(loss) == 0.0


def test_answer_loss_accepts_half_precision_logits() -> None:
    logits = torch.randn(1, 2, 6).to(torch.bfloat16)
    loss, _ = answer_loss(logits, torch.tensor([[3, IGNORE]]))
    assert loss.dtype == torch.float32


# --------------------------------------------------------------------------- training loop


TRAIN = toy_examples(24, seed=0)
DEV = toy_examples(8, seed=1)


def test_run_training_learns_the_toy_task(tmp_path: Path) -> None:
    config = settings(epochs=4.0)
    per_epoch, total = plan_steps(n_batches(TRAIN, 4), config)
    before = dev_loss(ToyTrainable(0), DEV, 4)
    outcome, toy, observer = train_toy(tmp_path, TRAIN, DEV, config)
    record = outcome.record
    assert record["steps"] == total == record["planned_steps"] == 24
    assert record["steps_per_epoch"] == per_epoch == 6
    assert record["epochs"] == pytest.approx(4.0)
    assert record["stopped_early"] is False
    assert record["resumed_from_step"] is None
    assert record["train_examples"] == len(TRAIN)
    losses = [point["loss"] for point in record["loss_curve"]]
    assert len(losses) == total
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
    assert [p["step"] for p in record["loss_curve"]] == list(range(1, total + 1))
    after = dev_loss(toy, DEV, 4)
    assert after < 0.5 * before
    assert [p["step"] for p in record["dev_curve"]] == [6, 12, 18, 24]
    assert observer.checkpoints == [6, 12, 18, 24]
    assert [p[0] for p in observer.progress] == list(range(1, total + 1))
    assert all(p[1] == total for p in observer.progress)
    assert (tmp_path / "ckpt.pt").is_file()
    assert not list(tmp_path.glob(".*.tmp"))
    assert outcome.state.examples_seen == 4 * len(TRAIN)
    assert outcome.state.tokens_seen == 4 * sum(e.length for e in TRAIN)
    assert toy.modes[0] is True and toy.modes[-1] is False
    assert set(outcome.best_weights) == set(toy.parameters_to_train())
    # Dev loss kept improving, so the best weights are the last ones.
    assert outcome.state.best_step == total
    for name, value in toy.parameters_to_train().items():
        assert torch.equal(outcome.best_weights[name], value.detach())


def test_run_training_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    config = settings(epochs=3.0)
    per_epoch, total = plan_steps(n_batches(TRAIN, 4), config)

    with pytest.raises(Interrupted):
        train_toy(tmp_path, TRAIN, DEV, config, name="resume.pt", stop_after=1)
    assert (tmp_path / "resume.pt").is_file()

    # A fresh model with different initial weights: everything must come from the checkpoint.
    resumed, toy, observer = train_toy(tmp_path, TRAIN, DEV, config, seed=123, name="resume.pt")
    assert resumed.state.resumed_from_step == per_epoch
    assert resumed.record["resumed_from_step"] == per_epoch
    assert resumed.record["steps"] == total
    assert observer.checkpoints == [2 * per_epoch, 3 * per_epoch]
    assert [p[0] for p in observer.progress] == list(range(per_epoch + 1, total + 1))

    # The resumed session continues the checkpoint's curves rather than starting new ones.
    assert [p["step"] for p in resumed.record["loss_curve"]] == list(range(1, total + 1))
    assert [p["step"] for p in resumed.record["dev_curve"]] == [per_epoch, 2 * per_epoch, total]
    assert resumed.state.examples_seen == total * 4
    assert not torch.equal(toy.embed, ToyTrainable(123).embed)


def test_run_training_uses_each_epochs_own_batch_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def recording_collate(examples: Sequence[EncodedExample], pad_id: int) -> Batch:
        seen.append([e.id for e in examples])
        return collate_left_padded(examples, pad_id)

    monkeypatch.setattr(answer_loss_module, "collate_left_padded", recording_collate)
    train_toy(tmp_path, TRAIN, (), settings(epochs=3.0))
    lengths = [e.length for e in TRAIN]
    expected = [
        [TRAIN[i].id for i in batch]
        for epoch in range(3)
        for batch in length_grouped_batches(lengths, 4, seed=0, epoch=epoch)
    ]
    assert seen == expected


def test_run_training_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    config = settings(epochs=3.0)
    with pytest.raises(Interrupted):
        train_toy(tmp_path, TRAIN, DEV, config, name="resume.pt", stop_after=1)
    resumed, toy, _ = train_toy(tmp_path, TRAIN, DEV, config, seed=123, name="resume.pt")
    straight, straight_toy, _ = train_toy(tmp_path, TRAIN, DEV, config, name="straight.pt")
    assert resumed.record["loss_curve"] == straight.record["loss_curve"]
    assert resumed.record["dev_curve"] == straight.record["dev_curve"]
    for name, value in straight_toy.parameters_to_train().items():
        assert torch.allclose(toy.parameters_to_train()[name], value, atol=1e-6)
        assert torch.allclose(resumed.best_weights[name], straight.best_weights[name], atol=1e-6)


def test_run_training_with_a_finished_checkpoint_does_no_more_steps(tmp_path: Path) -> None:
    config = settings(epochs=1.0)
    first, _, _ = train_toy(tmp_path, TRAIN, DEV, config)
    again, toy, observer = train_toy(tmp_path, TRAIN, DEV, config, seed=9)
    assert again.record["steps"] == first.record["steps"]
    assert again.record["resumed_from_step"] == first.record["steps"]
    assert observer.checkpoints == []
    for name, value in toy.parameters_to_train().items():
        assert torch.equal(value.detach(), first.best_weights[name])


def test_run_training_rejects_a_checkpoint_of_other_parameters(tmp_path: Path) -> None:
    train_toy(tmp_path, TRAIN, DEV, settings(epochs=1.0))
    other = ToyTrainable(prefix="other.")
    with pytest.raises(ValueError, match="not a checkpoint"):
        run_training(
            other,
            TRAIN,
            DEV,
            settings(epochs=1.0),
            tmp_path / "ckpt.pt",
            RecordingObserver(other),
        )


def test_run_training_stops_early_when_dev_does_not_improve(tmp_path: Path) -> None:
    config = settings(learning_rate=0.0, epochs=5.0, patience=1)
    per_epoch, total = plan_steps(n_batches(TRAIN, 4), config)
    initial = ToyTrainable(0).snapshot()
    outcome, toy, observer = train_toy(tmp_path, TRAIN, DEV, config)
    record = outcome.record
    assert record["stopped_early"] is True
    assert record["planned_steps"] == total
    assert record["steps"] == 2 * per_epoch < total
    assert observer.checkpoints == [per_epoch, 2 * per_epoch]
    curve = record["dev_curve"]
    assert len(curve) == 2 and curve[0]["dev_loss"] == curve[1]["dev_loss"]
    assert record["best_dev_metric"] == {
        "name": "dev_loss",
        "value": curve[0]["dev_loss"],
        "step": per_epoch,
    }
    for name, value in toy.parameters_to_train().items():
        assert torch.equal(value.detach(), initial[name])


def test_run_training_keeps_the_weights_of_the_best_primary_metric(tmp_path: Path) -> None:
    config = settings(epochs=6.0, patience=2, select_on="primary")
    per_epoch, total = plan_steps(n_batches(TRAIN, 4), config)
    toy = ToyTrainable(0)
    observer = RecordingObserver(toy)
    values = iter([0.2, 0.8, 0.5, 0.4, 0.9, 0.9])
    training_during_metric: list[bool] = []

    def dev_metric() -> float:
        training_during_metric.append(toy.training)
        return next(values)

    outcome = run_training(
        toy, TRAIN, DEV, config, tmp_path / "ckpt.pt", observer, dev_metric=dev_metric
    )
    record = outcome.record
    assert record["stopped_early"] is True
    assert record["steps"] == 4 * per_epoch < total
    assert training_during_metric == [False] * 4
    assert [p["dev_metric"] for p in record["dev_curve"]] == [0.2, 0.8, 0.5, 0.4]
    assert all("dev_loss" in p for p in record["dev_curve"])
    assert record["best_dev_metric"] == {"name": "dev_metric", "value": 0.8, "step": 2 * per_epoch}
    best_at = observer.weights_at[2 * per_epoch]
    final = toy.snapshot()
    for name, value in outcome.best_weights.items():
        assert torch.equal(value, best_at[name])
        assert not torch.equal(value, final[name])


@pytest.mark.parametrize(
    ("values", "trained_evaluations"),
    [
        ([0.9, 0.5, 0.6, 0.7, 0.8], 4),  # the training improves: patience never runs out
        ([0.9, 0.5, 0.4, 0.3, 0.2], 3),  # two evaluations without progress after the first
    ],
)
def test_evaluating_at_the_start_keeps_untrained_weights_that_training_never_beats(
    tmp_path: Path, values: list[float], trained_evaluations: int
) -> None:
    config = replace(settings(epochs=4.0, patience=2, select_on="primary"), evaluate_at_start=True)
    per_epoch, _ = plan_steps(n_batches(TRAIN, 4), config)
    toy = ToyTrainable(0)
    initial = toy.snapshot()
    metric = iter(values)
    outcome = run_training(
        toy, TRAIN, DEV, config, tmp_path / "ckpt.pt", RecordingObserver(toy), lambda: next(metric)
    )
    record = outcome.record
    steps = [p["step"] for p in record["dev_curve"]]
    assert steps == [per_epoch * i for i in range(trained_evaluations + 1)]
    assert record["stopped_early"] is (trained_evaluations < 4)
    assert record["best_dev_metric"] == {"name": "dev_metric", "value": 0.9, "step": 0}
    for name, value in outcome.best_weights.items():
        assert torch.equal(value, initial[name])


def test_run_training_without_dev_keeps_the_last_weights(tmp_path: Path) -> None:
    config = settings(epochs=2.0, patience=1)
    outcome, toy, _ = train_toy(tmp_path, TRAIN, (), config)
    assert outcome.record["stopped_early"] is False
    assert outcome.record["best_dev_metric"] is None
    assert outcome.record["dev_curve"] == []
    assert outcome.state.best_step == outcome.record["steps"]
    for name, value in toy.parameters_to_train().items():
        assert torch.equal(outcome.best_weights[name], value.detach())


def test_run_training_evaluates_every_n_steps_and_at_epoch_ends(tmp_path: Path) -> None:
    train = TRAIN[:9]
    config = settings(epochs=2.0, batch_size=3, eval_every_steps=2, logging_steps=4)
    outcome, _, observer = train_toy(tmp_path, train, DEV, config)
    assert outcome.record["steps_per_epoch"] == 3
    assert observer.checkpoints == [2, 3, 4, 6]
    assert [p["step"] for p in outcome.record["dev_curve"]] == [2, 3, 4, 6]
    # Logged every 4 steps, and at the last step.
    assert [p["step"] for p in outcome.record["loss_curve"]] == [4, 6]


def test_run_training_accumulates_gradients(tmp_path: Path) -> None:
    train = TRAIN[:10]
    config = settings(epochs=1.0, batch_size=2, gradient_accumulation=2)
    outcome, _, observer = train_toy(tmp_path, train, DEV, config)
    assert outcome.record["steps_per_epoch"] == 3  # 5 batches in windows of 2, 2, 1
    assert outcome.record["steps"] == 3
    assert outcome.state.examples_seen == 10
    assert observer.checkpoints == [3]


def test_run_training_max_steps_overrides_epochs(tmp_path: Path) -> None:
    outcome, _, _ = train_toy(tmp_path, TRAIN, DEV, settings(epochs=10.0, max_steps=8))
    assert outcome.record["steps"] == outcome.record["planned_steps"] == 8
    assert outcome.state.epoch == 1 and outcome.state.batch_in_epoch == 2


def test_run_training_needs_examples(tmp_path: Path) -> None:
    toy = ToyTrainable()
    with pytest.raises(ValueError, match="no training examples"):
        run_training(toy, [], DEV, settings(), tmp_path / "c.pt", RecordingObserver(toy))


# --------------------------------------------------------------------------- integrity


def test_output_changed_on_text() -> None:
    assert output_changed(prediction("a", "refund", "refund"), prediction("a", "card", "card"))
    assert not output_changed(prediction("a", "card", "card"), prediction("a", "card", "card"))


def test_output_changed_on_logprob_beyond_tolerance() -> None:
    base = prediction("a", "card", "card", logprob=-1.0)
    near = prediction("a", "card", "card", logprob=-1.0 + LOGPROB_TOLERANCE / 2)
    far = prediction("a", "card", "card", logprob=-1.0 + 3 * LOGPROB_TOLERANCE)
    assert LOGPROB_TOLERANCE == 1e-4
    assert not output_changed(near, base)
    assert output_changed(far, base)
    assert not output_changed(prediction("a", "card", "card"), base)


def test_integrity_record_identical_outputs_fail() -> None:
    base = [prediction(str(i), "card", "card", logprob=-0.5) for i in range(4)]
    same = [prediction(str(i), "card", "card", logprob=-0.5) for i in range(4)]
    record = integrity_record(same, base, min_changed=0.2)
    assert record["sample"] == 4
    assert record["changed_fraction"] == 0.0
    assert record["prediction_changed_fraction"] == 0.0
    assert record["ok"] is False


def test_integrity_record_counts_changes_and_respects_threshold() -> None:
    base = [prediction(str(i), "card", "card", logprob=-0.5) for i in range(4)]
    tuned = [
        prediction("0", "refund", "refund", logprob=-0.5),  # text and label changed
        prediction("1", "card", "card", logprob=-0.1),  # only the score changed
        prediction("2", "card", "card", logprob=-0.5),
        prediction("3", "card", "card", logprob=-0.5 + 1e-6),  # float noise
    ]
    record = integrity_record(tuned, base, min_changed=0.5)
    assert record["changed_fraction"] == 0.5
    assert record["prediction_changed_fraction"] == 0.25
    assert record["min_changed_fraction"] == 0.5
    assert record["ok"] is True
    assert integrity_record(tuned, base, min_changed=0.51)["ok"] is False


def test_integrity_record_empty_and_mismatched() -> None:
    assert integrity_record([], [], min_changed=0.0)["ok"] is False
    with pytest.raises(ValueError):
        integrity_record([prediction("a", "x", "x")], [], min_changed=0.0)


# --------------------------------------------------------------------------- runner


@pytest.mark.parametrize(
    ("sizes", "n_train", "expected"),
    [
        (None, 100, []),
        ([], 100, []),
        (["all"], 100, [None]),
        ([64, "all"], 100, [64, None]),
        ([64, 100, "all", 500, 64], 100, [64, None]),
        ([10, 20, 99], 100, [10, 20, 99]),
        ([200, 50], 100, [None, 50]),
    ],
)
def testcurve_sizes(
    sizes: list[int | str] | None, n_train: int, expected: list[int | None]
) -> None:
    assert curve_sizes(sizes, n_train) == expected


# --------------------------------------------------------------------------- configs


def test_few_shot_rejects_seed_and_seeds() -> None:
    with pytest.raises(ValidationError, match="seed"):
        FewShotConfig(name="f", seeds=[0, 1], seed=3)
    assert FewShotConfig(name="f", seeds=[0, 1]).seeds == [0, 1]
    assert FewShotConfig(name="f", seed=3).seed == 3


def test_lora_train_sizes() -> None:
    config = LoraArmConfig(name="l", train_sizes=[64, "all"])
    assert config.train_sizes == [64, "all"]
    assert config.type == "lora"
    for bad in ([0], ["some"], [], [-5]):
        with pytest.raises(ValidationError):
            LoraArmConfig(name="l", train_sizes=bad)


def test_soft_prompt_defaults() -> None:
    config = SoftPromptConfig(name="s")
    assert config.learning_rate == 0.03
    assert config.show_labels is False
    assert config.type == "soft-prompt"
    assert LoraArmConfig(name="l").learning_rate == 2e-4


@pytest.mark.parametrize("model", [LoraArmConfig, SoftPromptConfig, FewShotConfig])
def test_unknown_keys_are_rejected(model: type[LoraArmConfig]) -> None:
    with pytest.raises(ValidationError, match="extra"):
        model(name="x", learning_rat=0.1)  # type: ignore[call-arg]


class DivergingToy(ToyTrainable):
    """Its logits turn NaN from the ``after``-th training forward pass on (as bf16 blow-ups
    do); dev passes stay finite until then too."""

    def __init__(self, after: int) -> None:
        super().__init__(0)
        self.after, self.calls = after, 0

    def last_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int
    ) -> torch.Tensor:
        logits = super().last_logits(input_ids, attention_mask, keep)
        if self.training:
            self.calls += 1
        return logits * float("nan") if self.calls > self.after else logits


def test_a_loss_that_goes_nan_stops_training_and_keeps_the_best_weights_before_it(
    tmp_path: Path,
) -> None:
    config = settings(epochs=4.0)
    per_epoch, _ = plan_steps(n_batches(TRAIN, 4), config)
    toy = DivergingToy(after=per_epoch + 1)
    observer = RecordingObserver(toy)
    outcome = run_training(toy, TRAIN, DEV, config, tmp_path / "ckpt.pt", observer)
    record = outcome.record
    assert record["diverged_at_step"] == per_epoch + 2
    assert record["steps"] == per_epoch + 1 and record["stopped_early"] is True
    assert all(math.isfinite(p["loss"]) for p in record["loss_curve"])
    assert outcome.state.best_step == per_epoch
    for name, value in outcome.best_weights.items():
        assert torch.equal(value, observer.weights_at[per_epoch][name])
    json.dumps(record, allow_nan=False)  # results.json has no NaN


def test_a_loss_that_is_nan_from_the_first_step_leaves_no_best_weights(tmp_path: Path) -> None:
    toy = DivergingToy(after=0)
    outcome = run_training(
        toy, TRAIN, DEV, settings(epochs=1.0), tmp_path / "ckpt.pt", RecordingObserver(toy)
    )
    assert outcome.record["diverged_at_step"] == 1 and outcome.record["steps"] == 0
    assert outcome.state.best_step is None and outcome.record["best_dev_metric"] is None


class NanDevToy(ToyTrainable):
    def last_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int
    ) -> torch.Tensor:
        logits = super().last_logits(input_ids, attention_mask, keep)
        return logits if self.training else logits * float("nan")


def test_a_dev_loss_that_is_nan_is_never_the_best(tmp_path: Path) -> None:
    toy = NanDevToy(0)
    outcome = run_training(
        toy, TRAIN, DEV, settings(epochs=2.0), tmp_path / "ckpt.pt", RecordingObserver(toy)
    )
    record = outcome.record
    assert [p["dev_loss"] for p in record["dev_curve"]] == [None, None]
    assert record["best_dev_metric"] is None and record["diverged_at_step"] is None
    json.dumps(record, allow_nan=False)
