"""A clinic director's first week, in one dashboard server with its own fresh store and one browser session.

1. the first look: the Overview on the sample clinic opens with the headline remission card;
2. the Data page: an EHR export with a title block above its headers, matched on the mapping screen, imported;
3. the EHR's totals-only flowsheet of the same visits: the overlap reported, nothing stored wiped;
4. the Overview on the store: its headline card, as the engine computes it;
5. the Safety worklist: a patient opened, marked reviewed with a note, gone from the to-review list;
6. the Export page: the release report built, its HTML opened and, where PDF is available, its PDF read.

Every step waits for what it asserts and saves a numbered screenshot (data/screenshots/week-N-*.png;
`make screenshots` refreshes the README's copies in docs/screenshots/).
"""
from __future__ import annotations

import os
import shutil

import pytest

from analytics.headline import headline_cards
from analytics.report_pdf import pdf_status
from analytics.safety import safety_worklist
from analytics.store import read_store
from app_pages.serving import serve_dashboard
from browser_helpers import (CHROMIUM, FOOTER, PDF_VIEWER_ARGS, SHOTS, build_report_on_export_page, download_report,
                             fresh_store, mark_reviewed_from_worklist, pdf_page_screenshot, show_title_row_export,
                             upload)
from conftest import ROOT

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium not installed (.ci/run installs it)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (.ci/run installs it)")
pypdf = pytest.importorskip("pypdf", reason="pypdf is in the test extra (make test installs it)")
expect = playwright.expect
EXPORTS = ROOT / "tests" / "data" / "exports"
CLINIC = "Westlake Ketamine Clinic"
NO_EXCEPTION = "[data-testid='stException']"
# a page's first run on a fresh server imports the engine and reads the data: generous on a loaded machine
FIRST_RUN_MS = 180_000


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """The dashboard on a fresh store of its own (empty: it shows the sample clinic until the first import)."""
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
    env["OUTCOMES_MAPPINGS"] = str(tmp_path_factory.mktemp("mappings"))
    env["OUTCOMES_SETTINGS"] = str(tmp_path_factory.mktemp("settings") / "settings.toml")
    with fresh_store("director-week.sqlite") as store:
        env["OUTCOMES_DB"] = str(store.relative_to(ROOT))  # the path the pages print: the same on every machine
        with serve_dashboard(env=env) as url:
            yield url, store


@pytest.fixture(scope="module")
def context():
    """One browser session for the whole week (the full headless browser: its PDF viewer draws the report)."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=PDF_VIEWER_ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1300}, accept_downloads=True)
        yield ctx
        ctx.close()
        browser.close()


def shot(page, step: int, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"week-{step}-{name}.png"), full_page=full_page)


def page_done(page) -> None:
    """The page's run has finished (the footer is its last line) without an exception box."""
    expect(page.get_by_text(FOOTER).first).to_be_visible(timeout=FIRST_RUN_MS)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=60_000)
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=60_000)  # every element drawn
    expect(page.locator(NO_EXCEPTION)).to_have_count(0)


def test_a_directors_first_week(week, context, tmp_path):
    url, store = week
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # 1. the first look: the sample clinic, the headline answer in words, the published figure named
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Outcome overview')", timeout=FIRST_RUN_MS)
    expect(page.get_by_text("published: 20% (Oliver 2022, 424 patients)").first).to_be_visible(timeout=FIRST_RUN_MS)
    expect(page.get_by_text("Remission by week 6:").first).to_be_visible()
    expect(page.get_by_text("Synthetic sample data").first).to_be_visible()
    page_done(page)
    shot(page, 1, "first-look")

    # 2. the clinic's EHR export with a title block: the mapping screen finds the header row; imported
    page.goto(f"{url}/data", wait_until="domcontentloaded")
    page_done(page)
    show_title_row_export(page, EXPORTS / "ehr_title_row.csv")
    shot(page, 2, "mapping-screen", full_page=True)
    page.get_by_role("button", name="Check and import").click()
    page.wait_for_selector("text=now shows the clinic store", timeout=60_000)
    expect(page.get_by_text("ehr_title_row.csv: import").first).to_be_visible()

    # 3. the totals-only flowsheet of the same visits: five already present, none corrected, nothing stored wiped
    upload(page, EXPORTS / "ehr_totals_only.csv")
    page.wait_for_selector("text=Preview: the first 5 of 6 rows as they will be read", timeout=60_000)
    page.get_by_role("button", name="Check and import").click()
    overlap = page.get_by_text("1 questionnaire(s) added, 5 already present, 0 corrected").first
    overlap.wait_for(timeout=60_000)
    page_done(page)
    overlap.scroll_into_view_if_needed()  # the report of the import, not the uploader below it
    shot(page, 3, "totals-only-overlap")
    frame = read_store(store).frame
    first_visit = frame[(frame["patient_id"].astype("str") == "W-0001") & (frame["day"] == 0)].iloc[0]
    # the first export's item 9 and GAD-7 for the visit both files hold, kept beside the total they agree on
    assert (first_visit["phq9_total"], first_visit["phq9_9"], first_visit["gad7_total"]) == (21, 2, 15)

    # 4. the Overview on the store: the headline card the engine computes for these questionnaires
    remission = next(c for c in headline_cards(frame) if c.metric == "remission")
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Outcome overview')", timeout=FIRST_RUN_MS)
    expect(page.get_by_text(remission.sentence).first).to_be_visible(timeout=FIRST_RUN_MS)
    expect(page.get_by_text("Synthetic sample data")).to_have_count(0)
    expect(page.locator("[data-testid='stMetric']", has_text="Patients treated")).to_contain_text("3", timeout=60_000)
    page_done(page)
    shot(page, 4, "headline-card")

    # 5. the Safety worklist: the first patient to review opened, marked reviewed, off the list
    first = str(safety_worklist(frame)["patient_id"].iloc[0])
    mark_reviewed_from_worklist(page, url, first, "called, safety plan reviewed, seen Friday")
    page_done(page)
    shot(page, 5, "safety-reviewed")

    # 6. the quarterly report for the board (the release version: small cells hidden), built and opened
    build_report_on_export_page(page, url, CLINIC)
    html = download_report(page, ".html", tmp_path)
    page_done(page)
    shot(page, 6, "export-built")
    report = context.new_page()
    report.on("pageerror", lambda exc: errors.append(str(exc)))
    report.goto(html.as_uri(), wait_until="load")
    expect(report.locator("h1")).to_have_text(CLINIC)
    expect(report.locator(".subtitle")).to_contain_text("Outcome report")
    expect(report.locator("#summary li").first).to_be_visible()
    shot(report, 6, "report-html")
    report.close()
    if pdf_status().available:
        pdf = download_report(page, ".pdf", tmp_path)
        first_page = " ".join(pypdf.PdfReader(pdf).pages[0].extract_text().split())
        assert CLINIC in first_page and "Outcome report" in first_page
        pdf_page_screenshot(context, pdf, 1, SHOTS / "week-6-report-pdf.png")
        assert (SHOTS / "week-6-report-pdf.png").stat().st_size > 20_000
    assert not errors, errors
    page.close()
