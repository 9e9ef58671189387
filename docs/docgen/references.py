"""The three generated references, as markdown: suite file, command line, run folder."""

from __future__ import annotations

import importlib

from docgen.cli_md import cli_markdown
from docgen.schema_md import schema_markdown

RESULTS_MODULE = "tunevsprompt.runfolder.results"


def suite_reference() -> str:
    """Every key of the suite file, from the JSON schema `tvp schema` prints."""
    from tunevsprompt.suite.schema import suite_json_schema

    return schema_markdown(suite_json_schema(), "suite")


def cli_reference() -> str:
    """Every command, argument and option of `tvp`, from the click commands."""
    from tunevsprompt.cli import main

    return cli_markdown(main, "tvp")


def results_reference() -> str:
    """Every key of results.json, from the typed results model, when the package has one."""
    try:
        module = importlib.import_module(RESULTS_MODULE)
    except ModuleNotFoundError as error:
        if error.name not in (RESULTS_MODULE, RESULTS_MODULE.rpartition(".")[0]):
            raise
        return (
            '!!! note "Generated from the results model"\n\n'
            f"    This reference is generated from the typed results model "
            f"(`{RESULTS_MODULE}.results_json_schema()`). The package this site was built "
            "from has no such module yet, so the contract above is the reference.\n"
        )
    return schema_markdown(module.results_json_schema(), "results")


GENERATORS = {
    "suite-reference": suite_reference,
    "cli-reference": cli_reference,
    "results-reference": results_reference,
}
