"""The quarterly report in Debian's chromium: the HTML opens offline with its charts, the PDF has pages and its
text carries the headline; both are screenshotted (HTML page, PDF pages) into data/screenshots."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analytics import load_questionnaires
from analytics.quarterly import quarterly_export, write_quarterly_export
from analytics.quarterly_report import figure_text
from app_pages.serving import serve_dashboard
from conftest import ROOT, SAMPLE

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "data" / "screenshots")
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium not installed (.ci/run installs it)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (.ci/run installs it)")
pypdf = pytest.importorskip("pypdf", reason="pypdf is in the test extra (make test installs it)")
expect = playwright.expect
QUARTER = "2025Q4"
CLINIC = "Riverside Ketamine Clinic"
# --headless=new: the full browser, whose PDF viewer draws the PDF's pages for the screenshot
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    export = quarterly_export(load_questionnaires(SAMPLE), quarter=QUARTER, clinic_name=CLINIC)
    out = tmp_path_factory.mktemp("report")
    return export, {p.suffix: p for p in write_quarterly_export(export, out, formats=("html", "pdf"))}


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_html_report_opens_with_its_charts(written, browser):
    export, files = written
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(files[".html"].as_uri(), wait_until="load")
    expect(page.locator("h1")).to_have_text(CLINIC)
    expect(page.locator(".subtitle")).to_contain_text("Outcome report, 2025 Q4")
    expect(page.locator("#summary li").first).to_contain_text(
        f"Response by week 6: {figure_text(export.headline.iloc[0].to_dict())}")
    # forest, funnel, site forest and trend: drawn, with a visible size, and a hidden value labelled in one
    charts = page.locator(".chart svg")
    expect(charts).to_have_count(4)
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 400 and box["height"] > 100
    expect(page.locator("svg text", has_text="hidden:").first).to_be_attached()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report.png"), full_page=False)
    assert not errors, errors
    page.close()


def test_pdf_has_pages_and_the_headline(written, browser, tmp_path):
    export, files = written
    reader = pypdf.PdfReader(files[".pdf"])
    assert len(reader.pages) >= 3
    first = " ".join(reader.pages[0].extract_text().split())
    assert CLINIC in first and "Outcome report, 2025 Q4" in first
    headline = export.headline.iloc[0].to_dict()
    assert f"Response by week 6: {figure_text(headline)}" in first.replace("- ", "-")
    text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert text.index("Volume") < text.index("Retention and drop-out") < text.index("Safety: suicidal thoughts") \
        < text.index("Methods and definitions")
    SHOTS.mkdir(parents=True, exist_ok=True)
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm:
        subprocess.run([pdftoppm, "-png", "-r", "80", "-f", "1", "-l", "2", str(files[".pdf"]),
                        str(SHOTS / "report-pdf-page")], check=True, timeout=120)
        assert list(SHOTS.glob("report-pdf-page*.png"))
        return
    for number in (1, 2):  # a fresh tab per page: the viewer reads #page= when it opens the file
        page = browser.new_page(viewport={"width": 1000, "height": 1300})
        page.goto(f"{files['.pdf'].as_uri()}#page={number}", wait_until="load")
        _settled_screenshot(page, SHOTS / f"report-pdf-page-{number}.png")
        page.close()
    pages = [(SHOTS / f"report-pdf-page-{n}.png").read_bytes() for n in (1, 2)]
    assert pages[0] != pages[1]
    assert (SHOTS / "report-pdf-page-2.png").stat().st_size > 20_000


def test_director_builds_the_report_on_the_export_page(browser, tmp_path):
    """Name the clinic, build the export with its PDF, and download the report, in the served dashboard."""
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
    env["OUTCOMES_DB"] = str(tmp_path / "store.sqlite")
    env["OUTCOMES_SETTINGS"] = str(tmp_path / "settings.toml")
    with serve_dashboard(env=env) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/export", wait_until="domcontentloaded")
        page.wait_for_selector("h1:has-text('Quarterly export')", timeout=60_000)
        name = page.get_by_role("textbox", name="Clinic name printed at the top of the report")
        name.fill("Lakeside Ketamine Clinic")
        page.get_by_role("button", name="Save the clinic name").click()
        expect(page.get_by_text("Saved: the report is now headed")).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Build the export").click()
        expect(page.get_by_text("files ready")).to_be_visible(timeout=180_000)
        expect(page.get_by_text("The report's summary")).to_be_visible()
        pdf = page.get_by_role("button", name=re.compile(r"^report_\d{4}Q\d\.pdf$"))
        expect(pdf).to_have_count(1, timeout=60_000)
        html_button = page.get_by_role("button", name=re.compile(r"^report_\d{4}Q\d\.html$"))
        expect(html_button).to_have_count(1)
        html_name = html_button.inner_text().strip()
        with page.expect_download() as download:
            html_button.click()
        saved = tmp_path / html_name
        download.value.save_as(saved)
        assert "<h1>Lakeside Ketamine Clinic</h1>" in saved.read_text(encoding="utf-8")
        expect(page.get_by_text("does not give clinical advice").first).to_be_visible(timeout=60_000)  # run over
        expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=60_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "export-built.png"), full_page=True)
        assert not errors, errors
        page.close()


def _settled_screenshot(page, path: Path) -> None:
    """The viewer paints inside its own plugin, out of the page's DOM: shoot until two shots agree and hold
    more than an empty grey viewer (a drawn page of text and charts is well over 20 kB as PNG)."""
    previous = None
    for _ in range(240):
        shot = page.screenshot()
        if shot == previous and len(shot) > 20_000:
            break
        previous = shot
        page.wait_for_timeout(250)
    path.write_bytes(previous)
