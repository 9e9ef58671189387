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
    return json.loads((FIXTURE / "results.json").read_text(encoding="utf-8"))


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
    assert svgs.count() == len(charts) == 5
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


def test_full_page_screenshot(report: Loaded, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    report.page.screenshot(path=shot, full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
