"""Benchmark the forgetting probes: what the default probes cost per probed model.

Run: ``HF_HUB_OFFLINE=1 python bench/bench_forgetting.py [--device auto] [--max-tokens 4096]
[--trivia 120] [--windows 128,256,512]``. Loads the packaged SmolLM2-135M-Instruct and times,
on the base model and on the same model with a 20-token soft prompt (random, for timing only):
prose perplexity at the default size and at other window sizes, and the trivia questions.
The default suite probes every tuned arm with prose (4,096 tokens, window 256) plus trivia
(120 questions), and the base model once per run.

Numbers are only comparable on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table

from tunevsprompt.forgetting.sources import builtin_prose, sample_items, trivia_items
from tunevsprompt.generation.hf import HFGenerator, load_generator
from tunevsprompt.generation.model_source import ModelSpec
from tunevsprompt.task.types import Message


def time_prose(gen: HFGenerator, text: str, window: int, max_tokens: int) -> tuple[float, int]:
    began = time.perf_counter()
    windows = gen.text_nll(text, window, max_tokens)
    return time.perf_counter() - began, len(windows)


def time_trivia(gen: HFGenerator, n: int) -> float:
    items = sample_items(trivia_items(0, 4), n, 0)
    began = time.perf_counter()
    for item in items:
        gen.score((Message("user", item.question),), list(item.choices))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--trivia", type=int, default=120)
    parser.add_argument("--windows", default="128,256,512")
    args = parser.parse_args()
    base = load_generator(ModelSpec(device=args.device))
    embeddings = base.model.get_input_embeddings().weight
    soft = embeddings[torch.randint(0, embeddings.shape[0], (20,))].detach().clone()
    tuned = base.derived(base.model, soft_prompt=soft, adapter="bench-soft-prompt")
    text = builtin_prose()
    table = Table(title=f"forgetting probes on {base.model_id}, {base.device}, {base.dtype}")
    for column in ("probe", "model", "items", "seconds", "ms / item"):
        table.add_column(column, justify="right" if column != "probe" else "left")
    totals: dict[str, float] = {"base": 0.0, "soft prompt": 0.0}
    for model_name, gen in (("base", base), ("soft prompt", tuned)):
        time_prose(gen, text, 256, 256)  # warm-up
        for window in [int(w) for w in args.windows.split(",")]:
            seconds, count = time_prose(gen, text, window, args.max_tokens)
            label = f"prose {args.max_tokens} tokens, window {window}"
            if window == 256:
                totals[model_name] += seconds
                label += " (default)"
            table.add_row(
                label, model_name, str(count), f"{seconds:.1f}", f"{1000 * seconds / count:.0f}"
            )
        seconds = time_trivia(gen, args.trivia)
        totals[model_name] += seconds
        table.add_row(
            f"trivia, 4 options (default {args.trivia})",
            model_name,
            str(args.trivia),
            f"{seconds:.1f}",
            f"{1000 * seconds / args.trivia:.0f}",
        )
    for model_name, seconds in totals.items():
        table.add_row("default probes, total", model_name, "", f"{seconds:.1f}", "")
    Console().print(table)


if __name__ == "__main__":
    main()
