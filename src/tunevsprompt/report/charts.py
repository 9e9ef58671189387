"""The report's charts as SVG text, drawn from the typed results alone. A chart whose data the run
folder lacks is left out. Output is deterministic: same results, same bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from tunevsprompt.decide import fmt
from tunevsprompt.report.calibration_chart import TITLES as CALIBRATION_TITLES
from tunevsprompt.report.calibration_chart import calibration_chart_names, draw_calibration
from tunevsprompt.report.confusion_chart import PREFIX as CONFUSION_PREFIX
from tunevsprompt.report.confusion_chart import (
    confusion_chart_names,
    confusion_chart_title,
    draw_confusions,
)
from tunevsprompt.report.search_chart import PREFIX as SEARCH_PREFIX
from tunevsprompt.report.search_chart import draw_search, search_chart_names, search_chart_title
from tunevsprompt.report.view import (
    arm_colours,
    arm_names,
    break_even,
    decision_volume,
    monthly_cost,
    pricing_policy,
    quality,
)
from tunevsprompt.runfolder.results import Results
from tunevsprompt.runfolder.results.forgetting import ArmProbe

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Every chart the reports know, in the order they are shown, with its caption.
CHART_TITLES = {
    "quality": "Quality per arm (95% CI)",
    "quality_vs_cost": "Quality against monthly cost at the decision volume",
    "cost_vs_volume": "Monthly cost against monthly requests",
    "latency": "Latency per request (batch size 1)",
    "forgetting": "Forgetting: change on the probes after tuning (95% CI)",
    "learning_curves": "Learning curves",
}
RC: dict[Any, Any] = {
    "svg.hashsalt": "tunevsprompt",  # clip-path and marker ids from content, not random
    "svg.fonttype": "none",  # text stays text: small, searchable, selectable
    "text.parse_math": False,  # an arm called "a$b" is a name, not mathtext
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}

P95_STYLE: dict[str, Any] = {"alpha": 0.45, "hatch": "//", "edgecolor": "white"}
Drawer = Callable[["Figure", Results, dict[str, str]], bool]


def chart_title(name: str) -> str:
    """The caption of a chart, by its name."""
    if name.startswith(SEARCH_PREFIX):
        return search_chart_title(name)
    if name.startswith(CONFUSION_PREFIX):
        return confusion_chart_title(name)
    if name in CALIBRATION_TITLES:
        return CALIBRATION_TITLES[name]
    return CHART_TITLES.get(name, name)


def render_charts(results: Results) -> dict[str, str]:
    """{chart name: SVG text} for each chart in CHART_TITLES whose data exists, then one per
    prompt search, then the confusion heatmaps and the calibration charts."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawers: dict[str, Drawer] = {
        "quality": _quality,
        "quality_vs_cost": _quality_vs_cost,
        "cost_vs_volume": _cost_vs_volume,
        "latency": _latency,
        "forgetting": _forgetting,
        "learning_curves": _learning_curves,
    }
    for name in search_chart_names(results):
        drawers[name] = partial(_search, name=name)
    for name in confusion_chart_names(results):
        drawers[name] = partial(_confusions, name=name)
    for name in calibration_chart_names(results):
        drawers[name] = partial(_calibration, name=name)
    colours = arm_colours(results)
    charts: dict[str, str] = {}
    with matplotlib.rc_context(RC):
        for name, draw in drawers.items():
            # A bare Figure on an Agg canvas, not pyplot: no global backend switch and no
            # figure registry, so nothing leaks between calls or into the caller's plots.
            fig = Figure(figsize=(7.0, 3.6), layout="constrained")
            FigureCanvasAgg(fig)
            try:
                if draw(fig, results, colours):
                    buffer = io.StringIO()
                    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
                    charts[name] = buffer.getvalue()
            finally:
                fig.clear()
    return charts


def _search(fig: Figure, results: Results, colours: dict[str, str], name: str) -> bool:
    return draw_search(fig, results, name)


def _confusions(fig: Figure, results: Results, colours: dict[str, str], name: str) -> bool:
    return draw_confusions(fig, results, name)


def _calibration(fig: Figure, results: Results, colours: dict[str, str], name: str) -> bool:
    return draw_calibration(fig, results, name, colours)


def _arm_axis(ax: Axes, names: list[str]) -> None:
    ax.set_xticks(range(len(names)), names, rotation=20 if len(names) > 4 else 0)
    ax.grid(axis="x", visible=False)


def _err(value: float, ci: tuple[float, float] | None) -> list[list[float]] | None:
    # A percentile CI need not contain its point figure (macro-F1 often does not): clamp.
    return [[max(0.0, value - ci[0])], [max(0.0, ci[1] - value)]] if ci else None


def _metric(results: Results) -> str:
    return (results.task.primary_metric if results.task else None) or "quality"


def _log_scale(ax: Axes, which: str, unit: str) -> None:
    """Log axis with plain tick labels (1k, $0.01): mathtext is off, see RC."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def label(value: float, _pos: object) -> str:
        if unit == "$":
            return f"${value:g}" if value < 1000 else f"${value:,.0f}"
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if value >= scale:
                return f"{value / scale:g}{suffix}"
        return f"{value:g}"

    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(NullFormatter())


def _quality(fig: Figure, results: Results, colours: dict[str, str]) -> bool:
    arms = results.arms
    points = {n: q for n in arm_names(results) if (q := quality(arms[n].quality))}
    if not points:
        return False
    ax = fig.subplots()
    names = list(points)
    for i, name in enumerate(names):
        value, ci = points[name]
        ax.bar(i, value, color=colours[name], width=0.6)
        ax.errorbar(i, value, yerr=_err(value, ci), color="black", capsize=5, linewidth=1.2)
        top = (i, ci[1] if ci else value)
        ax.annotate(f"{value:.3f}", top, xytext=(0, 4), textcoords="offset points", ha="center")
    _arm_axis(ax, names)
    ax.set_ylabel(f"{_metric(results)} (95% CI)")
    ax.set_ylim(bottom=0)
    return True


def _quality_vs_cost(fig: Figure, results: Results, colours: dict[str, str]) -> bool:
    volume = decision_volume(results)
    arms = results.arms
    points: dict[str, tuple[float, float, tuple[float, float] | None]] = {}
    for name in arm_names(results):
        q = quality(arms[name].quality)
        cost = None if volume is None else monthly_cost(results, name, volume)
        if q is not None and cost is not None:
            points[name] = (cost, q[0], q[1])
    if not points or volume is None:
        return False
    ax = fig.subplots()
    for name, (cost, value, ci) in points.items():
        err = _err(value, ci)
        ax.errorbar(cost, value, yerr=err, fmt="o", color=colours[name], markersize=8, capsize=4)
        ax.annotate(name, (cost, value), xytext=(7, 5), textcoords="offset points")
    # Pareto frontier: no other arm is both cheaper (or as cheap) and better.
    frontier, best = [], float("-inf")
    for cost, value, _ in sorted(points.values(), key=lambda p: (p[0], -p[1])):
        if value > best:
            frontier.append((cost, value))
            best = value
    xs, ys = zip(*frontier, strict=True)
    label = "Pareto frontier: no arm is cheaper and better"
    ax.step(xs, ys, "o--", where="post", color="grey", lw=1, ms=15, mfc="none", label=label)
    costs = [p[0] for p in points.values()]
    if min(costs) > 0 and max(costs) / min(costs) > 30:
        _log_scale(ax, "x", "$")
    ax.set_xlabel(f"monthly cost, USD, at {volume:,.0f} requests/month")
    ax.set_ylabel(f"{_metric(results)} (95% CI)")
    ax.margins(x=0.15, y=0.15)
    ax.legend(loc="lower right", frameon=False)
    return True


def _cost_vs_volume(fig: Figure, results: Results, colours: dict[str, str]) -> bool:
    import numpy as np

    names = [n for n in arm_names(results) if monthly_cost(results, n, 1.0) is not None]
    if not names:
        return False
    marks = [float(v) for v in pricing_policy(results).monthly_requests or []]
    evens = [
        b
        for b in break_even(results)
        if b["volume"] and b["volume"] > 0 and b["cheaper_below"] in names
    ]
    decision = decision_volume(results)
    anchors = [*marks, *(float(b["volume"]) for b in evens)]
    anchors += [decision] if decision else []
    lo, hi = (min(anchors) / 3, max(anchors) * 3) if anchors else (100.0, 1e7)
    if hi / lo < 100:
        lo, hi = lo / 10, hi * 10
    volumes = np.geomspace(lo, hi, 120)
    ax = fig.subplots()
    lines = {n: np.array([monthly_cost(results, n, float(v)) for v in volumes]) for n in names}
    for name, cost in lines.items():
        ax.plot(volumes, cost, color=colours[name], linewidth=2, label=name)
    _log_scale(ax, "x", "")
    if all(line.min() > 0 for line in lines.values()):
        _log_scale(ax, "y", "$")
    # Break-evens crowd together at low volumes: a marker each, named in the legend.
    for b, marker in zip(evens, "XPDs^v<>", strict=False):
        v = float(b["volume"])
        y = monthly_cost(results, b["cheaper_below"], v) or 0.0
        label = f"{b['pair']} break even at {fmt.volume(v)}"
        ax.plot([v], [y], marker, color="black", ms=7, label=label)
    if decision:
        ax.axvline(decision, color="grey", ls=":", lw=1, label=f"decision volume {decision:,.0f}")
    ax.set_xlabel("monthly requests (log scale)")
    ax.set_ylabel("monthly cost, USD")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return True


def _latency(fig: Figure, results: Results, colours: dict[str, str]) -> bool:
    from matplotlib.artist import Artist
    from matplotlib.patches import Patch

    measured: dict[str, tuple[float, float | None]] = {}
    for name in arm_names(results):
        latency = results.arms[name].latency_ms
        if latency is not None and latency.p50 is not None:
            measured[name] = (latency.p50, latency.p95)
    names = list(measured)
    if not names:
        return False
    ax = fig.subplots()
    for i, name in enumerate(names):
        p50, p95 = measured[name]
        ax.bar(i - 0.2, p50, width=0.4, color=colours[name])
        if p95 is not None:
            ax.bar(i + 0.2, p95, width=0.4, color=colours[name], **P95_STYLE)
    handles: list[Artist] = [
        Patch(color="grey", label="p50"),
        Patch(facecolor="grey", label="p95", **P95_STYLE),
    ]
    policy = results.policy
    bars = policy.decision if policy else None
    limit = bars.max_p95_ms if bars else None
    if limit is not None:
        line = ax.axhline(limit, color="#d62728", ls="--", lw=1, label=f"p95 limit {limit:,.0f} ms")
        handles.append(line)
    _arm_axis(ax, names)
    ax.set_ylabel("milliseconds")
    ax.legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return True


def _forgetting(fig: Figure, results: Results, colours: dict[str, str]) -> bool:
    probes: dict[str, dict[str, tuple[float, tuple[float, float] | None]]] = {}
    meta: dict[str, ArmProbe] = {}
    for name in arm_names(results):
        g = results.arms[name].forgetting
        if g is None or g.by_construction or not g.measured:
            continue
        for probe, x in (g.probes or {}).items():
            if x.delta is not None:
                probes.setdefault(probe, {})[name] = (float(x.delta), fmt.bounds(x.ci95))
                meta[probe] = x
    if not probes:
        return False
    axes = fig.subplots(1, len(probes), squeeze=False)[0]
    for ax, (probe, deltas) in zip(axes, probes.items(), strict=True):
        names = list(deltas)
        for i, name in enumerate(names):
            delta, ci = deltas[name]
            ax.errorbar(
                i,
                delta,
                yerr=_err(delta, ci),
                fmt="o",
                color=colours[name],
                markersize=7,
                capsize=5,
            )
        ax.axhline(0, color="black", linewidth=0.8)
        _arm_axis(ax, names)
        ax.set_xlim(-0.6, len(names) - 0.4)
        better = "higher" if meta[probe].higher_is_better else "lower"
        metric = meta[probe].metric
        ax.set_title(f"{probe}: {'' if metric is None else metric} ({better} is better)")
    axes[0].set_ylabel("after − base")
    return True


def _learning_curves(fig: Figure, results: Results, colours: dict[str, str]) -> bool:
    curves: dict[str, list[tuple[float, float, tuple[float, float] | None]]] = {}
    for name in arm_names(results):
        points = []
        for p in results.arms[name].learning_curve or []:
            q = quality(p.quality)
            if q is not None and p.train_size is not None:
                points.append((float(p.train_size), q[0], q[1]))
        if points:
            curves[name] = sorted(points, key=lambda p: p[0])
    if not curves:
        return False
    ax = fig.subplots()
    sizes = []
    for name, points in curves.items():
        xs = [p[0] for p in points]
        sizes += xs
        ax.plot(xs, [p[1] for p in points], marker="o", color=colours[name], label=name)
        bands = [(p[0], *p[2]) for p in points if p[2] is not None]
        if bands:
            x, low, high = zip(*bands, strict=True)
            ax.fill_between(x, low, high, color=colours[name], alpha=0.15)
    if min(sizes) > 0 and max(sizes) / min(sizes) >= 8:
        _log_scale(ax, "x", "")
    ax.set_xlabel("train examples")
    ax.set_ylabel(f"{_metric(results)} (95% CI band)")
    ax.legend(frameon=False)
    return True
