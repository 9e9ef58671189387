"""The typed model of results.json (pydantic v2): written through it, validated on read, and
exported as JSON Schema, from which the run-folder reference is generated.

Modules, from the top: ``run`` (``Results``, the task, manifest and contamination), ``arm``
(an arm's record), ``figures`` (quality, latency, tokens), ``training`` (training, seeds,
learning curves, sweeps), ``retrieval`` (retrieval and embedding records), ``forgetting``,
``decision`` (costs, comparisons, break-even, recommendation, policy), ``base`` (the record
kinds and number types) and ``io`` (validating, dumping, error messages)."""

from __future__ import annotations

from typing import Any

from tunevsprompt.runfolder.results.arm import ArmRecord
from tunevsprompt.runfolder.results.io import (
    describe_errors,
    parse_results,
    results_dict,
    write_results,
)
from tunevsprompt.runfolder.results.run import Results
from tunevsprompt.runfolder.versions import RESULTS_SCHEMA_VERSION

__all__ = [
    "ArmRecord",
    "Results",
    "describe_errors",
    "parse_results",
    "results_dict",
    "results_json_schema",
    "write_results",
]


def results_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of results.json, every key described."""
    schema = Results.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"tunevsprompt results.json (schema_version {RESULTS_SCHEMA_VERSION})",
        **{k: v for k, v in schema.items() if k != "title"},
    }
