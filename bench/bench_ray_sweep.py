"""A LoRA sweep on one machine with a GPU: the local executor (one process, one trial after
another) against Ray with one GPU per training unit (one after another, a process each) and
with a quarter GPU per training unit (four trials at once on the one GPU), side by side in
one run, each with a fresh cache (every trial trains).

Run: ``HF_HUB_OFFLINE=1 python bench/bench_ray_sweep.py --model DIR [--random-weights]
[--train-max 1000] [--dev-limit 77] [--rates 0.00003,0.0001,0.0003,0.001] [--limit 77]
[--modes local,ray-1,ray-0.25] [--json out.json]``. ``DIR`` is a Hugging Face model folder;
``--random-weights`` trains a randomly initialised copy of its architecture (speed figures
only, where the real weights cannot be brought). Banking77 from ``suites/data/banking77``;
the sweep is a learning-rate grid on a LoRA arm (r 8, one epoch, batch 16, dev loss every 20
steps), the winner then runs on the test sample.

Per mode: wall time of the executor (Ray's start-up apart), the most units seen running at
once, each trial's training time and the device and precision it trained on, and the chosen
trial. ``ray.init`` is given the machine's GPUs and 8 CPUs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunevsprompt.execution.base import ArmsRun, Executor, RunOptions, SilentObserver
from tunevsprompt.execution.local import LocalExecutor
from tunevsprompt.execution.ray_cluster import RayExecutor
from tunevsprompt.suite.loader import load_suite
from tunevsprompt.task.data import load_task_data

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "suites" / "data" / "banking77"

SUITE = """\
name: ray-sweep-bench
task:
  type: classification
  data: {{train: data/train.csv, test: data/test.csv}}
  input_field: text
  target_field: category
  instruction: Name the intent of this bank customer's message.
model:
  id: {model}
arms:
  - name: lora
    type: lora
    r: 8
    epochs: 1
    train_batch_size: 16
    eval_every_steps: 20
    dev_limit: {dev_limit}
    integrity_sample: 16
    sweep:
      params:
        learning_rate: [{rates}]
sampling: {{seed: 0, test_per_class: 2, train_max: {train_max}}}
latency: {{sample: 20, warmup: 2}}
forgetting: {{enabled: false}}
"""


class Timeline(SilentObserver):
    """When each unit started and finished, as the driver heard it: the overlap."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.peak = 0

    def unit_started(self, unit: str, total: int) -> None:
        self.running.add(unit)
        self.peak = max(self.peak, len(self.running))
        print(f"  {time.strftime('%H:%M:%S')} {unit} started ({total} examples)", flush=True)

    def unit_finished(self, unit: str, reused: bool) -> None:
        self.running.discard(unit)
        print(f"  {time.strftime('%H:%M:%S')} {unit} finished", flush=True)

    def message(self, text: str) -> None:
        print(f"  {time.strftime('%H:%M:%S')} {text}", flush=True)


def executor(mode: str) -> Executor:
    if mode == "local":
        return LocalExecutor()
    share = float(mode.removeprefix("ray-"))
    return RayExecutor(train_gpus=share, generate_gpus=share)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--train-max", type=int, default=1000)
    parser.add_argument("--dev-limit", type=int, default=77)
    parser.add_argument("--rates", default="0.00003,0.0001,0.0003,0.001")
    parser.add_argument("--limit", type=int, default=77)
    parser.add_argument("--modes", default="local,ray-1,ray-0.25")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import ray
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_hosted import random_copy

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = random_copy(args.model, device) if args.random_weights else args.model
    scratch = Path(tempfile.mkdtemp(prefix="tvp-bench-sweep-"))
    (scratch / "data").mkdir()
    for split in ("train", "test"):
        shutil.copy(DATA / f"{split}.csv", scratch / "data" / f"{split}.csv")
    suite = scratch / "suite.yaml"
    suite.write_text(
        SUITE.format(
            model=model.resolve(),
            rates=args.rates,
            train_max=args.train_max,
            dev_limit=args.dev_limit,
        )
    )
    loaded = load_suite(suite)
    data = load_task_data(loaded, args.limit, None)
    print(f"{len(data.train)} train, {len(data.dev)} dev, {len(data.test)} test; {device}")

    rows: list[dict[str, Any]] = []
    for mode in args.modes.split(","):
        start_s = 0.0
        if mode != "local" and not ray.is_initialized():
            began = time.perf_counter()
            ray.init(
                num_cpus=8,
                include_dashboard=False,
                log_to_driver=False,
                _temp_dir=tempfile.mkdtemp(prefix="tvp-ray-", dir="/tmp"),
            )
            start_s = time.perf_counter() - began
        options = RunOptions(
            limit=args.limit, out=scratch / mode, cache_dir=scratch / f"{mode}-cache"
        )
        timeline = Timeline()
        print(f"{mode}:", flush=True)
        began = time.perf_counter()
        outcomes, _ = executor(mode).run(ArmsRun(loaded, options, data, scratch / mode), timeline)
        wall_s = time.perf_counter() - began
        lora = outcomes["lora"].record
        trials = lora["sweep"]["trials"]
        rows.append(
            {
                "mode": mode,
                "wall_s": round(wall_s, 2),
                "ray_init_s": round(start_s, 2),
                "peak_running": timeline.peak,
                "trial_train_s": [(t.get("training") or {}).get("wall_s") for t in trials],
                "trial_dev": [(t["dev"] or {}).get("value") for t in trials],
                "trial_diverged": [bool(t.get("diverged")) for t in trials],
                "best_trial": lora["sweep"]["best_trial"],
                "trained_on": sorted(
                    {f"{lora['training']['device']} {lora['training']['precision']}"}
                ),
                "head_reused_winner": lora["training"]["reused"],
                "test_accuracy": lora["quality"]["value"],
                "steps_per_trial": trials[0]["training"]["steps"],
            }
        )
    if ray.is_initialized():
        ray.shutdown()

    base = rows[0]["wall_s"]
    title = f"LoRA sweep, {len(rows[0]['trial_dev'])} trials, {len(data.train)} train examples"
    if args.random_weights:
        title += " (random weights: speed only)"
    table = Table(title=title)
    for column in (
        "mode",
        "wall s",
        f"vs {rows[0]['mode']}",
        "ray.init s",
        "peak units at once",
        "train s per trial",
        "best",
        "trained on",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["mode"],
            f"{r['wall_s']:.1f}",
            f"{r['wall_s'] / base:.2f}",
            f"{r['ray_init_s']:.1f}",
            str(r["peak_running"]),
            ", ".join("–" if s is None else f"{s:.1f}" for s in r["trial_train_s"]),
            str(r["best_trial"]),
            ", ".join(r["trained_on"]),
        )
    Console(width=160).print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
