"""report.md from the typed results: GitHub-flavoured, readable as plain text."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from jinja2 import Environment, StrictUndefined

from tunevsprompt.decide import fmt
from tunevsprompt.report import view
from tunevsprompt.report.explain_view import explanation_view
from tunevsprompt.runfolder.results import Results


def _cell(value: Any) -> str:
    """Text from the data made safe inside a table cell: a `|` would end the cell and a
    newline the row."""
    text = fmt.text(value)
    return " ".join(text.replace("|", "\\|").split())


def render_markdown(results: Results, chart_files: Mapping[str, str] | None = None) -> str:
    """The report; ``chart_files`` maps chart name to its path relative to report.md, and
    the charts named there are linked as images."""
    from tunevsprompt.report.charts import CHART_TITLES, chart_title

    env = Environment(
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(view.FILTERS, cell=_cell)
    template = env.from_string(
        files("tunevsprompt.report").joinpath("templates/report.md.j2").read_text()
    )
    charts = chart_files or {}
    ordered = [n for n in CHART_TITLES if n in charts] + [
        n for n in charts if n not in CHART_TITLES
    ]
    summary = view.arm_summary(results)
    decision = view.decision_volume(results)
    volumes = sorted({v for row in summary for v in row["by_volume"]}, key=float)
    return template.render(
        r=results,
        rec=view.recommendation(results),
        summary=summary,
        hosted=view.hosted_rows(results),
        sweeps=view.sweep_rows(results),
        searches=view.prompt_searches(results),
        decision_volume=decision,
        comparisons=view.comparisons(results),
        break_even=view.break_even(results),
        pricing=view.pricing(results),
        volumes=[v for v in volumes if decision is None or float(v) != decision],
        charts=[(n, chart_title(n), charts[n]) for n in ordered],
        explained=explanation_view(results, set()),
    )
