"""Benchmark serving a model behind an OpenAI-compatible endpoint (`transformers serve`, reached
through tvp's hosted generator) against tvp's in-process batched generation, on the same
weights, side by side in one run.

Run: ``HF_HUB_OFFLINE=1 python bench/bench_hosted.py --model DIR [--n 64]
[--max-new-tokens 32] [--batch-sizes 1,8,32] [--concurrency 1,8,32] [--device auto]
[--continuous-batching] [--json out.json]``. ``DIR`` is a Hugging Face model folder (e.g.
what `tvp export` writes, or the packaged model's cache folder). ``--random-weights`` saves a
randomly initialised copy of DIR's architecture first (bf16 on CUDA): throughput and latency
figures only, where the real weights cannot be brought (answers are then meaningless, and
their lengths differ from the real model's, which is why tokens/s is the figure to compare).

Local rows: ``HFGenerator.generate`` on batches of the given size. Hosted rows:
``HostedGenerator.generate`` with that many requests in flight. Both decode greedily with the
same chat template; output tokens are counted by each side (the API's `usage` for hosted).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunevsprompt.generation.base import DecodingSettings
from tunevsprompt.generation.endpoint import Endpoint
from tunevsprompt.generation.hf import load_generator
from tunevsprompt.generation.hosted import HostedGenerator
from tunevsprompt.generation.model_source import ModelSpec
from tunevsprompt.task.types import Generation, Message, Prompt

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "suites" / "data" / "banking77" / "test.csv"
SYSTEM = "You sort customer banking messages into intents. Reply with the intent name only."


def prompts(n: int) -> list[Prompt]:
    with DATA.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (Message("system", SYSTEM), Message("user", f"Message: {row['text']}\nIntent:"))
        for row in rows[:n]
    ]


def random_copy(model_dir: Path, device: str) -> Path:
    """The architecture of ``model_dir`` with fresh random weights, saved beside a copy of
    its tokenizer files (bf16 on CUDA, float32 on CPU)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out = Path(tempfile.mkdtemp(prefix="tvp-bench-random-"))
    config = AutoConfig.from_pretrained(model_dir)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        config, dtype=torch.bfloat16 if device.startswith("cuda") else torch.float32
    )
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    for extra in ("generation_config.json",):
        if (model_dir / extra).is_file():
            shutil.copy(model_dir / extra, out / extra)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`transformers serve MODEL` on 127.0.0.1 for the duration of a ``with`` block."""

    def __init__(self, model: Path, device: str, continuous_batching: bool):
        self.port = free_port()
        command = shutil.which("transformers", path=str(Path(sys.executable).parent)) or (
            shutil.which("transformers")
        )
        if command is None:
            raise SystemExit("the `transformers` console script is not installed")
        self.args = [command, "serve", str(model), "--host", "127.0.0.1"]
        self.args += ["--port", str(self.port), "--device", device, "--log-level", "warning"]
        if continuous_batching:
            self.args.append("--continuous-batching")
        self.log = Path(tempfile.mkstemp(prefix="tvp-serve-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Server:
        print("starting", " ".join(self.args), flush=True)
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(self.args, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"transformers serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return self
            except OSError:
                time.sleep(0.5)
        raise SystemExit("transformers serve did not become healthy in 300 s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def row(
    mode: str, width: int, seconds: float, outputs: list[Generation], per_request: list[float]
) -> dict[str, Any]:
    tokens = sum(o.output_tokens for o in outputs)
    return {
        "mode": mode,
        "width": width,
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(outputs) / seconds, 3),
        "output_tokens_per_s": round(tokens / seconds, 1),
        "mean_output_tokens": round(tokens / len(outputs), 2),
        "p50_request_ms": round(1000 * statistics.median(per_request), 1) if per_request else None,
        "errors": sum(o.error is not None for o in outputs),
    }


def bench_local(
    model: Path, device: str, batch: list[Prompt], settings: DecodingSettings, sizes: list[int]
) -> list[dict[str, Any]]:
    gen = load_generator(ModelSpec(str(model), None, None, device, "auto"))
    gen.generate(batch[:2], DecodingSettings(settings.max_new_tokens, 0.0, 2))  # warm-up
    rows = []
    for size in sizes:
        sync(device)
        began = time.perf_counter()
        outputs = gen.generate(batch, DecodingSettings(settings.max_new_tokens, 0.0, size))
        sync(device)
        seconds = time.perf_counter() - began
        # Each request waits for its whole batch.
        per_batch = seconds / max(1, -(-len(batch) // size))
        rows.append(row(f"local {gen.device} batch", size, seconds, outputs, [per_batch]))
        print(json.dumps(rows[-1]), flush=True)
    del gen
    release(device)
    return rows


def bench_hosted(
    server: Server,
    model: Path,
    batch: list[Prompt],
    settings: DecodingSettings,
    levels: list[int],
    label: str,
) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        endpoint = Endpoint(server.url, str(model), "TVP_BENCH_KEY", None, level, 300.0, 0, None)
        hosted = HostedGenerator(endpoint, "not-needed")
        hosted.generate(batch[:2], settings)  # warm-up (loads the model on first request)
        hosted.log.seconds.clear()
        began = time.perf_counter()
        outputs = hosted.generate(batch, settings)
        seconds = time.perf_counter() - began
        rows.append(row(label, level, seconds, outputs, list(hosted.log.seconds)))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def release(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="A Hugging Face model folder.")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--continuous-batching", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from tunevsprompt.generation.device import resolve_device

    device = str(resolve_device(args.device))
    model = random_copy(args.model, device) if args.random_weights else args.model
    batch = prompts(args.n)
    settings = DecodingSettings(args.max_new_tokens, 0.0, 8)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    levels = [int(s) for s in args.concurrency.split(",")]
    rows = bench_local(model, device, batch, settings, sizes)
    with Server(model, device, continuous_batching=False) as server:
        rows += bench_hosted(
            server, model, batch, settings, levels, "transformers serve, in flight"
        )
    if args.continuous_batching:
        with Server(model, device, continuous_batching=True) as server:
            rows += bench_hosted(
                server,
                model,
                batch,
                settings,
                levels,
                "transformers serve --continuous-batching, in flight",
            )

    console = Console()
    title = f"{args.n} Banking77 prompts, greedy, up to {args.max_new_tokens} new tokens, {device}"
    if args.random_weights:
        title += " (random weights: speed only)"
    table = Table(title=title)
    for column in (
        "mode",
        "width",
        "s",
        "req/s",
        "out tok/s",
        "mean out tok",
        "p50 ms/request",
        "errors",
    ):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for r in rows:
        table.add_row(
            r["mode"],
            str(r["width"]),
            f"{r['seconds']:.2f}",
            f"{r['requests_per_s']:.2f}",
            f"{r['output_tokens_per_s']:.0f}",
            f"{r['mean_output_tokens']:.1f}",
            "–" if r["p50_request_ms"] is None else f"{r['p50_request_ms']:.0f}",
            str(r["errors"]),
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
