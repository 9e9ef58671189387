"""report.html: one self-contained file (inline CSS and SVG, no network reference) from
results.json, samples.jsonl and the rendered charts. Inputs and model outputs are untrusted
text: the template autoescapes everything; only our own chart SVG is inserted as markup."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from tunevsprompt.report import view
from tunevsprompt.report.charts import CHART_TITLES

MAX_DISAGREEMENTS = 200
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(href="#|url\(#)([^")]+)')


def render_html(
    results: dict[str, Any], samples: Sequence[Mapping[str, Any]], charts: Mapping[str, str]
) -> str:
    """The whole report as one HTML document."""
    from jinja2 import Environment, StrictUndefined

    env = Environment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(view.FILTERS)
    source = files("tunevsprompt.report").joinpath("templates/report.html.j2").read_text()
    arms = view.arm_names(results)
    examples, total = disagreements(arms, samples, MAX_DISAGREEMENTS)
    return env.from_string(source).render(
        header=header(results),
        rec=view.recommendation(results),
        arms=arms,
        colours=view.arm_colours(results),
        summary=view.arm_summary(results),
        hosted=view.hosted_rows(results),
        sweeps=view.sweep_rows(results),
        decision_volume=view.decision_volume(results),
        comparisons=view.comparisons(results),
        break_even=view.break_even(results),
        pricing=view.pricing(results),
        charts=[
            (name, CHART_TITLES.get(name, name), inline_svg(name, svg))
            for name, svg in _ordered(charts)
        ],
        forgetting=forgetting_rows(results),
        examples=examples,
        disagreeing=total,
        examples_cap=MAX_DISAGREEMENTS,
        samples_count=len(samples),
        manifest=manifest_rows(view.mapping(results.get("manifest"))),
    )


def _ordered(charts: Mapping[str, str]) -> list[tuple[str, str]]:
    known = [(name, charts[name]) for name in CHART_TITLES if name in charts]
    return known + [(name, svg) for name, svg in charts.items() if name not in CHART_TITLES]


def inline_svg(name: str, svg: str) -> str:
    """Our matplotlib SVG ready to sit inside HTML: no XML prolog, DOCTYPE or comment before
    the root, and every id prefixed with the chart name, because matplotlib numbers its
    groups the same way in every figure and ids must be unique within one document."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    body = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', body)
    return _REF.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", body)


def header(results: Mapping[str, Any]) -> dict[str, Any]:
    manifest = view.mapping(results.get("manifest"))
    model = view.mapping(manifest.get("model"))
    data = view.mapping(view.mapping(results.get("task")).get("data"))
    n = view.mapping(data.get("sampled")).get("test")
    if n is None:
        counts = [view.mapping(a).get("n") for a in view.mapping(results.get("arms")).values()]
        n = max((c for c in counts if c is not None), default=None)
    task = view.mapping(results.get("task"))
    return {
        "suite": results.get("suite") or "–",
        "run_id": results.get("run_id") or "–",
        "model": model.get("id") or "–",
        "device": manifest.get("device_name") or manifest.get("device") or "–",
        "n": n,
        "task": task.get("type") or "–",
        "metric": task.get("primary_metric") or "quality",
    }


def manifest_rows(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What produced this run: enough to reproduce it or to tell two runs apart."""
    model = view.mapping(manifest.get("model"))
    packages = view.mapping(manifest.get("packages"))
    rows = [
        (
            "suite",
            f"{manifest.get('suite_path') or '–'} (sha256 {manifest.get('suite_sha256') or '–'})",
        ),
        ("git sha", manifest.get("git_sha") or "not a git checkout"),
        ("model", " · ".join(str(model[k]) for k in ("id", "source", "dtype") if model.get(k))),
        ("model sha256", model.get("source_sha256") or "–"),
        ("device", manifest.get("device_name") or manifest.get("device") or "–"),
        ("seed", view.text(manifest.get("seed"))),
        (
            "started / finished",
            f"{manifest.get('started_at') or '–'} / {manifest.get('finished_at') or '–'}",
        ),
        ("python", f"{manifest.get('python') or '–'} on {manifest.get('platform') or '–'}"),
        ("packages", ", ".join(f"{k} {v}" for k, v in packages.items()) or "–"),
    ]
    return [(label, value or "–") for label, value in rows]


def forgetting_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per tuned arm and probe; one row for an arm that cannot forget or was not
    measured. Empty when no arm carries a forgetting record."""
    rows: list[dict[str, Any]] = []
    for name, raw in view.mapping(results.get("arms")).items():
        g = view.mapping(view.mapping(raw).get("forgetting"))
        if not g:
            continue
        if g.get("by_construction") or not g.get("measured"):
            note = "0 by construction" if g.get("by_construction") else "not measured"
            rows.append({"arm": name, "probe": "all", "note": f"{note}: {g.get('reason') or ''}"})
            continue
        for probe, x in view.mapping(g.get("probes")).items():
            x = view.mapping(x)
            better = "higher" if x.get("higher_is_better") else "lower"
            rows.append(
                {
                    "arm": name,
                    "probe": probe,
                    "primary": probe == g.get("primary"),
                    "metric": f"{x.get('metric', '–')} ({better} is better)",
                    "n": x.get("n"),
                    "base": x.get("base"),
                    "value": x.get("value"),
                    "delta": x.get("delta"),
                    "ci95": view.pair(x.get("ci95")),
                    "change": x.get("change") or "–",
                    "note": None,
                }
            )
    return rows


def disagreements(
    arms: list[str], samples: Sequence[Mapping[str, Any]], cap: int
) -> tuple[list[dict[str, Any]], int]:
    """Test examples on which the arms' predictions differ, in test order, at most ``cap``;
    and how many there are in all."""
    examples: dict[str, dict[str, Any]] = {}
    for row in samples:
        key = str(row.get("id"))
        example = examples.setdefault(
            key,
            {"id": key, "input": row.get("input"), "target": row.get("target"), "by_arm": {}},
        )
        example["by_arm"][str(row.get("arm"))] = {
            "prediction": view.text(row.get("prediction")),
            "correct": row.get("correct"),
        }
    differing = [
        e
        for e in examples.values()
        if len({p["prediction"] for a, p in e["by_arm"].items() if a in arms}) > 1
    ]
    return differing[:cap], len(differing)
