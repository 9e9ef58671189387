"""`tvp compare`: run a suite's arms into a run folder, then apply its gates."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tunevsprompt.cli.guard import apply_gates, csv_list, device_option, run_guarded


@click.command()
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--arms", callback=csv_list, help="Comma-separated arm names to run (default: all).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Evaluate on N test examples (stratified; replaces the suite's test caps).",
)
@click.option(
    "--train-limit",
    type=click.IntRange(min=1),
    help="Use N train examples (stratified; replaces the suite's train caps).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (default: reports/<suite>/<timestamp>/). Rerun with the same --out to resume.",
)
@click.option(
    "--device", callback=device_option, help="Override model.device: auto, cpu, cuda, cuda:N."
)
@click.option(
    "--no-cache", is_flag=True, help="Recompute every prediction instead of reusing cached ones."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache folder (default: $TVP_CACHE_DIR or ~/.cache/tunevsprompt).",
)
@click.option(
    "--no-gate", is_flag=True, help="Do not apply the suite's gates (exit 0 even when one fails)."
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: every unit here, one after another; ray: one Ray task per unit (an arm's "
    "headline pass, each further seed, learning-curve size and sweep trial), and a prompt "
    "search's candidates scored at once on a pool of workers.",
)
@click.option(
    "--ray-address",
    help="Ray cluster to join (e.g. auto, or ray://head:10001); default: start a local one.",
)
@click.option(
    "--ray-search-workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="With --executor ray: workers that score an optimized-prompt arm's candidates at "
    "once (each loads the model).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would run (arms, examples, training steps, probes, what is reused) and "
    "the time each arm should take on this device, from a few calibration passes; run nothing.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def compare(
    suite: Path,
    arms: list[str] | None,
    limit: int | None,
    train_limit: int | None,
    out: Path | None,
    device: str | None,
    no_cache: bool,
    cache_dir: Path | None,
    no_gate: bool,
    executor: str,
    ray_address: str | None,
    ray_search_workers: int,
    dry_run: bool,
    debug: bool,
) -> None:
    """Run the arms of SUITE, write results.json, samples.jsonl and the reports, then apply
    the suite's gates (exit 1 when one fails)."""
    from tunevsprompt.cli.console import ConsoleObserver, print_summary
    from tunevsprompt.estimate.run import estimate_run
    from tunevsprompt.execution.base import load_default_generator
    from tunevsprompt.runner import RunOptions, run_compare
    from tunevsprompt.suite.loader import load_suite

    if ray_address and executor != "ray":
        raise click.UsageError("--ray-address needs --executor ray")
    observer = ConsoleObserver()

    def action() -> None:
        loaded = load_suite(suite)
        if arms and not no_gate:
            loaded.require_gated_arms(arms)
        options = RunOptions(arms, limit, train_limit, out, device, not no_cache, cache_dir)
        plan, model = estimate_run(loaded, options, observer.message)
        if dry_run:
            for line in plan.lines():
                observer.message(line)
            return
        observer.message(plan.headline())
        observer.expect(plan.seconds_by_arm(), plan.fixed_s)
        chosen = None
        if executor == "ray":
            from tunevsprompt.execution.ray_cluster import RayExecutor

            chosen = RayExecutor(address=ray_address, job_workers=ray_search_workers)
        if chosen is not None:  # Ray workers load their own copies: free this one
            model = None
        reuse = (lambda _loaded, _options: model) if model is not None else None
        try:
            run_dir = run_compare(
                loaded, options, observer, reuse or load_default_generator, executor=chosen
            )
        finally:
            observer.close()
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        print_summary(observer, results)
        observer.console.print(f"run folder: {run_dir} (report.html, costs.xlsx, summary.csv)")
        gates = loaded.suite.gates
        if gates is not None and not no_gate:
            apply_gates(run_dir, results, gates, None)

    run_guarded(debug, action)
