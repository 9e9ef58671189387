"""Benchmark the local generator: batched vs one-at-a-time decoding, packed vs separate scoring.

Run: ``HF_HUB_OFFLINE=1 python bench/bench_generation.py [--n 24] [--max-new-tokens 16]
[--batch-sizes 1,4,8,16]``. Loads the packaged SmolLM2-135M-Instruct, wraps Banking77 test
queries in a short classification prompt and decodes them greedily, first one call per query
(what a naive arm would do), then in batches. Then it scores all 77 intent labels after a few
prompts, packed into one forward pass vs one forward pass per label.

Numbers are only comparable on an otherwise idle machine: with 2 cores, a second torch process
more than doubles every figure here.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from tunevsprompt.generation.base import DecodingSettings
from tunevsprompt.generation.hf import HFGenerator, load_generator
from tunevsprompt.generation.model_source import ModelSpec
from tunevsprompt.task.labels import LabelSet
from tunevsprompt.task.prompts import build_prompt
from tunevsprompt.task.types import Generation, Message, Prompt

ROOT = Path(__file__).resolve().parents[1]
DATA_CANDIDATES = [ROOT / "suites" / "data" / "banking77" / "test.csv"]
SYSTEM = "You sort customer banking messages into intents. Reply with the intent name only."


def load_rows() -> list[dict[str, str]]:
    for path in DATA_CANDIDATES:
        if path.is_file():
            with path.open(newline="") as handle:
                return list(csv.DictReader(handle))
    raise SystemExit(f"Banking77 test.csv not found in {[str(p) for p in DATA_CANDIDATES]}")


def make_prompt(text: str) -> Prompt:
    return (Message("system", SYSTEM), Message("user", f"Message: {text}\nIntent:"))


def timed_generate(
    gen: HFGenerator, prompts: list[Prompt], settings: DecodingSettings, one_at_a_time: bool
) -> tuple[float, list[Generation]]:
    started = time.perf_counter()
    if one_at_a_time:
        outputs = [gen.generate([p], settings)[0] for p in prompts]
    else:
        outputs = gen.generate(prompts, settings)
    return time.perf_counter() - started, outputs


def separate_scores(gen: HFGenerator, prompt: Prompt, labels: list[str]) -> list[float]:
    """The unpacked baseline: prompt + label + end-of-turn through the model, once per label."""
    prompt_len = len(gen.encode_prompt(prompt))
    rendered = gen.render(prompt)
    sums = []
    for label in labels:
        ids = gen.tokenizer(rendered + label + gen.end_of_turn, add_special_tokens=False)
        ids = ids["input_ids"]
        keep = len(ids) - prompt_len + 1  # same logits as the packed pass computes
        with torch.inference_mode():
            out = gen.model(torch.tensor([ids], device=gen.device), logits_to_keep=keep)
        logp = torch.log_softmax(out.logits[0].float(), dim=-1)
        sums.append(sum(logp[j, ids[prompt_len + j]].item() for j in range(keep - 1)))
    return sums


def bench_generation(
    gen: HFGenerator, prompts: list[Prompt], max_new: int, sizes: list[int], console: Console
) -> None:
    table = Table(title=f"Greedy generation, {len(prompts)} Banking77 prompts, {max_new} new")
    for column in ("mode", "s", "examples/s", "tokens/s", "speed-up", "same text"):
        table.add_column(column, justify="right")
    settings = DecodingSettings(max_new_tokens=max_new, batch_size=1)
    base_s, base = timed_generate(gen, prompts, settings, one_at_a_time=True)
    runs = [("one at a time", base_s, base)]
    for size in sizes:
        settings = DecodingSettings(max_new_tokens=max_new, batch_size=size)
        seconds, outputs = timed_generate(gen, prompts, settings, one_at_a_time=False)
        runs.append((f"batch {size}", seconds, outputs))
    for mode, seconds, outputs in runs:
        tokens = sum(o.output_tokens for o in outputs)
        table.add_row(
            mode,
            f"{seconds:.1f}",
            f"{len(outputs) / seconds:.2f}",
            f"{tokens / seconds:.1f}",
            f"{base_s / seconds:.2f}x",
            "yes" if [o.text for o in outputs] == [o.text for o in base] else "NO",
        )
    console.print(table)


def bench_scoring(
    gen: HFGenerator, prompts: list[Prompt], labels: list[str], console: Console
) -> None:
    packed_s = separate_s = 0.0
    worst = 0.0
    for prompt in prompts:
        started = time.perf_counter()
        packed = gen.score(prompt, labels).logprobs
        packed_s += time.perf_counter() - started
        started = time.perf_counter()
        separate = separate_scores(gen, prompt, labels)
        separate_s += time.perf_counter() - started
        worst = max(worst, *(abs(a - b) for a, b in zip(packed, separate, strict=True)))
    table = Table(title=f"Scoring {len(labels)} labels, mean over {len(prompts)} prompts")
    for column in ("method", "s/prompt", "speed-up"):
        table.add_column(column, justify="right")
    table.add_row("one forward per label", f"{separate_s / len(prompts):.2f}", "1.00x")
    table.add_row(
        "packed (one pass)", f"{packed_s / len(prompts):.2f}", f"{separate_s / packed_s:.1f}x"
    )
    console.print(table)
    console.print(f"max |packed - separate| log-likelihood: {worst:.2e}")


def bench_prompt_reuse(
    gen: HFGenerator, rows: list[dict[str, str]], n: int, console: Console
) -> None:
    """Few-shot rank scoring as the arm does it: 8 demonstrations and the 77-label list shared
    by every prompt, only the query changes. Kept KV cache of the shared prefix vs none."""
    label_set = LabelSet(sorted({r["category"] for r in rows}))
    rng = random.Random(1)
    demos = [(r["text"], label_set.surface[r["category"]]) for r in rng.sample(rows, 8)]
    queries = [r["text"] for r in rng.sample(rows, n)]
    prompts = [build_prompt(SYSTEM, label_set, q, demos) for q in queries]
    labels = label_set.shown()
    timings: dict[bool, float] = {}
    results: dict[bool, list[list[float]]] = {}
    for reuse in (False, True):
        gen.reuse_prompt_cache = reuse
        gen.reset_prompt_cache()
        gen.score(prompts[0], labels)  # warm-up; with reuse it also fills the prefix cache
        started = time.perf_counter()
        results[reuse] = [gen.score(p, labels).logprobs for p in prompts]
        timings[reuse] = (time.perf_counter() - started) / len(prompts)
    gen.reuse_prompt_cache = True
    worst = max(
        abs(a - b)
        for x, y in zip(results[True], results[False], strict=True)
        for a, b in zip(x, y, strict=True)
    )
    tokens = len(gen.encode_prompt(prompts[0]))
    table = Table(title=f"Few-shot rank scoring, {tokens}-token prompts, mean over {n} queries")
    for column in ("method", "s/prompt", "speed-up"):
        table.add_column(column, justify="right")
    table.add_row("packed, prompt recomputed", f"{timings[False]:.2f}", "1.00x")
    table.add_row(
        "packed, shared prefix's KV cache kept",
        f"{timings[True]:.2f}",
        f"{timings[False] / timings[True]:.2f}x",
    )
    console.print(table)
    console.print(f"max |kept - recomputed| log-likelihood: {worst:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=24, help="Banking77 test queries to decode")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,4,8,16", help="comma-separated")
    parser.add_argument("--score-prompts", type=int, default=1, help="prompts to score labels on")
    parser.add_argument("--reuse-prompts", type=int, default=6, help="few-shot prompts to score")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]

    console = Console()
    rows = load_rows()
    sample = random.Random(0).sample(rows, args.n)
    prompts = [make_prompt(r["text"]) for r in sample]
    # Labels as the model should see them: one consistent lower-case surface form (FINDINGS.md).
    labels = sorted({r["category"].lower().replace("_", " ") for r in rows})

    gen = load_generator(ModelSpec(device="cpu"))
    console.print(
        f"{gen.model_id}: {gen.num_parameters / 1e6:.0f}M params, {gen.dtype}, "
        f"loaded in {gen.load_s:.1f} s, {torch.get_num_threads()} torch threads"
    )
    bench_generation(gen, prompts, args.max_new_tokens, sizes, console)
    bench_scoring(gen, prompts[: args.score_prompts], labels, console)
    bench_prompt_reuse(gen, rows, args.reuse_prompts, console)


if __name__ == "__main__":
    main()
