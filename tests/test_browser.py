"""Real browser: the dashboard served on loopback, opened in Debian's chromium.

Skipped, with the reason shown, only where /usr/bin/chromium or playwright is
absent; `.ci/run` installs both, so in CI it runs.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app_pages.serving import serve_dashboard
from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
# screenshots go to the git-ignored data/ (running the tests changes no tracked file);
# `make screenshots` points this at docs/screenshots to refresh the ones in the README
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "data" / "screenshots")
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium not installed (.ci/run installs it)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (.ci/run installs it)")
expect = playwright.expect
FOOTER = "does not give clinical advice"  # the last line every page draws: its run has finished

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def server():
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
    # a fresh store under the git-ignored data/, named the same on every machine so screenshots do not churn
    store = ROOT / "data" / "browser-test.sqlite"
    for leftover in store.parent.glob(store.name + "*"):
        leftover.unlink()
    env["OUTCOMES_DB"] = str(store.relative_to(ROOT))
    with serve_dashboard(env=env) as url:
        yield url
    for leftover in store.parent.glob(store.name + "*"):
        leftover.unlink()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


PAGES = [  # (url path, heading, charts expected)
    ("", "Outcome overview", 4),
    ("patient", "Patient course", 2),
    ("safety", "Suicidal-ideation review", 0),
    ("tolerability", "Tolerability", 3),
    ("trajectories", "Trajectories", 2),
    ("research", "Research cohort review", 3),
    ("export", "Quarterly export", 0),
    ("data", "Data", 0),
]


@pytest.mark.parametrize("path, heading, charts", PAGES, ids=[p[1] for p in PAGES])
def test_every_page_in_browser(server, browser, path, heading, charts):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector(f"h1:has-text('{heading}')", timeout=60_000)
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)  # the whole page has run
    if charts:
        page.wait_for_function(
            f"document.querySelectorAll(\"[data-testid='stPlotlyChart'] .main-svg\").length >= {charts}",
            timeout=60_000)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page.get_by_text("Synthetic sample data").first).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_tolerability_page_in_browser(server, browser):
    """The sample clinic's sessions: the session count, a threshold set in the sidebar, the charts drawn."""
    from analytics.sessions import load_sessions
    from analytics.tolerability import tolerability_table

    sessions = load_sessions(ROOT / "sample_data" / "sample_sessions.csv")
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/tolerability", wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Tolerability')", timeout=60_000)
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)
    sessions_metric = page.locator("[data-testid='stMetric']", has_text="Sessions").first
    expect(sessions_metric).to_contain_text(f"{len(sessions):,}".replace(",", ""), timeout=60_000)
    page.wait_for_function("document.querySelectorAll(\"[data-testid='stPlotlyChart'] .main-svg\").length >= 3",
                           timeout=60_000)
    # a lower rise threshold: the chart's threshold label follows the sidebar
    field = page.get_by_role("spinbutton", name="Blood-pressure rise: systolic (mmHg)")
    field.fill("30")
    field.press("Enter")
    expect(page.get_by_text("rise counted at 30 mmHg").first).to_be_attached(timeout=60_000)
    expected = tolerability_table(sessions, suppression=False, systolic_rise_at=30)
    rise = expected[(expected["measure"] == "blood-pressure rise") & (expected["route"] == "all")].iloc[0]
    # the table's cells exist for assistive technology: the row of all routes shows the engine's rate
    page.wait_for_selector(f'td:has-text("{rise["rate"] * 100:.1f}%")', state="attached", timeout=60_000)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "tolerability.png"), full_page=True)
    assert not errors, errors
    page.close()


def upload(page, path):
    """Choose a file in the first uploader and wait until the page offers to import it."""
    for _ in range(2):  # a rerun can be lost if the upload lands mid-run; choose the file again then
        page.locator("input[type=file]").first.set_input_files(str(path))
        try:
            page.get_by_role("button", name="Check and import").wait_for(timeout=20_000)
            return
        except Exception:
            continue
    raise AssertionError(f"the Data page never offered to import {path.name}")


def test_upload_bad_then_good_file(server, browser, tmp_path):
    bad = tmp_path / "bad_export.csv"
    bad.write_text("patient_id,day,phq9_total,phq9_9,email\n001,0,12,1,a@b.org\n002,0,40,1,c@d.org\n")
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{server}/data", wait_until="domcontentloaded")
    page.wait_for_selector("text=does not give clinical advice", timeout=60_000)  # the first run has finished
    upload(page, bad)
    page.get_by_role("button", name="Check and import").click()
    page.wait_for_selector("text=refused: nothing was imported", timeout=60_000)
    # the label updates first; the error text and problem table follow, inside the (collapsible) status box
    page.wait_for_selector("text=problem row(s)", state="attached", timeout=30_000)
    page.wait_for_selector("[data-testid='stDataFrame']", state="attached", timeout=30_000)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    page.reload(wait_until="domcontentloaded")  # a fresh session: no button left over from the first upload
    page.wait_for_selector("text=does not give clinical advice", timeout=60_000)
    upload(page, ROOT / "sample_data" / "tiny_clinic.csv")
    page.get_by_role("button", name="Check and import").click()
    page.wait_for_selector("text=import 1 done", timeout=60_000)
    page.reload(wait_until="domcontentloaded")
    # the import history grid draws on a canvas; its cells exist for assistive technology
    page.wait_for_selector('td:has-text("tiny_clinic.csv")', state="attached", timeout=60_000)
    page.close()


def test_quarterly_html_report_in_browser(browser, tmp_path):
    from analytics import load_questionnaires
    from analytics.quarterly import quarterly_export, write_quarterly_export

    export = quarterly_export(load_questionnaires(ROOT / "sample_data" / "sample_clinic.csv"), quarter="2025Q4")
    report = next(p for p in write_quarterly_export(export, tmp_path) if p.suffix == ".html")
    page = browser.new_page(viewport={"width": 1200, "height": 1700})
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    page.goto(report.as_uri(), wait_until="load")  # offline: the file embeds plotly.js itself
    page.wait_for_function("document.querySelectorAll('.main-svg').length >= 2", timeout=60_000)
    expect(page.locator("h1")).to_have_text("Outcome report, 2025Q4")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report.png"), full_page=False)
    page.emulate_media(media="print")
    page.wait_for_function("document.querySelectorAll('table').length >= 6", timeout=30_000)
    assert not console_errors, console_errors
    page.close()


def test_served_on_every_address_without_sign_in_shows_no_data(browser, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
    env["OUTCOMES_DB"] = str(tmp_path / "none.sqlite")
    with serve_dashboard(env=env, address="0.0.0.0") as url:  # our own traffic stays on loopback
        page = browser.new_page()
        page.goto(url, wait_until="domcontentloaded")
        refused_without_data(page)
        page.close()


def refused_without_data(page):
    """The refusal page, waited for (the heading draws before the error box), and no data on it."""
    page.wait_for_selector("h1:has-text('Sign-in required')", timeout=60_000)
    expect(page.get_by_text("shows no data")).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid='stDataFrame'], [data-testid='stPlotlyChart'], [data-testid='stMetric']")) \
        .to_have_count(0)
    expect(page.get_by_text("Outcome overview")).to_have_count(0)


PROXIED = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Host", "outcomes.example.org"),
           ("X-Real-IP", "203.0.113.7"), ("Forwarded", "for=203.0.113.7;proto=https")]


@pytest.mark.parametrize("header, value", PROXIED)
def test_behind_a_reverse_proxy_without_sign_in_shows_no_data(server, browser, header, value):
    # the loopback dashboard with data; a request relayed by a proxy comes from elsewhere
    context = browser.new_context(extra_http_headers={header: value})
    page = context.new_page()
    page.goto(server, wait_until="domcontentloaded")
    refused_without_data(page)
    expect(page.get_by_text("through a reverse proxy")).to_be_visible()
    context.close()


def test_headline_answer_and_glossary_in_browser(server, browser):
    """The director's first look: the remission card in words, the other counts one click away, the glossary."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server, wait_until="domcontentloaded")
    card = page.get_by_text("published: 20% (Oliver 2022, 424 patients)")
    card.first.wait_for(timeout=60_000)
    expect(page.get_by_text("Remission by week 6:").first).to_be_visible()
    expect(page.get_by_text("oliver2022-remission-6w")).to_have_count(0)
    page.locator("[data-testid='stExpander'] summary").nth(1).click()
    page.locator("li:visible").filter(has_text="Completers only: the share at the endpoint visit").first.wait_for(
        timeout=30_000)
    page.goto(f"{server}/glossary", wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Glossary')", timeout=60_000)
    expect(page.get_by_text("Kaplan-Meier.").first).to_be_visible()
    assert page.locator("[data-testid='stException']").count() == 0
    assert not errors, errors
    page.close()
