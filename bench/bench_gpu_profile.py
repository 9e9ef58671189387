"""Where a LoRA training run's time goes, and how much of the device it uses: support-bot-full's
LoRA arm (r 16, alpha 32) trained for ``--steps`` optimizer steps on Banking77 messages with
the real arm classes and the shared training loop, under ``torch.profiler``.

It prints, for the timed steps (after one untimed warm-up step):

- examples/s and tokens/s (prompt and answer tokens, padding excluded);
- an estimate of model FLOP utilisation: LoRA training costs about 4·N FLOPs per token for a
  base model of N parameters (a forward pass, 2·N, and a backward pass through the frozen
  weights for the activations' gradients, 2·N; the adapter's own weight gradients are
  negligible), divided by ``--peak-tflops`` (989 for an H100/H200's dense bf16; none on CPU);
- the share of the wall time the GPU was busy (the sum of its kernels' time over the wall
  time: well below 1 means the GPU waits on Python, data or the host);
- the ten operators that took the most time, device and host.

Run: ``HF_HUB_OFFLINE=1 python bench/bench_gpu_profile.py [--steps 40] [--batch-size 16]
[--device auto] [--peak-tflops 989] [--trace trace.json]``. On CPU use a few steps
(``--steps 3 --batch-size 4``): the figures are then about the host. A GPU run is what the
issue about real scale asks for; the trace opens in chrome://tracing or Perfetto.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunevsprompt.arms.lora import LoraArm, LoraArmConfig
from tunevsprompt.generation.hf import load_generator
from tunevsprompt.generation.model_source import ModelSpec
from tunevsprompt.training.loop import run_training

FLOPS_PER_TOKEN_PER_PARAM = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="packaged:smollm2-135m-instruct")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--trace", type=Path, default=None)
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_training import Quiet, bench_context, read_examples

    spec = ModelSpec(args.model, None, None, args.device, "auto")
    train = read_examples("train")
    ctx = bench_context(spec, train)
    base = load_generator(spec)
    arm = LoraArm(LoraArmConfig(name="lora", r=16, alpha=32, learning_rate=2e-4))
    arm._ctx = ctx  # the bench drives the arm's pieces directly, without prepare()
    pool = train[:: max(1, len(train) // (args.batch_size * (args.steps + 1)))]
    encoded, _ = arm._encode(base, pool[: args.batch_size * (args.steps + 1)])
    peft_model = arm.attach(base)
    trainable = arm.trainable(peft_model, base)
    settings = replace(arm.tuning.training_settings(0), batch_size=args.batch_size)
    cuda = base.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    timed_examples = encoded[args.batch_size :]
    tokens = sum(len(e.prompt_ids) + len(e.answer_ids) for e in timed_examples)
    with tempfile.TemporaryDirectory() as tmp:
        warm = replace(settings, max_steps=1)
        run_training(trainable, encoded[: args.batch_size], [], warm, Path(tmp) / "w.pt", Quiet())
        timed = replace(settings, max_steps=args.steps, logging_steps=args.steps)
        if cuda:
            torch.cuda.synchronize()
        began = time.perf_counter()
        with profile(activities=activities) as prof:
            run_training(trainable, timed_examples, [], timed, Path(tmp) / "t.pt", Quiet())
            if cuda:
                torch.cuda.synchronize()
        wall = time.perf_counter() - began
    if args.trace:
        prof.export_chrome_trace(str(args.trace))
    events = prof.key_averages()
    device_us = sum(e.self_device_time_total for e in events) if cuda else 0.0
    params = sum(p.numel() for p in peft_model.parameters())
    flops = FLOPS_PER_TOKEN_PER_PARAM * params * tokens / wall
    show(args, base.device, wall, len(timed_examples), tokens, params, flops, device_us, events)


def show(
    args: Any,
    device: str,
    wall: float,
    examples: int,
    tokens: int,
    params: int,
    flops: float,
    device_us: float,
    events: Any,
) -> None:
    console = Console()
    table = Table(title=f"LoRA training, {args.steps} steps of {args.batch_size}, {device}")
    for column in ("examples/s", "tokens/s", "model TFLOP/s (4·N·tokens/s)", "MFU", "GPU busy"):
        table.add_column(column)
    mfu = f"{flops / (args.peak_tflops * 1e12):.1%}" if args.peak_tflops else "– (no peak given)"
    busy = f"{device_us / 1e6 / wall:.0%}" if device_us else "– (CPU)"
    table.add_row(
        f"{examples / wall:.1f}", f"{tokens / wall:.0f}", f"{flops / 1e12:.3f}", mfu, busy
    )
    console.print(table)
    console.print(f"{params / 1e6:.1f}M parameters, {tokens} tokens, {wall:.1f} s wall")
    key = "self_device_time_total" if device_us else "self_cpu_time_total"
    top = sorted(events, key=lambda e: getattr(e, key), reverse=True)[:10]
    ops = Table(title="operators by self time")
    for column in ("operator", "calls", "self ms", "share of wall"):
        ops.add_column(column)
    for event in top:
        ms = getattr(event, key) / 1000
        ops.add_row(event.key[:60], str(event.count), f"{ms:.0f}", f"{ms / 1000 / wall:.0%}")
    console.print(ops)


if __name__ == "__main__":
    main()
