"""Benchmark the tuning arms: training throughput and peak memory at two batch sizes, and
LoRA merged vs unmerged (and soft-prompt vs base) latency, side by side in one run.

Run: ``HF_HUB_OFFLINE=1 python bench/bench_training.py [--steps 6] [--batch-sizes 4,8]
[--latency-n 12] [--device auto] [--json out.json]``. Uses the real arm classes and the
shared training loop on Banking77 training examples with the packaged SmolLM2-135M-Instruct
(or ``--model``), on CUDA (bf16 autocast) when present, else CPU float32. Each
configuration trains a fresh adapter for ``--steps`` optimizer steps after one untimed
warm-up step; latency is one request at a time, ranking all 77 labels.

On a GPU use larger batch sizes, e.g. ``--batch-sizes 16,64 --steps 20``. Figures are only
comparable on an otherwise idle machine: on 2 cores a second torch process doubles them.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunevsprompt.arms.base import RunContext, TaskInfo
from tunevsprompt.arms.lora import LoraArm, LoraArmConfig
from tunevsprompt.arms.soft_prompt import SoftPromptArm, SoftPromptConfig
from tunevsprompt.arms.tuning import TuningArm
from tunevsprompt.generation.hf import HFGenerator, load_generator
from tunevsprompt.generation.model_source import ModelSpec
from tunevsprompt.task.labels import LabelSet
from tunevsprompt.task.types import Example
from tunevsprompt.training.loop import run_training

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "suites" / "data" / "banking77"
INSTRUCTION = (
    "You route customer messages for a bank's support team. Read the customer's message and "
    "name its intent."
)


class Quiet:
    def training_progress(self, step: int, total: int, loss: float) -> None:
        pass

    def checkpoint_saved(self, step: int, path: Path) -> None:
        pass


def read_examples(split: str) -> list[Example]:
    with (DATA / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [Example(f"{split}-{i}", r["text"], r["category"]) for i, r in enumerate(rows)]


def bench_context(spec: ModelSpec, train: list[Example]) -> RunContext:
    """The run context a bench drives a tuning arm with: the Banking77 task, seed 0."""
    labels = LabelSet(sorted({e.target for e in train}))
    return RunContext(
        TaskInfo("classification", INSTRUCTION, labels),
        seed=0,
        run_dir=Path(tempfile.gettempdir()),
        generator_factory=lambda: load_generator(spec),
    )


def make_arm(method: str, ctx: RunContext) -> TuningArm:
    arm: TuningArm
    if method == "lora":
        arm = LoraArm(LoraArmConfig(name="lora", r=8, learning_rate=1e-3))
    else:
        arm = SoftPromptArm(SoftPromptConfig(name="soft-prompt", learning_rate=0.1))
    arm._ctx = ctx  # the bench drives the arm's pieces directly, without prepare()
    return arm


def train_once(
    method: str, batch_size: int, steps: int, spec: ModelSpec, ctx: RunContext, pool: list[Example]
) -> tuple[dict[str, Any], TuningArm, Any, HFGenerator]:
    base = load_generator(spec)
    arm = make_arm(method, ctx)
    encoded, _ = arm._encode(base, pool[: batch_size * (steps + 1)])
    peft_model = arm.attach(base)
    trainable = arm.trainable(peft_model, base)
    settings = arm.tuning.training_settings(0)
    with tempfile.TemporaryDirectory() as tmp:
        # One untimed step first: allocator and kernel warm-up.
        warm = replace(settings, max_steps=1, batch_size=batch_size)
        run_training(
            trainable,
            encoded[:batch_size],
            [],
            warm,
            Path(tmp) / "warm.pt",
            Quiet(),
        )
        timed = replace(settings, max_steps=steps, batch_size=batch_size, logging_steps=steps)
        outcome = run_training(
            trainable,
            encoded[batch_size:],
            [],
            timed,
            Path(tmp) / "timed.pt",
            Quiet(),
        )
    return outcome.record, arm, peft_model, base


def time_latency(arm: TuningArm, generator: HFGenerator, examples: list[Example]) -> float:
    arm.predict_with(generator, examples[:1])  # warm-up
    times = []
    for example in examples:
        began = time.perf_counter()
        arm.predict_with(generator, [example])
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-sizes", default="4,8")
    parser.add_argument("--latency-n", type=int, default=12)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="packaged:smollm2-135m-instruct")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    spec = ModelSpec(args.model, None, None, args.device, "auto")
    train = read_examples("train")
    test = read_examples("test")[:: 3080 // args.latency_n][: args.latency_n]
    ctx = bench_context(spec, train)
    pool = train[::7]
    rows: list[dict[str, Any]] = []
    latency: dict[str, float] = {}
    tuned: Any = None
    plain: Any = None
    for method in ("lora", "soft-prompt"):
        tuned = plain = None  # free the last method's models before measuring memory
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            arm = peft_model = base = None  # free the previous model before measuring memory
            gc.collect()
            record, arm, peft_model, base = train_once(
                method, batch_size, args.steps, spec, ctx, pool
            )
            rows.append(
                {
                    "method": method,
                    "batch_size": batch_size,
                    "device": base.device,
                    **{
                        k: record[k]
                        for k in (
                            "examples_per_s",
                            "tokens_per_s",
                            "peak_memory_mb",
                            "train_s",
                            "steps",
                        )
                    },
                }
            )
        # Latency with the adapter of the last configuration, all forms side by side.
        tuned = arm.build_inference(peft_model, base, adapter_sha="bench")
        latency[f"{method} ({'merged' if method == 'lora' else 'soft prompt'})"] = time_latency(
            arm, tuned.evaluated, test
        )
        for name, generator in tuned.latency_variants.items():
            latency[f"{method} ({name})"] = time_latency(arm, generator, test)
        plain = load_generator(spec)
        latency[f"base model, {method} prompt"] = time_latency(arm, plain, test)
    console = Console()
    table = Table(title=f"training: {args.steps} timed steps, device {rows[0]['device']}")
    for column in ("method", "batch", "examples/s", "tokens/s", "peak MB", "train s"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["method"],
            str(row["batch_size"]),
            f"{row['examples_per_s']:.2f}",
            f"{row['tokens_per_s']:.0f}",
            f"{row['peak_memory_mb']:.0f}",
            f"{row['train_s']:.1f}",
        )
    console.print(table)
    reference = latency.get("lora (merged)")
    lat = Table(title=f"latency: p50 of {len(test)} requests, batch size 1, rank over 77 labels")
    for column in ("form", "p50 ms", "vs LoRA merged"):
        lat.add_column(column)
    for name, value in latency.items():
        ratio = f"{value / reference:.2f}x" if reference else "–"
        lat.add_row(name, f"{value:.0f}", ratio)
    console.print(lat)
    if args.json:
        args.json.write_text(json.dumps({"training": rows, "latency_p50_ms": latency}, indent=2))


if __name__ == "__main__":
    main()
