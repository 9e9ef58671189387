"""Progress and summaries: rich when attached to a terminal, plain lines in CI and pipes."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tunevsprompt.decide.fmt import usd


def use_plain_output() -> bool:
    return bool(os.environ.get("CI")) or not sys.stderr.isatty()


def _ci_text(figure: dict[str, Any]) -> str:
    lo, hi = figure["ci95"]
    return f"{figure['value']:.3f} [{lo:.3f}, {hi:.3f}]"


class ConsoleObserver:
    """RunObserver that prints progress to stderr."""

    def __init__(self, plain: bool | None = None):
        self.plain = use_plain_output() if plain is None else plain
        width = 140 if self.plain else None
        self.console = Console(
            stderr=True, highlight=False, markup=False, no_color=self.plain, width=width
        )
        self._progress: Progress | None = None
        self._bars: dict[str, Any] = {}
        self._counts: dict[str, list[int]] = {}

    def message(self, text: str) -> None:
        self.console.print(text)

    def unit_started(self, unit: str, total: int) -> None:
        """One bar per running unit (several at once on a cluster); restarts a retried one."""
        self._counts[unit] = [0, total]
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

    def advanced(self, unit: str, count: int) -> None:
        counts = self._counts.setdefault(unit, [0, 0])
        counts[0] += count
        done, total = counts
        if self._progress is not None and unit in self._bars:
            self._progress.advance(self._bars[unit], count)
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

    def arm_finished(self, name: str, record: dict[str, Any], reused: bool) -> None:
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

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._bars.clear()


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


def recommendation_text(results: dict[str, Any]) -> str:
    """The recommendation and its reasons, for the end of `tvp compare`."""
    recommendation = results.get("recommendation")
    if not recommendation:
        return ""
    chosen = recommendation.get("arm")
    if chosen:
        headline = f"[bold]Recommendation: {escape(chosen)}[/bold]"
    elif recommendation.get("status") == "undecided":
        leading = escape(str(recommendation.get("leading")))
        headline = f"[bold]No arm recommended yet[/bold] ({leading} leads; see why)"
    else:
        headline = "[bold]No arm recommended[/bold]"
    lines = [
        headline,
        *(f"  ! {escape(warning)}" for warning in recommendation.get("warnings") or []),
        *(f"  - {escape(reason)}" for reason in recommendation.get("reasons", [])),
    ]
    flips = recommendation.get("flip_conditions") or []
    if flips:
        lines.append("  Would change if:")
        lines.extend(f"  - {escape(flip)}" for flip in flips)
    return "\n".join(lines)
