"""Holm's step-down correction for a family of p-values."""

from __future__ import annotations


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the given order (step-down, monotone, capped
    at 1)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
