"""Progress and summaries: rich when attached to a terminal, plain lines in CI and pipes."""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tunevsprompt.decide.fmt import usd

PLAIN_WIDTH = 100
"""Columns of plain output (CI logs, pipes): every line fits."""


def use_plain_output() -> bool:
    return bool(os.environ.get("CI")) or not sys.stderr.isatty()


def _ci_text(figure: dict[str, Any]) -> str:
    lo, hi = figure["ci95"]
    return f"{figure['value']:.3f} [{lo:.3f}, {hi:.3f}]"


class ConsoleObserver:
    """RunObserver that prints progress to stderr."""

    def __init__(self, plain: bool | None = None):
        self.plain = use_plain_output() if plain is None else plain
        width = PLAIN_WIDTH if self.plain else None
        self.console = Console(
            stderr=True,
            highlight=False,
            markup=False,
            width=width,
            color_system=None if self.plain else "auto",
        )
        self._progress: Progress | None = None
        self._bars: dict[str, Any] = {}
        self._counts: dict[str, list[int]] = {}
        self._eta: RunClock | None = None
        self._overall: Any = None

    def expect(self, seconds_by_arm: dict[str, float], fixed_s: float) -> None:
        """The plan's estimate per arm: from now on progress shows the time left for the
        whole run, rescaled by how the finished arms compared with their estimates."""
        self._eta = RunClock(dict(seconds_by_arm), fixed_s)

    def message(self, text: str) -> None:
        self.console.print(text)

    def unit_started(self, unit: str, total: int) -> None:
        """One bar per running unit (several at once on a cluster); restarts a retried one."""
        self._counts[unit] = [0, total]
        if self._eta is not None:
            self._eta.begin()
        if self.plain:
            self.console.print(f"[{unit}] started: {total} examples")
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        if unit in self._bars:
            self._progress.reset(self._bars[unit], total=total)
        else:
            self._bars[unit] = self._progress.add_task(unit, total=total)
        if self._eta is not None and self._overall is None:
            self._overall = self._progress.add_task(self._eta.text(), total=None)

    def advanced(self, unit: str, count: int) -> None:
        counts = self._counts.setdefault(unit, [0, 0])
        counts[0] += count
        done, total = counts
        if self._progress is not None and unit in self._bars:
            self._progress.advance(self._bars[unit], count)
            if self._overall is not None and self._eta is not None:
                self._progress.update(self._overall, description=self._eta.text())
        elif self.plain and (done == total or done % max(total // 10, 1) < count):
            self.console.print(f"[{unit}] {done}/{total}")

    def unit_finished(self, unit: str, reused: bool) -> None:
        self._counts.pop(unit, None)
        bar = self._bars.pop(unit, None)
        if self._progress is not None and bar is not None:
            self._progress.remove_task(bar)
        if self._progress is not None and not self._bars:
            self._progress.stop()
            self._progress = None
            self._overall = None

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
        if self._eta is not None:
            self._eta.finished(name)
        latency = record.get("latency_ms") or {}
        how = "reused from this run folder" if reused else "done"
        training = record.get("training")
        trained = ""
        if training:
            verb = "reused adapter" if training.get("reused") else "trained"
            trained = f", {verb}: {training['steps']} steps in {training['wall_s']:.0f} s"
        self.console.print(
            f"[{name}] {how}: {record['quality']['metric']} {_ci_text(record['quality'])}, "
            f"p50 {_ms(latency.get('p50'))} ms, {record.get('throughput_eps')} ex/s{trained}"
            f"{_retrieval_text(record.get('retrieval'))}{_forgetting_text(record.get('forgetting'))}",
            markup=False,
        )
        integrity = record.get("integrity")
        if integrity and not integrity.get("ok"):
            self.console.print(
                f"[{name}] INTEGRITY CHECK FAILED: only {integrity['changed_fraction']:.0%} "
                "of outputs differ from the base model's",
                style=None if self.plain else "bold red",
                markup=False,
            )
        if self._eta is not None and self.plain and len(self._eta.done) < len(self._eta.estimates):
            self.console.print(f"[overall] {self._eta.text()}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._bars.clear()
            self._overall = None


class RunClock:
    """Time left for the whole run: the estimates of the arms not finished yet, scaled by
    the median ratio of the finished arms' times to their estimates (so a machine slower
    than the calibration showed is noticed after the first arm, and one arm whose estimate
    is an upper bound, a prompt search's budget, does not shrink the rest), less the time
    the current arm has had so far, plus the fixed work at the end (the reports)."""

    def __init__(self, estimates: dict[str, float], fixed_s: float):
        self.estimates = estimates
        self.fixed_s = fixed_s
        self.start = self.last = time.monotonic()
        self.begun = False
        self.done: list[str] = []
        self.took: dict[str, float] = {}

    def begin(self) -> None:
        """The first arm starts: the clock counts from here."""
        if not self.begun:
            self.begun = True
            self.start = self.last = time.monotonic()

    def finished(self, name: str) -> None:
        now = time.monotonic()
        if name in self.estimates and name not in self.done:
            self.done.append(name)
            self.took[name] = now - self.last
        self.last = now  # an arm without an estimate has its time to itself too

    def scale(self) -> float:
        ratios = [self.took[n] / self.estimates[n] for n in self.done if self.estimates[n] >= 5]
        if not ratios:
            return 1.0
        return min(4.0, max(0.25, statistics.median(ratios)))

    def left(self) -> float:
        since = time.monotonic() - self.last
        todo = sum(s for n, s in self.estimates.items() if n not in self.done) * self.scale()
        if todo:
            return max(0.0, todo - since) + self.fixed_s
        return max(0.0, self.fixed_s - since)

    def text(self) -> str:
        from tunevsprompt.estimate.plan import duration

        total = len(self.estimates)
        elapsed = duration(time.monotonic() - self.start)
        return (
            f"{len(self.done)} of {total} estimated arms done in {elapsed}, "
            f"about {duration(self.left())} left"
        )


def _forgetting_text(forgetting: dict[str, Any] | None) -> str:
    """The headline forgetting figure of a probed arm (nothing for unchanged arms)."""
    if not forgetting or not forgetting.get("measured") or forgetting.get("delta") is None:
        return ""
    lo, hi = forgetting["ci95"]
    return (
        f", forgetting ({forgetting['primary']} {forgetting['metric']}): "
        f"{forgetting['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}] {forgetting['change']}"
    )


def _retrieval_text(retrieval: dict[str, Any] | None) -> str:
    if not retrieval:
        return ""
    index = "index reused" if retrieval.get("index_reused") else "index built"
    text = f", retrieval: {retrieval['corpus_chunks']} chunks ({retrieval['index_type']}, {index})"
    if retrieval.get("hit_at_k") is not None:
        text += (
            f", hit@{retrieval['top_k']} {retrieval['hit_at_k']:.2f}, MRR {retrieval['mrr']:.2f}"
        )
    return text


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def summary_table(results: dict[str, Any]) -> Table:
    table = Table(title=f"{results['suite']} ({results['run_id']})")
    for column in (
        "arm",
        "type",
        "n",
        results["task"]["primary_metric"] + " [95% CI]",
        "p50 ms",
        "p95 ms",
        "ex/s",
        "tok in/out",
        "parse fail",
        "failed req",
        "$/1k req",
        "$/month",
        "verdict",
    ):
        table.add_column(column)
    verdicts = (results.get("recommendation") or {}).get("verdicts") or {}
    for name, arm in results["arms"].items():
        latency = arm.get("latency_ms") or {}
        cost = arm.get("cost") or {}
        table.add_row(
            name,
            arm["type"],
            str(arm["n"]),
            _ci_text(arm["quality"]),
            _ms(latency.get("p50")),
            _ms(latency.get("p95")),
            f"{arm['throughput_eps']:.2f}" if arm.get("throughput_eps") else "–",
            f"{arm['tokens']['input_mean']:.0f}/{arm['tokens']['output_mean']:.1f}",
            f"{100 * arm['parse_failure_rate']:.1f}%",
            f"{100 * arm['error_rate']:.1f}%" if arm.get("error_rate") is not None else "–",
            usd(cost.get("per_1k_requests_usd")),
            usd(cost.get("monthly_usd")),
            verdicts.get(name, "–"),
        )
    return table


def recommendation_text(results: dict[str, Any]) -> Text:
    """The recommendation and its reasons, for the end of `tvp compare`: the headline in bold
    on a terminal, plain text in plain mode (no markup is ever printed raw)."""
    recommendation = results.get("recommendation")
    if not recommendation:
        return Text()
    chosen = recommendation.get("arm")
    if chosen:
        headline, tail = f"Recommendation: {chosen}", ""
    elif recommendation.get("status") == "undecided":
        headline = "No arm recommended yet"
        tail = f" ({recommendation.get('leading')} leads; see why)"
    else:
        headline, tail = "No arm recommended", ""
    lines = [
        *(f"  ! {warning}" for warning in recommendation.get("warnings") or []),
        *(f"  - {reason}" for reason in recommendation.get("reasons", [])),
    ]
    flips = recommendation.get("flip_conditions") or []
    if flips:
        lines.append("  Would change if:")
        lines.extend(f"  - {flip}" for flip in flips)
    text = Text()
    text.append(headline, style="bold")
    text.append(tail)
    for line in lines:
        text.append("\n" + line)
    return text


PLAIN_COLUMNS = ("arm", "n", "{metric} [95% CI]", "p50 ms", "p95 ms", "$/month", "verdict")
"""The plain summary's columns; the rest (throughput, tokens, failures, $/1k requests) are
in summary.csv and the reports."""


def plain_summary(results: dict[str, Any], width: int = PLAIN_WIDTH) -> str:
    """The summary as aligned plain text within ``width`` columns (long arm names are cut
    with an ellipsis; the reports have them whole)."""
    verdicts = (results.get("recommendation") or {}).get("verdicts") or {}
    metric = results["task"]["primary_metric"]
    header = [c.format(metric=metric) for c in PLAIN_COLUMNS]
    rows = []
    for name, arm in results["arms"].items():
        latency = arm.get("latency_ms") or {}
        rows.append(
            [
                name,
                str(arm["n"]),
                _ci_text(arm["quality"]),
                _ms(latency.get("p50")),
                _ms(latency.get("p95")),
                usd((arm.get("cost") or {}).get("monthly_usd")),
                verdicts.get(name, "–"),
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    others = sum(widths[1:]) + 2 * (len(widths) - 1)
    widths[0] = max(8, min(widths[0], width - others))
    lines = [f"{results['suite']} ({results['run_id']})"[:width]]
    for row in [header, *rows]:
        name = row[0] if len(row[0]) <= widths[0] else row[0][: widths[0] - 1] + "…"
        cells = [name.ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:-1], strict=True)]
        cells.append(row[-1].ljust(widths[-1]))
        lines.append("  ".join(cells).rstrip()[:width])
    return "\n".join(lines)


def print_summary(observer: ConsoleObserver, results: dict[str, Any]) -> None:
    """The run's table and recommendation: a rich table on a terminal, plain text that fits
    the plain width otherwise."""
    if observer.plain:
        observer.console.print(Text(plain_summary(results)))
    else:
        observer.console.print(summary_table(results))
    observer.console.print(recommendation_text(results))
