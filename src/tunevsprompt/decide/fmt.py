"""Figures as they appear in sentences, reports and gate messages."""

from __future__ import annotations

import math

MISSING = "–"


def num(value: float | None, digits: int = 3) -> str:
    """0.812, 1,402, 3.2e-05; trailing zeros dropped."""
    if value is None:
        return MISSING
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.2g}"
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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
