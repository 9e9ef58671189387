"""The `tvp` command. Parses, delegates to the library, maps errors to exit codes:
0 ok, 2 bad suite or usage, 3 runtime failure."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from tunevsprompt import __version__
from tunevsprompt.errors import RunError, SuiteError

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _run_guarded(debug: bool, action: Callable[[], None]) -> None:
    """Run an action; known errors become messages and exit codes (tracebacks with --debug)."""
    from tunevsprompt.gate import GateUsageError
    from tunevsprompt.generation.errors import GeneratorError
    from tunevsprompt.run_folder import RunFolderError

    try:
        action()
    except SuiteError as exc:
        _fail(f"error: the suite is invalid\n{exc}", EXIT_USAGE)
    except (RunFolderError, GateUsageError) as exc:
        _fail(f"error: {exc}", EXIT_USAGE)
    except click.UsageError as exc:
        _fail(f"error: {exc.message}", EXIT_USAGE)
    except (RunError, GeneratorError) as exc:
        if debug:
            traceback.print_exc()
        _fail(f"error: {exc}", EXIT_RUNTIME)
    except KeyboardInterrupt:
        _fail(
            "interrupted: finished examples are cached; run the same command again to resume", 130
        )
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(
            f"error: unexpected failure: {type(exc).__name__}: {exc} "
            "(rerun with --debug for a traceback)",
            EXIT_RUNTIME,
        )


def _csv_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give at least one arm name, e.g. --arms zero-shot,few-shot")
    return names


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tvp")
def main() -> None:
    """Prompt it, retrieve for it, or fine-tune it? Measure the arms, then decide."""


@main.command()
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def validate(suite: Path, debug: bool) -> None:
    """Check SUITE (schema, arms, data files and fields) without loading any model."""
    from tunevsprompt.data import load_task_data
    from tunevsprompt.suite_loader import load_suite

    def action() -> None:
        loaded = load_suite(suite)
        data = load_task_data(loaded)
        sizes = data.provenance["sampled"]
        click.echo(
            f"{suite}: ok ({len(loaded.arms)} arms: {', '.join(a.name for a in loaded.arms)}; "
            f"train {sizes['train']}, dev {sizes['dev']}, test {sizes['test']} after sampling caps)"
        )
        for warning in loaded.suite.sample_warnings(sizes["test"]):
            click.echo(f"warning: {warning}")
        probed = [a.name for a in loaded.arms if a.changes_weights]
        forgetting = loaded.suite.forgetting_config()
        if probed and forgetting.enabled and forgetting.probes:
            probes = ", ".join(f"{p.name} ({p.kind})" for p in forgetting.probes)
            origin = "suite" if loaded.suite.forgetting else "built-in default"
            click.echo(f"forgetting probes ({origin}): {probes}; probed: {', '.join(probed)}")

    _run_guarded(debug, action)


@main.command()
def schema() -> None:
    """Print the suite file's JSON schema (for editors), arm types included."""
    from tunevsprompt.schema import suite_json_schema

    click.echo(json.dumps(suite_json_schema(), indent=2))


@main.command()
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--arms", callback=_csv_list, help="Comma-separated arm names to run (default: all).")
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
@click.option("--device", help="Override model.device: auto, cpu, cuda, cuda:N.")
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
    "headline pass, each further seed, learning-curve size and sweep trial).",
)
@click.option(
    "--ray-address",
    help="Ray cluster to join (e.g. auto, or ray://head:10001); default: start a local one.",
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
    debug: bool,
) -> None:
    """Run the arms of SUITE, write results.json, samples.jsonl and the reports, then apply
    the suite's gates (exit 1 when one fails)."""
    from tunevsprompt.console import ConsoleObserver, recommendation_text, summary_table
    from tunevsprompt.runner import RunOptions, run_compare
    from tunevsprompt.suite_loader import load_suite

    if ray_address and executor != "ray":
        raise click.UsageError("--ray-address needs --executor ray")
    observer = ConsoleObserver()

    def action() -> None:
        loaded = load_suite(suite)
        if arms and not no_gate:
            loaded.require_gated_arms(arms)
        options = RunOptions(arms, limit, train_limit, out, device, not no_cache, cache_dir)
        chosen = None
        if executor == "ray":
            from tunevsprompt.execution.ray_cluster import RayExecutor

            chosen = RayExecutor(address=ray_address)
        try:
            run_dir = run_compare(loaded, options, observer, executor=chosen)
        finally:
            observer.close()
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        observer.console.print(summary_table(results))
        observer.console.print(recommendation_text(results))
        observer.console.print(f"run folder: {run_dir} (report.html, costs.xlsx, summary.csv)")
        gates = loaded.suite.gates
        if gates is not None and not no_gate:
            _apply_gates(run_dir, results, gates, None)

    _run_guarded(debug, action)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--suite",
    "suite_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Decide under this suite's pricing, decision and gates blocks instead of the run's own.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def report(run_dir: Path, suite_path: Path | None, debug: bool) -> None:
    """Recompute the decision from RUN_DIR's measurements and re-render its reports
    (report.html, report.md, charts/, summary.csv, samples.csv, costs.xlsx)."""
    from tunevsprompt.decide.analyse import Policy
    from tunevsprompt.report.write import refresh_run
    from tunevsprompt.suite_loader import load_suite

    def action() -> None:
        policy = Policy.from_suite(load_suite(suite_path).suite) if suite_path else None
        results = refresh_run(run_dir, policy)
        click.echo(f"{run_dir / 'report.html'} ({_outcome(results)})")

    _run_guarded(debug, action)


@main.command()
@click.argument(
    "run_dir", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--margin",
    help="Largest loss accepted for a cheaper arm: 0.02 (metric units) or 5% (of the dearer "
    "arm's score). Default: the run's, else 0.02.",
)
@click.option(
    "--discordance",
    type=click.FloatRange(0, 1, min_open=True),
    help="Without RUN_DIR, for accuracy: share of examples on which the two arms disagree.",
)
@click.option(
    "--sd",
    type=click.FloatRange(min=0, min_open=True),
    help="Without RUN_DIR, for a graded metric: sd of the per-example differences.",
)
@click.option(
    "--gap", type=float, default=0.0, show_default=True, help="True loss of the cheaper arm."
)
@click.option("--power", type=click.FloatRange(0.5, 0.99), default=0.8, show_default=True)
@click.option(
    "--comparisons",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Arms that claim a saving (the decision's family).",
)
@click.option(
    "--design-effect",
    type=click.FloatRange(min=1),
    default=1.0,
    show_default=True,
    help="Variance inflation from clustered examples (reported by runs with a cluster_field).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def plan(
    run_dir: Path | None,
    margin: str | None,
    discordance: float | None,
    sd: float | None,
    gap: float,
    power: float,
    comparisons: int,
    design_effect: float,
    debug: bool,
) -> None:
    """How many test examples would show that a cheaper arm loses less than the margin:
    from a finished run's own comparisons (RUN_DIR), or from assumptions (--discordance for
    accuracy, --sd for graded metrics)."""
    from tunevsprompt.decide import plan as planning

    def margin_value() -> float | str:
        from tunevsprompt.decide.config import parse_margin

        if margin is None:
            return 0.02
        try:
            value: float | str = float(margin)
        except ValueError:
            value = margin
        try:
            parse_margin(value)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return value

    def action() -> None:
        if run_dir is not None:
            if discordance is not None or sd is not None:
                raise click.UsageError("give RUN_DIR or --discordance/--sd, not both")
            _plan_run(run_dir, margin_value() if margin is not None else None, power)
            return
        if (discordance is None) == (sd is None):
            raise click.UsageError(
                "give RUN_DIR, or exactly one of --discordance (accuracy) and --sd (graded)"
            )
        value = margin_value()
        if isinstance(value, str):
            raise click.UsageError("without RUN_DIR give --margin as a number, e.g. 0.02")
        if discordance is not None:
            if abs(gap) > discordance:
                raise click.UsageError(
                    f"--gap {gap:g} cannot exceed --discordance {discordance:g}: the arms can "
                    "only differ on examples where they disagree"
                )
            n = planning.plan_binary(discordance, gap, value, power, comparisons, design_effect)
            how = f"the arms disagree on {discordance:.0%} of examples (Tango's test, exact power)"
        else:
            assert sd is not None
            n = planning.plan_means(sd, gap, value, power, comparisons, design_effect)
            how = f"per-example differences have sd {sd:g} (t test)"
        head = (
            f"margin {value:g}, true loss {gap:g}, {how}, {comparisons} comparison(s), "
            f"power {power:.0%}"
        )
        if n is None:
            click.echo(
                f"{head}: no number of test examples is enough (the loss is not below the margin)"
            )
        else:
            click.echo(f"{head}: {n:,} test examples")

    _run_guarded(debug, action)


def _outcome(results: dict[str, Any]) -> str:
    """The recommendation in a few words."""
    recommendation = results.get("recommendation") or {}
    if recommendation.get("arm"):
        return f"recommended: {recommendation['arm']}"
    if recommendation.get("status") == "undecided":
        return f"no arm recommended yet; {recommendation.get('leading')} leads"
    return "recommended: none"


def _plan_run(run_dir: Path, margin: float | str | None, power: float) -> None:
    """`tvp plan RUN_DIR`: the run's decision, recomputed in memory, then one line per
    comparison it made."""
    from tunevsprompt.decide import plan as planning
    from tunevsprompt.decide.analyse import Policy, decide
    from tunevsprompt.report.write import SEED_SAMPLES
    from tunevsprompt.run_folder import load_results, read_samples

    results = load_results(run_dir)
    results = decide(
        results,
        read_samples(run_dir),
        Policy.from_results(results),
        read_samples(run_dir, SEED_SAMPLES),
    )
    rows = planning.plan_run(results, margin, power)
    if not rows:
        click.echo(
            "the decision made no comparison that a larger sample could settle (no cheaper arm "
            "meets the constraints beside an arm that costs more)"
        )
        return
    for row in rows:
        needed = (
            "never (the observed loss is not below the margin)"
            if row.needed is None
            else (f"{row.needed:,}")
        )
        state = "within the margin in this run" if row.shown else "not shown in this run"
        click.echo(
            f"{row.arm} vs {row.against}: {row.against} − {row.arm} = {row.difference:+.3f}, "
            f"margin {row.margin:g}; n = {row.n:,}, needed at {power:.0%} power: {needed} ({state})"
        )


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--arm", required=True, help="The tuned arm to export (a lora arm).")
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    default="auto",
    show_default=True,
    help="Weights' dtype in the folder (auto: the run's model dtype setting).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def export(run_dir: Path, out_dir: Path, arm: str, dtype: str, debug: bool) -> None:
    """Write ARM of RUN_DIR as a Hugging Face model folder OUT_DIR (LoRA merged into the base
    weights, tokenizer, chat template), ready for `transformers serve OUT_DIR`, vLLM or
    from_pretrained."""
    from tunevsprompt.export import export_arm

    def action() -> None:
        record = export_arm(run_dir, arm, out_dir, dtype)
        click.echo(
            f"{out_dir}: {arm} merged into {record['base_model']['id']} ({record['dtype']}); "
            f"serve it with: transformers serve {out_dir} --port 8000"
        )

    _run_guarded(debug, action)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--arm", help="The arm the bars apply to (default: the gates' arm, else the recommended one)."
)
@click.option("--min-quality", type=float, help="Lowest headline metric, on the CI lower bound.")
@click.option(
    "--max-p95-ms", type=click.FloatRange(min=0, min_open=True), help="Highest p95 latency (ms)."
)
@click.option(
    "--max-forgetting",
    help="Highest forgetting on the primary probe: 3.5 (probe units) or 10% (of the base).",
)
@click.option(
    "--max-error-rate",
    type=click.FloatRange(0, 1),
    help="Highest share of failed requests (hosted endpoints), e.g. 0.01.",
)
@click.option("--require-recommendation", metavar="ARM", help="Fail unless ARM is recommended.")
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JUnit XML path (default: RUN_DIR/junit.xml).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def gate(
    run_dir: Path,
    arm: str | None,
    min_quality: float | None,
    max_p95_ms: float | None,
    max_forgetting: str | None,
    max_error_rate: float | None,
    require_recommendation: str | None,
    junit: Path | None,
    debug: bool,
) -> None:
    """Check RUN_DIR's results against the suite's gates (flags override them).
    Exit 0: every gate passed; 1: a gate failed or could not be evaluated; 2: usage error;
    3: unexpected failure."""
    from tunevsprompt.decide.analyse import Policy
    from tunevsprompt.gate import merge_gates, parse_forgetting_flag
    from tunevsprompt.run_folder import load_results

    def action() -> None:
        results = load_results(run_dir)
        flags = {
            "arm": arm,
            "min_quality": min_quality,
            "max_p95_ms": max_p95_ms,
            "max_forgetting": parse_forgetting_flag(max_forgetting) if max_forgetting else None,
            "max_error_rate": max_error_rate,
            "require_recommendation": require_recommendation,
        }
        gates = merge_gates(Policy.from_results(results).gates, flags)
        _apply_gates(run_dir, results, gates, junit)

    _run_guarded(debug, action)


def _apply_gates(run_dir: Path, results: dict[str, Any], gates: Any, junit: Path | None) -> None:
    """Evaluate, publish (JUnit, GitHub step summary), print, and exit 1 on failure."""
    from tunevsprompt.gate import evaluate_gates, publish

    outcome = evaluate_gates(results, gates)
    publish(outcome, results, junit or run_dir / "junit.xml")
    for result in outcome.results:
        click.echo(
            f"gate {result.name} [{outcome.arm or '-'}]: {result.status.upper()}: {result.message}"
        )
    if not outcome.passed:
        _fail(
            f"gates FAILED ({outcome.failures} failed, {outcome.errors} could not be evaluated)",
            EXIT_GATE,
        )
    click.echo("gates passed")
