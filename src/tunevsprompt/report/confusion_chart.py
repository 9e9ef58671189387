"""The confusion heatmaps: for the anchor arm and the best arm, each true label's row of
answers as shares of its test examples (so a small class is as visible as a large one),
with the "no label" answers in the last column."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunevsprompt.runfolder.results import Results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PREFIX = "confusion-"
NO_LABEL = "(no label)"


def confusion_chart_names(results: Results) -> list[str]:
    explained = results.explanations
    if explained is None or not explained.matrices:
        return []
    return [PREFIX + arm for arm in explained.matrices]


def confusion_chart_title(name: str) -> str:
    return f"Confusions of {name.removeprefix(PREFIX)}: answers as shares of each true label"


def draw_confusions(fig: Figure, results: Results, name: str) -> bool:
    import numpy as np

    explained = results.explanations
    arm = name.removeprefix(PREFIX)
    if explained is None or not explained.matrices or arm not in explained.matrices:
        return False
    counts = np.array(explained.matrices[arm], dtype=float)
    labels = list(explained.labels or [])
    held = counts.sum(axis=1) > 0
    if not held.any() or counts.shape[0] != len(labels):
        return False
    rows = counts[held]
    shares = rows / rows.sum(axis=1, keepdims=True)
    row_labels = [label for label, keep in zip(labels, held, strict=True) if keep]
    columns = [*labels, NO_LABEL]
    size = min(11.0, max(4.5, 0.13 * len(columns) + 2.5))
    fig.set_size_inches(size, size * len(row_labels) / len(columns) + 1.2)
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="none")
    fontsize = 8 if len(columns) <= 20 else 5
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=fontsize)
    ax.set_xlabel("answered")
    ax.set_ylabel("true label")
    fig.colorbar(image, ax=ax, shrink=0.6, label="share of the true label's examples")
    return True
