"""report.html: one self-contained file (inline CSS and SVG, no network reference) from
the typed results, samples.jsonl and the rendered charts. Inputs and model outputs are untrusted
text: the template autoescapes everything; only our own chart SVG is inserted as markup."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from tunevsprompt.decide import fmt
from tunevsprompt.report import view
from tunevsprompt.report.charts import CHART_TITLES, chart_title
from tunevsprompt.report.explain_view import explanation_view
from tunevsprompt.runfolder.results import Results
from tunevsprompt.runfolder.results.run import Manifest, ModelManifest, Task

MAX_DISAGREEMENTS = 200
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(href="#|url\(#)([^")]+)')


def render_html(
    results: Results, samples: Sequence[Mapping[str, Any]], charts: Mapping[str, str]
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
    explained = explanation_view(results, {e["id"] for e in examples})
    return env.from_string(source).render(
        header=header(results),
        rec=view.recommendation(results),
        arms=arms,
        colours=view.arm_colours(results),
        summary=view.arm_summary(results),
        hosted=view.hosted_rows(results),
        sweeps=view.sweep_rows(results),
        encoders=encoder_rows(results),
        searches=view.prompt_searches(results),
        decision_volume=view.decision_volume(results),
        comparisons=view.comparisons(results),
        break_even=view.break_even(results),
        pricing=view.pricing(results),
        charts=[(name, chart_title(name), inline_svg(name, svg)) for name, svg in _ordered(charts)],
        forgetting=forgetting_rows(results),
        explained=explained,
        examples=examples,
        disagreeing=total,
        examples_cap=MAX_DISAGREEMENTS,
        samples_count=len(samples),
        manifest=manifest_rows(results.manifest or Manifest()),
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


def header(results: Results) -> dict[str, Any]:
    manifest = results.manifest or Manifest()
    model = manifest.model or ModelManifest()
    task = results.task or Task()
    n = ((task.data.sampled if task.data else None) or {}).get("test")
    if n is None:
        counts = [a.n for a in results.arms.values()]
        n = max((c for c in counts if c is not None), default=None)
    return {
        "suite": results.suite or "–",
        "run_id": results.run_id or "–",
        "model": model.id or "–",
        "device": manifest.device_name or manifest.device or "–",
        "n": n,
        "task": task.type or "–",
        "metric": task.primary_metric or "quality",
    }


def manifest_rows(manifest: Manifest) -> list[tuple[str, str]]:
    """What produced this run: enough to reproduce it or to tell two runs apart."""
    model = manifest.model or ModelManifest()
    packages = manifest.packages or {}
    described = (model.id, model.source, model.dtype)
    rows = [
        ("suite", f"{manifest.suite_path or '–'} (sha256 {manifest.suite_sha256 or '–'})"),
        ("git sha", manifest.git_sha or "not a git checkout"),
        ("model", " · ".join(str(x) for x in described if x)),
        ("model sha256", model.source_sha256 or "–"),
        ("device", manifest.device_name or manifest.device or "–"),
        ("seed", fmt.text(manifest.seed)),
        ("started / finished", f"{manifest.started_at or '–'} / {manifest.finished_at or '–'}"),
        ("python", f"{manifest.python or '–'} on {manifest.platform or '–'}"),
        ("packages", ", ".join(f"{k} {v}" for k, v in packages.items()) or "–"),
    ]
    return [(label, value or "–") for label, value in rows]


def encoder_rows(results: Results) -> list[dict[str, Any]]:
    """Each fine-tuned encoder arm: its dev figure before training (the frozen encoder under
    the same head) and after, and the paired test difference between the two."""
    rows = []
    for name, record in results.arms.items():
        training = record.training
        dev = training.dev_quality if training else None
        if training is None or dev is None:
            continue
        rows.append(
            {
                "arm": name,
                "type": record.type,
                "metric": dev.metric,
                "n": dev.n,
                "frozen": dev.frozen,
                "tuned": dev.tuned,
                "steps": training.steps,
                "wall_s": training.wall_s,
                "reused": training.reused,
                "test": record.integrity.quality_against_base if record.integrity else None,
            }
        )
    return rows


def forgetting_rows(results: Results) -> list[dict[str, Any]]:
    """One row per tuned arm and probe; one row for an arm that cannot forget or was not
    measured. Empty when no arm carries a forgetting record."""
    rows: list[dict[str, Any]] = []
    for name, record in results.arms.items():
        g = record.forgetting
        if g is None:
            continue
        if g.by_construction or not g.measured:
            note = "0 by construction" if g.by_construction else "not measured"
            rows.append({"arm": name, "probe": "all", "note": f"{note}: {g.reason or ''}"})
            continue
        for probe, x in (g.probes or {}).items():
            better = "higher" if x.higher_is_better else "lower"
            rows.append(
                {
                    "arm": name,
                    "probe": probe,
                    "primary": probe == g.primary,
                    "metric": f"{x.metric if x.metric is not None else '–'} ({better} is better)",
                    "n": x.n,
                    "base": x.base,
                    "value": x.value,
                    "delta": x.delta,
                    "ci95": fmt.bounds(x.ci95),
                    "change": x.change or "–",
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
            "prediction": fmt.text(row.get("prediction")),
            "correct": row.get("correct"),
        }
    differing = [
        e
        for e in examples.values()
        if len({p["prediction"] for a, p in e["by_arm"].items() if a in arms}) > 1
    ]
    return differing[:cap], len(differing)
