"""Figures as they appear in sentences, reports and gate messages."""

from __future__ import annotations


def num(value: float | None, digits: int = 3) -> str:
    """0.812, 1,402, 3.2e-05; trailing zeros dropped."""
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.2g}"
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(value: float | None) -> str:
    """$0.0042, $12.50, $1,234."""
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"${value:,.0f}"
    if value != 0 and abs(value) < 0.01:
        return f"${value:.2g}"
    return f"${value:,.2f}"


def volume(requests: float) -> str:
    """12,000 or 1.2M requests."""
    if requests >= 10_000_000:
        return f"{requests / 1e6:,.0f}M"
    if requests >= 1_000_000:
        return f"{requests / 1e6:.1f}M"
    return f"{requests:,.0f}"
