"""per_class.csv, confusions.csv, disagreements.csv, calibration.csv, risk_coverage.csv,
slices.csv and abstention.csv: results.json's ``explanations`` as tidy tables (one row per
arm × label, per arm × confused pair, per rival × discordant example (the first 100 per
cell), per calibrated arm, per calibrated arm × coverage, per slice value × arm, per
abstaining arm × figure), written only for runs that have explanations (a table with
nothing to hold is its header alone)."""

from __future__ import annotations

import functools
from pathlib import Path

from tunevsprompt.report.tables import write_rows
from tunevsprompt.runfolder.results import Results
from tunevsprompt.runfolder.results.explanations import Explanations
from tunevsprompt.runfolder.results.figures import Figure

EXPLANATION_FILES = (
    "per_class.csv",
    "confusions.csv",
    "disagreements.csv",
    "calibration.csv",
    "risk_coverage.csv",
    "slices.csv",
    "abstention.csv",
)


def _figure(prefix: str, figure: Figure) -> dict[str, object]:
    low, high = figure.ci95 if figure.ci95 is not None else (None, None)
    return {prefix: figure.value, f"{prefix}_ci_low": low, f"{prefix}_ci_high": high}


def write_explanation_csvs(run_dir: Path, results: Results) -> list[Path]:
    """The tables, or nothing (and older copies removed) without explanations."""
    from tunevsprompt.runfolder.store import write_file_atomic

    explained = results.explanations
    paths = [run_dir / name for name in EXPLANATION_FILES]
    if explained is None:
        for path in paths:
            path.unlink(missing_ok=True)
        return []
    for path, (columns, rows) in zip(paths, _tables(explained), strict=True):
        write_file_atomic(path, functools.partial(_write, columns=columns, rows=rows))
    return paths


def _write(path: Path, columns: list[str], rows: list[dict[str, object]]) -> None:
    write_rows(path, columns, rows)


def _tables(
    explained: Explanations,
) -> list[tuple[list[str], list[dict[str, object]]]]:
    per_class: list[dict[str, object]] = [
        {
            "arm": arm,
            "label": c.label,
            "support": c.support,
            "predicted": c.predicted,
            "correct": c.correct,
            **_figure("precision", c.precision),
            **_figure("recall", c.recall),
            **_figure("f1", c.f1),
        }
        for arm, rows in explained.per_class.items()
        for c in rows
    ]
    confusions: list[dict[str, object]] = [
        {"arm": arm, "target": c.target, "answered": c.answered, "count": c.count}
        | _figure("share", c.share)
        for arm, rows in explained.confusions.items()
        for c in rows
    ]
    disagreements: list[dict[str, object]] = [
        {"anchor": explained.anchor, "rival": d.rival, "id": ident, "right": who}
        for d in explained.disagreements
        for who, ids in (("anchor only", d.anchor_only_ids), ("rival only", d.rival_only_ids))
        for ident in ids
    ]
    calibrated = explained.calibration or {}
    calibration: list[dict[str, object]] = [
        {
            "arm": arm,
            "n": c.n,
            "mean_confidence": c.mean_confidence,
            "accuracy": c.accuracy,
            **_figure("ece", c.ece),
            **_figure("brier", c.brier),
            "accuracy_coverage_area": c.accuracy_coverage_area,
        }
        for arm, c in calibrated.items()
    ]
    coverage: list[dict[str, object]] = [
        {
            "arm": arm,
            "coverage": point.coverage,
            "answered": point.answered,
            "threshold": point.threshold,
            **_figure("accuracy", point.accuracy),
        }
        for arm, c in calibrated.items()
        for point in c.risk_coverage
    ]
    sliced: list[dict[str, object]] = [
        {"field": field, "value": v.value, "arm": arm, "n": figure.n, **_figure("quality", figure)}
        for field, s in (explained.slices or {}).items()
        for v in s.values
        for arm, figure in v.arms.items()
    ]
    abstaining: list[dict[str, object]] = [
        {
            "arm": arm,
            "threshold": a.threshold,
            "figure": key,
            **_figure("as_answered", getattr(a.as_answered, key)),
            **_figure("abstaining", getattr(a.abstaining, key)),
        }
        for arm, a in (explained.abstention or {}).items()
        for key in (
            "out_of_scope_recall",
            "in_scope_accuracy",
            "accuracy",
            "answered_out_of_scope",
        )
    ]
    return [
        (list(per_class[0]) if per_class else ["arm", "label"], per_class),
        (list(confusions[0]) if confusions else ["arm", "target"], confusions),
        (["anchor", "rival", "id", "right"], disagreements),
        (list(calibration[0]) if calibration else ["arm", "ece"], calibration),
        (list(coverage[0]) if coverage else ["arm", "coverage"], coverage),
        (list(sliced[0]) if sliced else ["field", "value", "arm"], sliced),
        (list(abstaining[0]) if abstaining else ["arm", "threshold"], abstaining),
    ]
