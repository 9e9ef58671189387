"""The human-readable reports (charts, report.html, report.md) rendered from a real run folder,
and from one stripped of everything an older run folder may lack. No model is loaded."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from tunevsprompt.report.charts import render_charts
from tunevsprompt.report.html import render_html
from tunevsprompt.report.markdown import render_markdown
from tunevsprompt.runfolder.results import Results

FIXTURE = Path(__file__).parent / "fixtures" / "run-support-bot"
ARMS = ("zero-shot", "lora", "soft-prompt")
SVG = "{http://www.w3.org/2000/svg}"
# What a browser would fetch: an attribute or CSS reference to another origin. The SVG
# namespace URIs (xmlns="http://www.w3.org/2000/svg") are names, never fetched.
NETWORK_REF = re.compile(
    r"""(?:\b(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//"""
    r"""|url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|@import)""",
    re.IGNORECASE,
)
XSS_INPUT = "<script>alert(1)</script> my card <img src=x onerror=alert(2)>"
XSS_OUTPUT = '<img src=x onerror="alert(3)">'


def load_results() -> dict[str, Any]:
    return json.loads((FIXTURE / "results.json").read_text(encoding="utf-8"))


def typed(data: dict[str, Any]) -> Results:
    """The reports read results.json through its model."""
    return Results.model_validate(data)


def load_samples() -> list[dict[str, Any]]:
    lines = (FIXTURE / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return load_results()


@pytest.fixture(scope="module")
def samples() -> list[dict[str, Any]]:
    return load_samples()


@pytest.fixture(scope="module")
def charts(results: dict[str, Any]) -> dict[str, str]:
    return render_charts(typed(results))


@pytest.fixture(scope="module")
def page(results: dict[str, Any], samples: list[dict[str, Any]], charts: dict[str, str]) -> str:
    return render_html(typed(results), samples, charts)


def stripped(results: dict[str, Any]) -> dict[str, Any]:
    """An older run folder: no decision keys, forgetting, learning curves or latency."""
    old = copy.deepcopy(results)
    for key in ("comparisons", "break_even", "recommendation", "policy", "forgetting"):
        del old[key]
    for arm in old["arms"].values():
        for key in ("cost", "forgetting", "learning_curve", "latency_ms", "latency_variants"):
            arm.pop(key, None)
    return old


def test_every_chart_is_an_svg_with_paths(charts: dict[str, str]) -> None:
    assert list(charts) == ["quality", "quality_vs_cost", "cost_vs_volume", "latency", "forgetting"]
    for name, svg in charts.items():
        assert len(svg.encode()) < 300_000, name
        root = ET.fromstring(svg.encode())
        assert root.tag == f"{SVG}svg", name
        assert root.findall(f".//{SVG}path"), name
        text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
        assert "Date" not in svg and "<dc:date>" not in svg, name
        if name in ("quality", "quality_vs_cost", "cost_vs_volume", "latency"):
            for arm in ARMS:
                assert arm in text, (name, arm)
    # Tuned arms only: zero-shot cannot forget, so it has no point in that chart.
    forgetting = " ".join(t.text or "" for t in ET.fromstring(charts["forgetting"]).iter())
    assert "lora" in forgetting and "zero-shot" not in forgetting


def test_charts_are_deterministic_and_colour_arms_alike(
    results: dict[str, Any], charts: dict[str, str]
) -> None:
    assert render_charts(typed(copy.deepcopy(results))) == charts
    lora_orange = "#ff7f0e"  # second arm, second palette colour, in every chart
    for name in ("quality", "quality_vs_cost", "cost_vs_volume", "latency", "forgetting"):
        assert lora_orange in charts[name], name


def test_learning_curves_chart_only_with_a_curve(results: dict[str, Any]) -> None:
    curved = stripped(results)
    curved["arms"]["lora"]["learning_curve"] = [
        {"train_size": size, "quality": {"value": value, "ci95": [value - 0.05, value + 0.05]}}
        for size, value in ((25, 0.08), (100, 0.18), (300, 0.29))
    ]
    charts = render_charts(typed(curved))
    assert set(charts) == {"quality", "learning_curves"}
    root = ET.fromstring(charts["learning_curves"])
    assert root.findall(f".//{SVG}path")
    assert "lora" in " ".join(t.text or "" for t in root.iter(f"{SVG}text"))


def test_html_shows_the_decision_and_every_arm(results: dict[str, Any], page: str) -> None:
    for arm in ARMS:
        assert f">{arm}<" in page or f"</span>{arm}" in page, arm
    assert "Use <strong>lora</strong> at 100,000 requests/month" in page
    recommendation = results["recommendation"]
    for reason in recommendation["reasons"] + recommendation["flip_conditions"]:
        assert str(escape(reason)) in page, reason
    assert page.count('<span class="badge ALLOW">ALLOW</span>') >= 2
    assert '<span class="badge REJECT">REJECT</span>' in page
    # Sections in the promised order.
    ids = ["recommendation", "summary", "comparisons", "costs", "charts", "forgetting"]
    ids += ["disagreements", "manifest"]
    positions = [page.index(f'<h2 id="{section}">') for section in ids]
    assert positions == sorted(positions)
    assert results["manifest"]["git_sha"] in page
    assert "transformers 5.23.0" in page
    assert "lora better" in page and "INCONCLUSIVE" in page
    assert "$6.30" in page  # lora at the decision volume
    assert "+3.854 [+2.952, +5.048]" in page  # lora's forgetting on the primary probe


def test_html_is_self_contained(page: str, charts: dict[str, str]) -> None:
    assert NETWORK_REF.search(page) is None, NETWORK_REF.search(page)
    assert "<link" not in page and "<script" not in page
    assert page.count("<svg") == len(charts)
    assert len(page.encode()) < 1_000_000
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    # Charts share matplotlib's group names; ids are prefixed so each is unique in the page.
    ids = Counter(re.findall(r'\bid="([^"]+)"', page))
    assert [i for i, n in ids.items() if n > 1] == []
    for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', page):
        assert ref in ids, ref


def test_network_check_would_catch_a_remote_reference() -> None:
    for bad in ('<img src="https://x.test/a.png">', "<a href=//cdn.test/>", "url( 'http://x')"):
        assert NETWORK_REF.search(bad), bad


def test_untrusted_text_is_escaped(results: dict[str, Any], charts: dict[str, str]) -> None:
    doctored = copy.deepcopy(results)
    doctored["recommendation"]["reasons"].append("</li><script>alert(4)</script>")
    rows = [
        {"arm": arm, "id": "evil-1", "input": XSS_INPUT, "target": "card_arrival"}
        | {"prediction": XSS_OUTPUT if arm == "lora" else "card_arrival", "correct": False}
        for arm in ARMS
    ]
    page = render_html(typed(doctored), rows, charts)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(3)&#34;&gt;" in page
    assert "&lt;/li&gt;&lt;script&gt;alert(4)&lt;/script&gt;" in page


def test_disagreements_are_capped_with_the_total(
    results: dict[str, Any], samples: list[dict[str, Any]], charts: dict[str, str]
) -> None:
    many = samples + [dict(row, id=f"{row['id']}-copy") for row in samples]
    page = render_html(typed(results), many, charts)
    table = page[page.index('id="disagreements-table"') : page.index('<h2 id="manifest">')]
    assert table.count("<tr>") + table.count('<tr id="ex-') == 1 + 200
    assert "308 of the test examples" in page and "the first 200 are shown" in page
    agreeing = [dict(row, prediction="card_arrival") for row in samples]
    assert "The arms agree on every test example" in render_html(typed(results), agreeing, charts)


def test_markdown_sections_tables_and_chart_links(
    results: dict[str, Any], charts: dict[str, str]
) -> None:
    files = {name: f"charts/{name}.svg" for name in charts}
    text = render_markdown(typed(results), files)
    for heading in ("## Recommendation", "## Arms", "## Comparisons", "## Costs", "## Charts"):
        assert f"\n{heading}\n" in text, heading
    for heading in ("## Tuned arms", "## Forgetting", "## Contamination", "## Manifest"):
        assert f"\n{heading}\n" in text, heading
    assert "**Use lora** at 100,000 requests/month." in text
    for reason in results["recommendation"]["reasons"]:
        assert f"- {reason}\n" in text
    assert "| lora | **ALLOW** |" in text and "| zero-shot | **REJECT** |" in text
    assert "| arms | metric | n | difference [95% CI] |" in text
    assert "| lora vs soft-prompt | accuracy | 154 | +0.006 [-0.065, +0.078] |" in text
    assert "| zero-shot vs lora | 5.4 | zero-shot | lora |" in text
    assert "| lora | $0.0630 | $0.00360 | $6.30 | $0.63 | $63.05 | ALLOW |" in text
    for name in charts:
        assert f"![{name}](charts/{name}.svg)" in text
    assert "## Charts" not in render_markdown(typed(results))


def test_markdown_table_cells_from_data_are_escaped(results: dict[str, Any]) -> None:
    doctored = copy.deepcopy(results)
    doctored["comparisons"][2]["verdict"] = "odd | verdict\nsecond line"
    doctored["break_even"][0]["cheaper_below"] = "a|b"
    text = render_markdown(typed(doctored))
    assert "| odd \\| verdict second line |" in text
    assert "| zero-shot vs lora | 5.4 | a\\|b | lora |" in text
    table = text[text.index("| arms | metric | n |") :].split("\n\n")[0].splitlines()
    cells = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
    assert cells == {11}, table  # ten columns on every line


def test_renderers_survive_an_old_run_folder(
    results: dict[str, Any], samples: list[dict[str, Any]]
) -> None:
    old = stripped(results)
    charts = render_charts(typed(old))
    assert list(charts) == ["quality"]
    page = render_html(typed(old), samples, charts)
    assert "has no recommendation" in page and "No pairwise comparisons" in page
    assert "No cost model" in page and '<h2 id="forgetting">' not in page
    for arm in ARMS:
        assert arm in page
    text = render_markdown(typed(old), {"quality": "charts/quality.svg"})
    for absent in ("## Recommendation", "## Comparisons", "## Costs", "## Forgetting"):
        assert absent not in text
    assert "![quality](charts/quality.svg)" in text
    assert "| lora | lora | 154 | 0.292 [0.214, 0.364] |" in text
    # Nothing at all beyond the arms' quality: still a page, no chart but the bar chart.
    arms = {"a": {"quality": {"value": 0.5}}}
    bare = typed({"schema_version": "1.0", "suite": "x", "run_id": "r", "arms": arms})
    assert "a" in render_html(bare, [], render_charts(bare))
    assert render_charts(typed({"schema_version": "1.0", "arms": {}})) == {}


def test_a_sweep_lists_every_trial_and_marks_the_chosen_one(
    results: dict[str, Any], samples: list[dict[str, Any]]
) -> None:
    swept = copy.deepcopy(results)
    trials = [
        {
            "trial": i,
            "params": {"learning_rate": lr, "r": 8},
            "dev": {"metric": "accuracy", "value": dev, "ci95": [dev - 0.1, dev + 0.1]},
            "dev_examples": 77,
            "training": {"steps": 38, "wall_s": 61.25},
        }
        for i, (lr, dev) in enumerate([(0.0001, 0.2), (0.001, 0.45)])
    ]
    swept["arms"]["lora"]["sweep"] = {"trials": trials, "best_trial": 1}
    text = render_markdown(typed(swept))
    assert "\n## Hyperparameter sweeps\n" in text
    assert (
        "| lora | 0 | learning_rate=0.0001, r=8 | 0.200 [0.100, 0.300] | 77 | 38 | 61.2 |  |"
        in text
    )
    assert (
        "| lora | 1 | learning_rate=0.001, r=8 | 0.450 [0.350, 0.550] | 77 | 38 | 61.2 | yes |"
        in text
    )
    page = render_html(typed(swept), samples, {})
    table = page[page.index('<table id="sweep-table">') :].split("</table>")[0]
    assert table.count("<tr") == 3 and table.count('class="recommended"') == 1
    assert "Hyperparameter sweeps" not in render_markdown(typed(results))
    assert 'id="sweeps"' not in render_html(typed(results), samples, {})
