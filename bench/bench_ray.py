"""Wall time of a small suite under the local executor and under Ray (one task per arm), side
by side in one run, with Ray's start-up measured apart.

Run: ``HF_HUB_OFFLINE=1 python bench/bench_ray.py [--suite suites/support-bot.yaml]
[--arms zero-shot,few-shot] [--limit 40] [--workers 2]``. Each executor gets its own fresh
cache folder, so both compute every answer. On a 2-core machine two workers share the cores
(and each loads its own copy of the model), so the ratio there is mostly overhead; on a
cluster each unit gets its own node or GPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunevsprompt.execution.ray_cluster import RayExecutor
from tunevsprompt.runner import RunOptions, SilentObserver, run_compare
from tunevsprompt.suite.loader import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--suite", type=Path, default=Path("suites/support-bot.yaml"))
    parser.add_argument("--arms", default="zero-shot,few-shot")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import ray

    loaded = load_suite(args.suite)
    arms = args.arms.split(",")
    scratch = Path(tempfile.mkdtemp(prefix="tvp-bench-ray-"))

    def options(name: str) -> RunOptions:
        return RunOptions(
            arms=arms, limit=args.limit, out=scratch / name, cache_dir=scratch / f"{name}-cache"
        )

    began = time.perf_counter()
    run_compare(loaded, options("local"), SilentObserver())
    local_s = time.perf_counter() - began

    began = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    start_s = time.perf_counter() - began
    began = time.perf_counter()
    run_compare(loaded, options("ray"), SilentObserver(), executor=RayExecutor())
    ray_s = time.perf_counter() - began
    ray.shutdown()

    table = Table(title=f"{args.suite.name}: arms {args.arms}, {args.limit} test examples")
    for column in ("executor", "wall s", "vs local"):
        table.add_column(column, justify="left" if column == "executor" else "right")
    table.add_row("local (one process)", f"{local_s:.1f}", "1.00")
    table.add_row(f"ray, {args.workers} workers", f"{ray_s:.1f}", f"{ray_s / local_s:.2f}")
    table.add_row(
        "ray incl. ray.init", f"{ray_s + start_s:.1f}", f"{(ray_s + start_s) / local_s:.2f}"
    )
    Console().print(table)
    print(f"ray.init: {start_s:.1f} s")


if __name__ == "__main__":
    main()
