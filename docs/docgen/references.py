"""The three generated references, as markdown: suite file, command line, run folder."""

from __future__ import annotations

from docgen.cli_md import cli_markdown
from docgen.schema_md import schema_markdown


def suite_reference() -> str:
    """Every key of the suite file, from the JSON schema `tvp schema` prints."""
    from tunevsprompt.suite.schema import suite_json_schema

    return schema_markdown(suite_json_schema(), "suite")


def cli_reference() -> str:
    """Every command, argument and option of `tvp`, from the click commands."""
    from tunevsprompt.cli import main

    return cli_markdown(main, "tvp")


def results_reference() -> str:
    """Every key of results.json, from the typed results model."""
    from tunevsprompt.runfolder.results import results_json_schema

    return schema_markdown(results_json_schema(), "results")


GENERATORS = {
    "suite-reference": suite_reference,
    "cli-reference": cli_reference,
    "results-reference": results_reference,
}
