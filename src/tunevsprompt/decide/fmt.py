"""How a figure is written, everywhere: in the decision's sentences (reasons, flip conditions,
checks, so gate messages too), in report.md and report.html (as template filters) and in the
reports' tables. One module, so a sentence and a table never print the same figure two ways;
where they differ on purpose, the caller says how (``trim``, ``digits``)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel

MISSING = "–"


class Estimate(Protocol):
    """A figure with its 95% interval (a quality figure, a metric, a dev score)."""

    @property
    def value(self) -> float | None: ...

    @property
    def ci95(self) -> list[float] | None: ...


def num(value: float | None, digits: int = 3, *, trim: bool = True) -> str:
    """A number. ``trim`` (sentences): 0.812, 1,402, 3.2e-05, trailing zeros dropped.
    Without it (table cells, ``fixed``): a float to exactly ``digits`` decimals, an int as it
    is (154, 1402)."""
    if value is None:
        return MISSING
    if not trim:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.2g}"
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fixed(value: Any, digits: int = 3) -> str:
    """A table cell (the templates' ``fixed`` filter): ``num`` without trimming."""
    return num(value, digits, trim=False)


def usd(value: float | None) -> str:
    """Dollars with enough digits that a small figure does not read as $0.00: $0.00360,
    $0.0630, $12.50, $1,234."""
    if value is None:
        return MISSING
    v = float(value)
    if v == 0:
        return "$0"
    if abs(v) >= 100:
        return f"${v:,.0f}"
    if abs(v) >= 0.1:
        return f"${v:,.2f}"
    digits = min(6, 2 - math.floor(math.log10(abs(v))))
    return f"${v:,.{digits}f}"


def volume(requests: float | None) -> str:
    """Requests per month: 2.7, 12,000."""
    if requests is None:
        return MISSING
    v = float(requests)
    return f"{v:,.0f}" if v >= 10 or v.is_integer() else f"{v:.1f}"


def pct(value: float | None) -> str:
    """A share as a percentage: 12.5%."""
    return MISSING if value is None else f"{100 * value:.1f}%"


def pvalue(value: float | None) -> str:
    """0.042, or 1.6e-11 below 0.001."""
    if value is None:
        return MISSING
    v = float(value)
    return f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def signed(value: float | None, digits: int = 3) -> str:
    """A difference: +0.006, -0.279."""
    return MISSING if value is None else f"{float(value):+.{digits}f}"


def bounds(value: Sequence[float | None] | None) -> tuple[float, float] | None:
    """A [low, high] interval with both sides, else None."""
    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = value
        if low is not None and high is not None:
            return float(low), float(high)
    return None


def interval(value: Sequence[float | None] | None, digits: int = 3) -> str:
    """An interval of differences: [-0.065, +0.078]."""
    pair = bounds(value)
    return MISSING if pair is None else f"[{pair[0]:+.{digits}f}, {pair[1]:+.{digits}f}]"


def ci(value: float | None, ci95: Sequence[float | None] | None, digits: int = 3) -> str:
    """A figure with its interval: 0.292 [0.214, 0.364]."""
    if value is None:
        return MISSING
    pair = bounds(ci95)
    if pair is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


def estimate(figure: Estimate | None) -> str:
    """``ci`` of a figure record (quality, a metric, a sweep trial's dev score)."""
    return MISSING if figure is None else ci(figure.value, figure.ci95)


def text(value: Any) -> str:
    """Any JSON value as display text (inputs of multi-field tasks are objects)."""
    if value is None:
        return MISSING
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_unset=True)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
