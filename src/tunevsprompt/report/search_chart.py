"""The prompt search's chart: every scoring step's dev mean against the model calls spent,
one colour per rung size (means on more examples are steadier), the chosen candidate's path
drawn as a line, and the budget as a rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunevsprompt.runfolder.results import Results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PREFIX = "prompt-search-"


def search_chart_names(results: Results) -> list[str]:
    """One chart per arm whose search recorded its trajectory."""
    return [
        PREFIX + name
        for name, arm in results.arms.items()
        if arm.search is not None and arm.search.trajectory
    ]


def search_chart_title(name: str) -> str:
    return f"Prompt search of {name.removeprefix(PREFIX)}: dev score against model calls"


def draw_search(fig: Figure, results: Results, name: str) -> bool:
    search = results.arms[name.removeprefix(PREFIX)].search
    if search is None or not search.trajectory:
        return False
    steps = [
        (float(s.calls), float(s.mean), int(s.n or 0), s.candidate)
        for s in search.trajectory
        if s.calls is not None and s.mean is not None
    ]
    if not steps:
        return False
    ax = fig.subplots()
    sizes = sorted({n for _, _, n, _ in steps})
    palette = ["#9ecae1", "#4292c6", "#08519c", "#08306b"]
    for i, n in enumerate(sizes):
        points = [(x, y) for x, y, size, _ in steps if size == n]
        colour = palette[min(i, len(palette) - 1)] if len(sizes) > 1 else palette[1]
        ax.scatter(
            [x for x, _ in points],
            [y for _, y in points],
            s=18,
            color=colour,
            label=f"on {n} dev examples",
            zorder=2,
        )
    chosen = [(x, y) for x, y, _, key in steps if key == search.chosen]
    if chosen:
        ax.plot(
            [x for x, _ in chosen],
            [y for _, y in chosen],
            color="#d94801",
            marker="*",
            markersize=9,
            label="the chosen prompt",
            zorder=3,
        )
    budget = (search.budget or {}).get("model_calls")
    if budget:
        ax.axvline(float(budget), color="#636363", linestyle=":", linewidth=1)
        ax.annotate("budget", (float(budget), 1.0), xycoords=("data", "axes fraction"), ha="right")
    ax.set_xlabel("model calls spent (dev answers and proposer requests)")
    ax.set_ylabel(f"dev {search.metric or 'score'} (mean)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return True
