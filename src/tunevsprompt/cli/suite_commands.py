"""`tvp validate` and `tvp schema`: the suite file, checked or described, without a model (and
results.json described)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tunevsprompt.cli.guard import run_guarded


@click.command()
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def validate(suite: Path, debug: bool) -> None:
    """Check SUITE (schema, arms, data files and fields) without loading any model."""
    from tunevsprompt.errors import SuiteError
    from tunevsprompt.suite.loader import load_suite
    from tunevsprompt.task.data import load_task_data
    from tunevsprompt.task.data_checks import check_task_data

    def action() -> None:
        loaded = load_suite(suite)
        data = load_task_data(loaded)
        findings = check_task_data(loaded, data)
        if findings.problems:
            raise SuiteError(findings.problems)
        sizes = data.provenance["sampled"]
        click.echo(
            f"{suite}: ok ({len(loaded.arms)} arms: {', '.join(a.name for a in loaded.arms)}; "
            f"train {sizes['train']}, dev {sizes['dev']}, test {sizes['test']} after sampling caps)"
        )
        for warning in [*findings.warnings, *loaded.suite.sample_warnings(sizes["test"])]:
            click.echo(f"warning: {warning}")
        probed = [a.name for a in loaded.arms if a.changes_weights]
        forgetting = loaded.suite.forgetting_config()
        if probed and forgetting.enabled and forgetting.probes:
            probes = ", ".join(f"{p.name} ({p.kind})" for p in forgetting.probes)
            origin = "suite" if loaded.suite.forgetting else "built-in default"
            click.echo(f"forgetting probes ({origin}): {probes}; probed: {', '.join(probed)}")

    run_guarded(debug, action)


@click.command()
@click.option(
    "--results",
    "results_file",
    is_flag=True,
    help="Print the JSON schema of a run folder's results.json instead.",
)
def schema(results_file: bool) -> None:
    """Print the suite file's JSON schema (for editors), arm types included; with --results,
    the schema of results.json."""
    if results_file:
        from tunevsprompt.runfolder.results import results_json_schema

        click.echo(json.dumps(results_json_schema(), indent=2))
        return
    from tunevsprompt.suite.schema import suite_json_schema

    click.echo(json.dumps(suite_json_schema(), indent=2))
