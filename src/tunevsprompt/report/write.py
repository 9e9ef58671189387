"""Every report of a run folder, from results.json (typed: ``runfolder.results.Results``) and
samples.jsonl alone: report.md and report.html with their charts, summary.csv, samples.csv,
costs.xlsx, and for runs with explanations their tables (``explain_tables``). Each file is
written atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunevsprompt.runfolder.results import Results, write_results
from tunevsprompt.runfolder.store import write_dir_atomic, write_file_atomic, write_text_atomic

if TYPE_CHECKING:
    from tunevsprompt.decide.analyse import Policy

CHARTS_DIR = "charts"
SEED_SAMPLES = "seed_samples.jsonl"
REPORT_FILES = ("report.md", "report.html", "summary.csv", "samples.csv", "costs.xlsx")


def write_reports(
    run_dir: Path, results: Results, samples: Sequence[Mapping[str, Any]]
) -> list[Path]:
    """Render every report into ``run_dir``; returns the files written."""
    from tunevsprompt.report.charts import render_charts
    from tunevsprompt.report.explain_tables import write_explanation_csvs
    from tunevsprompt.report.html import render_html
    from tunevsprompt.report.markdown import render_markdown
    from tunevsprompt.report.spreadsheet import write_costs_xlsx
    from tunevsprompt.report.tables import write_samples_csv, write_summary_csv

    rows = [dict(row) for row in samples]
    charts = render_charts(results)
    chart_files = {name: f"{CHARTS_DIR}/{name}.svg" for name in charts}

    def fill(staging: Path) -> None:
        for name, svg in charts.items():
            (staging / f"{name}.svg").write_text(svg, encoding="utf-8")

    write_dir_atomic(run_dir / CHARTS_DIR, fill)
    written = [run_dir / relative for relative in chart_files.values()]
    write_text_atomic(run_dir / "report.md", render_markdown(results, chart_files))
    write_text_atomic(run_dir / "report.html", render_html(results, rows, charts))
    write_file_atomic(run_dir / "summary.csv", lambda p: write_summary_csv(p, results))
    write_file_atomic(run_dir / "samples.csv", lambda p: write_samples_csv(p, rows))
    write_file_atomic(run_dir / "costs.xlsx", lambda p: write_costs_xlsx(p, results))
    tables = write_explanation_csvs(run_dir, results)
    return [*written, *(run_dir / name for name in REPORT_FILES), *tables]


def refresh_run(run_dir: Path, policy: Policy | None = None) -> Results:
    """Recompute the decision (comparisons, costs, recommendation) from the run folder's
    measurements, under the run's own policy or a new one, and rewrite results.json (through
    the model) and every report."""
    from tunevsprompt.decide import analyse
    from tunevsprompt.runfolder.read import load_results_dict, read_samples

    measured = load_results_dict(run_dir)
    samples = read_samples(run_dir)
    seed_samples = read_samples(run_dir, SEED_SAMPLES)
    decided = analyse.decide(
        measured, samples, policy or analyse.Policy.from_results(measured), seed_samples
    )
    results = write_results(run_dir / "results.json", decided)
    write_reports(run_dir, results, samples)
    return results
