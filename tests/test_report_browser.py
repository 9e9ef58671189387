"""report.html in a real headless browser (Debian's Chromium driven by Playwright): it makes no
network request, its charts lay out, the recommendation is on screen, and it screenshots."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian chromium not installed: run `make setup-browser` (apt-get install chromium, "
        "as root) to run the report's browser test",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from tunevsprompt.report.charts import render_charts  # noqa: E402
from tunevsprompt.report.html import render_html  # noqa: E402
from tunevsprompt.runfolder.results import Results  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "run-support-bot"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Loaded:
    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def open_page(browser: Browser, html: Path) -> Loaded:
    """Load ``html`` recording every request the page makes. Requests to the network are
    recorded, then aborted, so a leaky page fails the test fast instead of hanging."""
    loaded = Loaded(page=browser.new_page(viewport={"width": 1280, "height": 900}))
    loaded.page.on("request", lambda request: loaded.requests.append(request.url))
    loaded.page.on("pageerror", lambda error: loaded.errors.append(str(error)))
    loaded.page.route(re.compile(r"^(?!file:|data:)"), lambda route: route.abort())
    loaded.page.goto(html.as_uri(), wait_until="load")
    loaded.page.wait_for_load_state("networkidle")
    return loaded


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    """The fixture's results with the explanations `tvp report` now adds from its samples."""
    from tunevsprompt.explain.assemble import explanations

    found: dict[str, Any] = json.loads((FIXTURE / "results.json").read_text(encoding="utf-8"))
    lines = (FIXTURE / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    found["explanations"] = explanations(found, [json.loads(line) for line in lines if line])
    return found


@pytest.fixture(scope="module")
def charts(results: dict[str, Any]) -> dict[str, str]:
    return render_charts(Results.model_validate(results))


@pytest.fixture(scope="module")
def report(
    browser: Browser,
    results: dict[str, Any],
    charts: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Loaded]:
    lines = (FIXTURE / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    samples = [json.loads(line) for line in lines if line.strip()]
    html = tmp_path_factory.mktemp("run") / "report.html"
    page = render_html(Results.model_validate(results), samples, charts)
    html.write_text(page, encoding="utf-8")
    loaded = open_page(browser, html)
    yield loaded
    loaded.page.close()


def test_no_network_request(report: Loaded) -> None:
    assert report.requests, "the recorder saw nothing, not even the document"
    assert report.requests[0].startswith("file://")
    remote = [u for u in report.requests if not u.startswith(("file://", "data:"))]
    assert remote == []
    assert report.errors == []


def test_request_recorder_sees_a_remote_reference(browser: Browser, tmp_path: Path) -> None:
    """The control for the test above: a page that does reference the network is caught."""
    html = tmp_path / "leaky.html"
    html.write_text('<p>x</p><img src="http://192.0.2.1/pixel.png">', encoding="utf-8")
    leaky = open_page(browser, html)
    leaky.page.close()
    assert "http://192.0.2.1/pixel.png" in leaky.requests


def test_charts_render(report: Loaded, charts: dict[str, str]) -> None:
    svgs = report.page.locator("figure.chart svg")
    assert svgs.count() == len(charts) == 6  # five figures and a confusion heatmap
    for i in range(svgs.count()):
        box = svgs.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, box
    for name in charts:
        assert report.page.locator(f"#chart-{name} svg").is_visible()


def test_recommendation_is_visible(report: Loaded, results: dict[str, Any]) -> None:
    headline = report.page.locator("#recommendation-card .recommend")
    assert headline.is_visible()
    assert headline.inner_text().startswith("Use lora at 100,000 requests/month")
    reasons = report.page.locator("#recommendation-card ul.reasons li")
    assert reasons.count() == len(results["recommendation"]["reasons"])
    assert reasons.first.is_visible()
    assert reasons.first.inner_text() == results["recommendation"]["reasons"][0]
    assert report.page.locator("#summary-table tr.recommended td.arm").inner_text() == "lora"


def test_where_the_arms_differ_is_shown(report: Loaded, results: dict[str, Any]) -> None:
    page = report.page
    assert page.locator("#explanations").is_visible()
    anchor = results["explanations"]["anchor"]
    rows = page.locator("#per-class-table tr")
    held = [r for r in results["explanations"]["per_class"][anchor] if r["support"]]
    assert rows.count() == 1 + len(held)
    assert page.locator("#worst-classes-table tr").count() == 1 + len(results["arms"])
    flips = page.locator("#flips-table tr")
    assert flips.count() == len(results["arms"])  # a header and one row per rival
    link = page.locator("#flips-table a").first
    target = link.get_attribute("href")
    assert target is not None and page.locator(target).count() == 1
    assert page.locator(f"#chart-confusion-{anchor} svg").is_visible()


@pytest.fixture(scope="module")
def explained_run(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """A real run of two no-LLM arms on an out-of-scope task with a slice field: the report
    has every section of "Where the arms differ"."""
    from helpers import write_out_of_scope_suite
    from tunevsprompt.runner import RunOptions, SilentObserver, run_compare
    from tunevsprompt.suite.loader import load_suite

    folder = tmp_path_factory.mktemp("explained")
    arms = "  - {name: knn, type: embed-knn, k: 5}\n  - {name: linear, type: embed-linear}\n"
    write_out_of_scope_suite(folder, arms, "slices: [channel]\n")
    run = run_compare(
        load_suite(folder / "suite.yaml"),
        RunOptions(out=folder / "run", cache_dir=folder / "cache"),
        SilentObserver(),
    )
    loaded = open_page(browser, run / "report.html")
    yield loaded
    loaded.page.close()


def test_every_explanation_section_renders(explained_run: Loaded) -> None:
    page = explained_run.page
    for table, rows in (
        ("#per-class-table", 1 + 5),  # a header and the five labels
        ("#worst-classes-table", 1 + 2),
        ("#flips-table", 1 + 1),
        ("#slice-channel + p + div table", 1 + 2),
        ("#abstention-table", 1 + 2),
        ("#calibration-table", 1 + 2),
    ):
        assert page.locator(table).is_visible(), table
        assert page.locator(f"{table} tr").count() == rows, table
    for chart in ("reliability", "risk_coverage"):
        box = page.locator(f"#chart-{chart} svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, chart
    assert page.locator("figure.chart[id^='chart-confusion-'] svg").count() >= 1
    remote = [u for u in explained_run.requests if not u.startswith(("file://", "data:"))]
    assert explained_run.errors == [] and remote == []


def test_full_page_screenshot(report: Loaded, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    report.page.screenshot(path=shot, full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
