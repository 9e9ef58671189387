"""The commands that read a finished run folder: `tvp report`, `tvp gate`, `tvp plan` and
`tvp export`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tunevsprompt.cli.guard import apply_gates, run_guarded

if TYPE_CHECKING:
    from tunevsprompt.runfolder.results import Results


@click.command()
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
    from tunevsprompt.suite.loader import load_suite

    def action() -> None:
        policy = Policy.from_suite(load_suite(suite_path).suite) if suite_path else None
        results = refresh_run(run_dir, policy)
        click.echo(f"{run_dir / 'report.html'} ({_outcome(results)})")

    run_guarded(debug, action)


@click.command()
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

    run_guarded(debug, action)


def _outcome(results: Results) -> str:
    """The recommendation in a few words."""
    recommendation = results.recommendation
    if recommendation is not None and recommendation.arm:
        return f"recommended: {recommendation.arm}"
    if recommendation is not None and recommendation.status == "undecided":
        return f"no arm recommended yet; {recommendation.leading} leads"
    return "recommended: none"


def _plan_run(run_dir: Path, margin: float | str | None, power: float) -> None:
    """`tvp plan RUN_DIR`: the run's decision, recomputed in memory, then one line per
    comparison it made."""
    from tunevsprompt.decide import plan as planning
    from tunevsprompt.decide.analyse import Policy, decide
    from tunevsprompt.report.write import SEED_SAMPLES
    from tunevsprompt.runfolder.read import load_results_dict, read_samples

    results = load_results_dict(run_dir)
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


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--arm",
    required=True,
    help="The arm to export: a lora arm (a model folder), an encoder-finetune or setfit arm "
    "(a sentence-transformers folder) or an optimized-prompt arm (its prompt, as prompt.json "
    "and prompt.txt).",
)
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    default="auto",
    show_default=True,
    help="Weights' dtype in the folder (auto: the run's model dtype setting).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def export(run_dir: Path, out_dir: Path, arm: str, dtype: str, debug: bool) -> None:
    """Write ARM of RUN_DIR to OUT_DIR: a lora arm as a Hugging Face model folder (LoRA merged
    into the base weights, tokenizer, chat template), ready for `transformers serve OUT_DIR`,
    vLLM or from_pretrained; an encoder-finetune or setfit arm as a sentence-transformers
    folder whose encode() gives one score per label (labels.json); an optimized-prompt arm
    as its winning chat prompt (prompt.json, prompt.txt)."""
    from tunevsprompt.runfolder.export import export_arm
    from tunevsprompt.runfolder.export_encoder import export_encoder, has_encoder
    from tunevsprompt.runfolder.export_prompt import export_prompt, has_prompt

    def action() -> None:
        if has_prompt(run_dir, arm):
            export_prompt(run_dir, arm, out_dir)
            click.echo(f"{out_dir}: {arm}'s prompt as prompt.json and prompt.txt")
            return
        if has_encoder(run_dir, arm):
            export_encoder(run_dir, arm, out_dir)
            click.echo(
                f"{out_dir}: {arm} as a sentence-transformers folder; "
                f"SentenceTransformer('{out_dir}').encode(texts) gives one score per label "
                "of labels.json"
            )
            return
        record = export_arm(run_dir, arm, out_dir, dtype)
        click.echo(
            f"{out_dir}: {arm} merged into {record['base_model']['id']} ({record['dtype']}); "
            f"serve it with: transformers serve {out_dir} --port 8000"
        )

    run_guarded(debug, action)


@click.command()
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
@click.option(
    "--min-class-recall",
    "min_class_recall",
    multiple=True,
    metavar="LABEL=BAR",
    help="Lowest recall of one class, on its CI lower bound (repeatable), e.g. card_arrival=0.8.",
)
@click.option(
    "--max-ece",
    type=click.FloatRange(0, 1),
    help="Highest expected calibration error of the arm's confidence (CI upper bound).",
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
    min_class_recall: tuple[str, ...],
    max_ece: float | None,
    require_recommendation: str | None,
    junit: Path | None,
    debug: bool,
) -> None:
    """Check RUN_DIR's results against the suite's gates (flags override them).
    Exit 0: every gate passed; 1: a gate failed or could not be evaluated; 2: usage error;
    3: unexpected failure."""
    from tunevsprompt.decide.analyse import Policy
    from tunevsprompt.decide.gate import (
        merge_gates,
        parse_class_recall_flags,
        parse_forgetting_flag,
    )
    from tunevsprompt.measure.metrics import metric_names
    from tunevsprompt.runfolder.read import load_results_dict

    def action() -> None:
        results = load_results_dict(run_dir)
        task = results["task"]
        bounded = task["primary_metric"] in metric_names(task["type"])
        if min_quality is not None and bounded and not 0 <= min_quality < 1:
            raise click.UsageError(
                f"--min-quality {min_quality:g} is outside what {task['primary_metric']} "
                "can reach: it lies in [0, 1] and the bar is checked on the CI's lower "
                "bound, which stays below 1 (give a share such as 0.85)"
            )
        flags = {
            "arm": arm,
            "min_quality": min_quality,
            "max_p95_ms": max_p95_ms,
            "max_forgetting": parse_forgetting_flag(max_forgetting) if max_forgetting else None,
            "max_error_rate": max_error_rate,
            "min_class_recall": parse_class_recall_flags(min_class_recall),
            "max_ece": max_ece,
            "require_recommendation": require_recommendation,
        }
        gates = merge_gates(Policy.from_results(results).gates, flags)
        apply_gates(run_dir, results, gates, junit)

    run_guarded(debug, action)
