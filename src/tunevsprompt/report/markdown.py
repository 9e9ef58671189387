"""report.md from a results.json dict."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from jinja2 import Environment, StrictUndefined


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(figure: dict[str, Any] | None) -> str:
    if not figure:
        return "–"
    lo, hi = figure["ci95"]
    return f"{figure['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def render_markdown(results: dict[str, Any]) -> str:
    env = Environment(
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=_num, ci=_ci, pct=_pct)
    template = env.from_string(
        files("tunevsprompt.report").joinpath("templates/report.md.j2").read_text()
    )
    return template.render(r=results)
