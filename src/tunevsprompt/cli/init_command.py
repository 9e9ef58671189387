"""`tvp init DATA`: a commented suite for a data file, a folder of them or a saved dataset;
asks about what it inferred on a terminal, takes its inferences in scripts (or with --yes)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tunevsprompt.cli.guard import run_guarded


class TerminalAsker:
    def choose(self, question: str, choices: list[str], default: str) -> str:
        answer: str = click.prompt(question, type=click.Choice(choices), default=default)
        return answer

    def confirm(self, question: str, default: bool) -> bool:
        return click.confirm(question, default=default)

    def say(self, text: str) -> None:
        click.echo(text)


class DefaultsAsker(TerminalAsker):
    """Every question answered with its default, each answer printed."""

    def choose(self, question: str, choices: list[str], default: str) -> str:
        click.echo(f"{question}: {default}")
        return default

    def confirm(self, question: str, default: bool) -> bool:
        click.echo(f"{question} {'yes' if default else 'no'}")
        return default


@click.command("init")
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Suite file to write (default: suite.yaml beside the data; the data must lie in "
    "its folder or below).",
)
@click.option("--input-field", help="The field the model reads (default: inferred).")
@click.option("--target-field", help="The field holding the answer (default: inferred).")
@click.option(
    "--task",
    "task_type",
    type=click.Choice(["classification", "generation"]),
    help="Default: classification when the target has few distinct short values.",
)
@click.option("--name", help="The suite's name (default: from the file name).")
@click.option("--instruction", help="What the model is asked to do, in plain words.")
@click.option(
    "--gpu/--cpu",
    default=None,
    help="Write arms and sizes for a GPU or for CPU (default: what this machine has).",
)
@click.option(
    "--yes", "-y", is_flag=True, help="Take every inferred answer without asking (scripts)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing suite file.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def init(
    data: Path,
    out: Path | None,
    input_field: str | None,
    target_field: str | None,
    task_type: str | None,
    name: str | None,
    instruction: str | None,
    gpu: bool | None,
    yes: bool,
    force: bool,
    debug: bool,
) -> None:
    """Write a commented suite for DATA (a .csv, .jsonl, .json or .parquet file, a folder of
    them named by split, or a saved Hugging Face dataset), then validate it."""
    from tunevsprompt.scaffold.create import InitRequest, create_suite

    interactive = sys.stdin.isatty() and not yes
    asker = TerminalAsker() if interactive else DefaultsAsker()
    request = InitRequest(
        data, out, input_field, target_field, task_type, name, instruction, gpu, force
    )

    def action() -> None:
        written = create_suite(request, asker)
        click.echo(f"wrote {written} (valid). Next: tvp compare {written} --dry-run")

    run_guarded(debug, action)
