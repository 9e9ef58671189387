"""The calibration charts: every arm's reliability diagram (accuracy against confidence per
bin, the diagonal being perfect calibration) and its risk–coverage curve (accuracy when it
answers only its most confident share)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunevsprompt.runfolder.results import Results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAMES = ("reliability", "risk_coverage")
TITLES = {
    "reliability": "Reliability: accuracy against confidence (the diagonal is calibrated)",
    "risk_coverage": "Accuracy when answering only the most confident share (95% CI)",
}


def calibration_chart_names(results: Results) -> list[str]:
    explained = results.explanations
    return list(NAMES) if explained is not None and explained.calibration else []


def draw_calibration(fig: Figure, results: Results, name: str, colours: dict[str, str]) -> bool:
    explained = results.explanations
    if explained is None or not explained.calibration:
        return False
    ax = fig.subplots()
    for arm, figures in explained.calibration.items():
        colour = colours.get(arm)
        if name == "reliability":
            bins = figures.reliability
            xs = [float(b.confidence) for b in bins]
            ys = [float(b.accuracy.value or 0.0) for b in bins]
            below = [
                y - float((b.accuracy.ci95 or [y, y])[0]) for y, b in zip(ys, bins, strict=True)
            ]
            above = [
                float((b.accuracy.ci95 or [y, y])[1]) - y for y, b in zip(ys, bins, strict=True)
            ]
            ax.errorbar(
                xs,
                ys,
                yerr=[below, above],
                marker="o",
                markersize=3,
                capsize=2,
                color=colour,
                label=f"{arm} ({figures.n} answers)",
            )
        else:
            points = figures.risk_coverage
            xs = [float(p.coverage) for p in points]
            ys = [float(p.accuracy.value or 0.0) for p in points]
            lows = [float((p.accuracy.ci95 or [0, 0])[0]) for p in points]
            highs = [float((p.accuracy.ci95 or [0, 0])[1]) for p in points]
            ax.plot(xs, ys, marker="o", markersize=3, color=colour, label=arm)
            ax.fill_between(xs, lows, highs, color=colour, alpha=0.12, linewidth=0)
    if name == "reliability":
        ax.plot([0, 1], [0, 1], color="#636363", linestyle=":", linewidth=1)
        ax.set_xlabel("confidence (mean in each bin)")
    else:
        ax.set_xlabel("coverage (share of test examples answered)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize=7, loc="lower right" if name == "reliability" else "best")
    return True
