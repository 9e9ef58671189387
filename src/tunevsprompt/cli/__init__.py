"""The `tvp` command. Parses, delegates to the library, maps errors to exit codes:
0 ok, 1 gate failed, 2 bad suite or usage, 3 runtime failure. One module per group of
commands; this one only assembles them."""

from __future__ import annotations

import click

from tunevsprompt import __version__
from tunevsprompt.cli.compare import compare
from tunevsprompt.cli.init_command import init
from tunevsprompt.cli.run_folder_commands import export, gate, plan, report
from tunevsprompt.cli.suite_commands import schema, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tvp")
def main() -> None:
    """Prompt it, retrieve for it, or fine-tune it? Measure the arms, then decide."""


for command in (init, validate, schema, compare, report, plan, export, gate):
    main.add_command(command)
