"""Measured costs on this device, from a few real passes: the suite's model scoring the
task's own prompts against its own labels (with and without the label list, with varying
demonstrations), one training step, a perplexity window and a multiple-choice question, and
the sentence encoder embedding and training on the task's texts. A few seconds in all."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import mean
from typing import TYPE_CHECKING, Any

from tunevsprompt.generation.base import DecodingSettings
from tunevsprompt.task.data import TaskData
from tunevsprompt.task.prompts import build_prompt

if TYPE_CHECKING:
    from tunevsprompt.generation.hf import HFGenerator

REPEATS = 3
DEMOS = 8
PROSE = (
    "The river rose through the night, and by morning the lower fields were under water. "
    "Farmers moved their animals to the ridge and waited for the rain to stop. "
) * 8


@dataclass
class Costs:
    """Seconds per unit of work on this device (0: not measured, not needed)."""

    llm_load_s: float = 0.0
    rank_s: float = 0.0
    """One rank-scored prompt whose shared prefix lists the labels (zero-shot, few-shot)."""
    rank_plain_s: float = 0.0
    """One rank-scored prompt without the label list (tuned arms)."""
    rank_per_char_s: float = 0.0
    """Each character of prompt text that changes from input to input (similar
    demonstrations, retrieved passages)."""
    decode_token_s: float = 0.0
    choice_question_s: float = 0.0
    nll_token_s: float = 0.0
    train_example_s: float = 0.0
    """Forward and backward of one training example, in a batch."""
    encoder_load_s: float = 0.0
    embed_text_s: float = 0.0
    encoder_train_text_s: float = 0.0
    calibration_s: float = 0.0


def _timed(action: Callable[[], Any], repeats: int = REPEATS) -> float:
    """Mean seconds of ``action`` after one untimed call (caches, lazy kernels)."""
    action()
    start = time.perf_counter()
    for _ in range(repeats):
        action()
    return (time.perf_counter() - start) / repeats


def _cycle(items: Sequence[Any]) -> Callable[[], Any]:
    """The next item on each call (distinct prompts, so no whole-prompt cache hit)."""
    state = {"i": 0}

    def step() -> Any:
        state["i"] += 1
        return items[state["i"] % len(items)]

    return step


def calibrate_llm(
    gen: HFGenerator,
    data: TaskData,
    instruction: str,
    generates: bool,
    trains: bool,
    costs: Costs,
) -> None:
    """Rank scoring and probes of the suite's model on the task's data; a generation when an
    arm generates, a training step when an arm trains it. Measured once per process for the
    same model, device, labels and instruction (a script or a test suite running several
    comparisons of one task pays for it once)."""
    labels = data.labels
    forms = labels.shown() if labels else ["yes", "no"]
    key = (gen.fingerprint, str(gen.device), tuple(forms), instruction, generates, trains)
    if key in _MEASURED:
        _copy_llm_costs(_MEASURED[key], costs)
        return
    start = time.perf_counter()
    inputs = [e.input for e in data.test[: REPEATS + 1]] or ["hello"]
    train = data.train or data.test
    pick = _cycle(inputs)
    costs.rank_s = _timed(lambda: gen.score(build_prompt(instruction, labels, pick()), forms))
    costs.rank_plain_s = _timed(
        lambda: gen.score(build_prompt(instruction, labels, pick(), show_labels=False), forms)
    )
    # Four sets of demonstrations (wrapping around a small train split), so that each timed
    # prompt recomputes its demonstrations as a similar-example arm's prompts do.
    picked = [train[j % len(train)] for j in range(4 * DEMOS)]
    demo_sets = [[(e.input, e.target) for e in picked[i::4]] for i in range(4)]
    chars = mean(sum(len(a) + len(b) for a, b in demos) for demos in demo_sets) or 1.0
    demos = _cycle(demo_sets)
    with_demos = _timed(
        lambda: gen.score(build_prompt(instruction, labels, pick(), demos()), forms)
    )
    costs.rank_per_char_s = max(0.0, with_demos - costs.rank_s) / chars
    question = build_prompt("Answer the question.", None, "Which is a colour?", show_labels=False)
    costs.choice_question_s = _timed(
        lambda: gen.score(question, ["red", "seven", "Paris", "walking"])
    )
    windows = gen.text_nll(PROSE, 256, 256)
    tokens = sum(w.tokens for w in windows) or 1
    costs.nll_token_s = _timed(lambda: gen.text_nll(PROSE, 256, 256), 1) / tokens
    if generates:
        settings = DecodingSettings(max_new_tokens=8, batch_size=1)
        prompt = build_prompt(instruction, labels, inputs[0])
        per_call = _timed(lambda: gen.generate([prompt], settings), 1)
        costs.decode_token_s = max(0.0, per_call - costs.rank_s) / 8
    if trains:
        texts = [f"{instruction}\n{e.input}\n{e.target}" for e in train[:8]] or ["hello"]
        costs.train_example_s = _timed(lambda: _train_step(gen, texts), 1) / len(texts)
    costs.calibration_s += time.perf_counter() - start
    _MEASURED[key] = Costs(**vars(costs))


_MEASURED: dict[tuple[Any, ...], Costs] = {}
LLM_COSTS = (
    "rank_s",
    "rank_plain_s",
    "rank_per_char_s",
    "decode_token_s",
    "choice_question_s",
    "nll_token_s",
    "train_example_s",
)


def _copy_llm_costs(measured: Costs, costs: Costs) -> None:
    for name in LLM_COSTS:
        setattr(costs, name, getattr(measured, name))


def _train_step(gen: HFGenerator, texts: list[str]) -> None:
    """One forward and backward pass with the weights frozen: the gradient flows through the
    activations to the input embeddings, as it does for a soft prompt or LoRA adapters (whose
    own weight gradients are small), and no weight-sized gradient is ever allocated. The
    model the run then reuses is left as it was: flags restored, in eval mode."""
    import torch

    batch = gen.tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
    batch = {k: v.to(gen.device) for k, v in batch.items()}
    model = gen.model
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    model.train()
    try:
        with torch.enable_grad():
            embeds = model.get_input_embeddings()(batch["input_ids"]).detach()
            embeds.requires_grad_(True)
            out = model(
                inputs_embeds=embeds,
                attention_mask=batch["attention_mask"],
                labels=batch["input_ids"],
            )
            out.loss.backward()
    finally:
        for parameter, flag in zip(model.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
        model.zero_grad(set_to_none=True)
        model.eval()
        if str(gen.device).startswith("cuda"):
            torch.cuda.empty_cache()


def calibrate_encoder(data: TaskData, device: str, costs: Costs) -> None:
    """The packaged sentence encoder: load, embed and one training-sized pass."""
    from tunevsprompt.retrieval.config import EmbedderConfig
    from tunevsprompt.retrieval.embedder import load_embedder

    start = time.perf_counter()
    config = EmbedderConfig()
    embedder = load_embedder(config.id, config.revision, device, 64)
    costs.encoder_load_s = time.perf_counter() - start
    start = time.perf_counter()
    texts = [e.input for e in (data.train + data.test)[:64]] or ["hello"]
    costs.embed_text_s = _timed(lambda: embedder.encode(texts), 1) / len(texts)
    # A training step is a forward and a backward pass: about three forwards.
    costs.encoder_train_text_s = 3 * costs.embed_text_s
    costs.calibration_s += time.perf_counter() - start
