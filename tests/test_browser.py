"""Real browser: the dashboard served on loopback, opened in Debian's chromium.

Skipped, with the reason shown, only where /usr/bin/chromium or playwright is
absent; `.ci/run` installs both, so in CI it runs.
"""
from __future__ import annotations

import os
import shutil

import pytest

from app_pages.serving import serve_dashboard
from browser_helpers import (CHROMIUM, CHROMIUM_ARGS, FOOTER, SHOTS, fresh_store, mark_reviewed_from_worklist,
                             show_title_row_export, upload)
from conftest import ROOT

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium not installed (.ci/run installs it)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (.ci/run installs it)")
expect = playwright.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
    env["OUTCOMES_MAPPINGS"] = str(tmp_path_factory.mktemp("mappings"))  # mappings saved by the tests
    # a fresh store under the git-ignored data/, named the same on every machine so screenshots do not churn
    with fresh_store("browser-test.sqlite") as store:
        env["OUTCOMES_DB"] = str(store.relative_to(ROOT))
        with serve_dashboard(env=env) as url:
            yield url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


# a chart drawn: plotly's SVG (the other pages) or Vega-Lite's SVG (the Overview, see app_pages/overview_charts.py)
CHARTS_DRAWN = "[data-testid='stPlotlyChart'] .main-svg, [data-testid='stVegaLiteChart'] svg.marks"


def wait_until_settled(page, charts: int = 0) -> None:
    """The script run has finished, no element is left over from the run before, ``charts`` are drawn."""
    page.wait_for_function("""(charts) => {
        const app = document.querySelector("[data-testid='stApp']");
        return app && app.getAttribute("data-test-script-state") === "notRunning"
            && !document.querySelector("[data-stale='true']")
            && document.querySelectorAll("%s").length >= charts; }""" % CHARTS_DRAWN,
                           arg=charts, timeout=60_000)


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
    errors, outside = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a loopback dashboard asks nothing of another host (a favicon from a font CDN would tell it who looks)
    page.on("request", lambda r: None if r.url.startswith((server, "data:", "blob:")) else outside.append(r.url))
    page.goto(f"{server}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector(f"h1:has-text('{heading}')", timeout=60_000)
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)  # the whole page has run
    if charts:
        page.wait_for_function(f"document.querySelectorAll(\"{CHARTS_DRAWN}\").length >= {charts}",
                               timeout=60_000)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page.get_by_text("Synthetic sample data").first).to_be_visible()
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=60_000)  # every element drawn
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"), full_page=True)
    assert not errors, errors
    assert not outside, outside
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
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=60_000)  # every element drawn
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "tolerability.png"), full_page=True)
    assert not errors, errors
    page.close()


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
    expect(page.locator("[data-testid='stDataFrame'], [data-testid='stPlotlyChart'], [data-testid='stVegaLiteChart'], "
                        "[data-testid='stMetric']")).to_have_count(0)
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


def test_overview_charts_hover_in_browser(server, browser):
    """The Overview's Vega-Lite charts drawn in the browser, their hover giving what the figure needs: the Kaplan-Meier
    step's number at risk, the week's n, the clinic's interval against the published figures, a quarter's n."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Outcome overview')", timeout=60_000)
    use_the_sample(page)  # an earlier test may have imported a file without dates (no quarters chart) by now
    wait_until_settled(page, charts=4)
    tooltip = page.locator("#vg-tooltip-element")
    for i, words in enumerate([("Day", "Reached", "At risk"), ("Week", "Mean PHQ-9", "n (patients)"),
                               ("This clinic (95% CI)", "95% CI", "n"), ("Quarter", "Rate", "n")]):
        chart = page.locator("[data-testid='stVegaLiteChart'] svg.marks").nth(i)
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        # the nearest point to the pointer shows its tooltip: anywhere over the plot finds one
        chart.hover(position={"x": box["width"] * 0.55, "y": box["height"] * 0.55})
        expect(tooltip).to_be_visible(timeout=30_000)
        for word in words:
            expect(tooltip).to_contain_text(word, timeout=30_000)
        page.mouse.move(0, 0)
        expect(tooltip).to_be_hidden(timeout=30_000)
    assert not errors, errors
    page.close()


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


def test_safety_worklist_patient_marked_reviewed(browser):
    """The director opens the Safety worklist, follows a patient to their Patient page, and marks them reviewed."""
    from analytics import load_questionnaires
    from analytics.safety import safety_worklist

    first = str(safety_worklist(load_questionnaires(ROOT / "sample_data" / "sample_clinic.csv"))["patient_id"].iloc[0])
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
    # its own store, so the sample is shown whatever ran before
    with fresh_store("browser-safety.sqlite") as store:
        env["OUTCOMES_DB"] = str(store.relative_to(ROOT))
        with serve_dashboard(env=env) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            mark_reviewed_from_worklist(page, url, first, "called, safety plan reviewed")
            expect(page.get_by_role("combobox", name="Patient", exact=True)).not_to_have_value(first)  # the next one
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "safety_reviewed.png"), full_page=True)
            page.goto(f"{url}/data", wait_until="domcontentloaded")  # on the audit trail
            page.wait_for_selector('td:has-text("safety review")', state="attached", timeout=60_000)
            assert not errors, errors
            page.close()


def test_director_loads_exports_through_the_mapping_screen(server, browser, tmp_path):
    """An EHR export with a title block above its headers, matched on screen and imported; then the EHR's
    totals-only flowsheet of the same visits (nothing stored is wiped), then a corrected total, previewed
    old -> new and accepted from the browser."""
    exports = ROOT / "tests" / "data" / "exports"
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/data", wait_until="domcontentloaded")
    page.wait_for_selector(f"text={FOOTER}", timeout=60_000)
    show_title_row_export(page, exports / "ehr_title_row.csv")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "data_mapping.png"), full_page=True)
    page.get_by_role("button", name="Check and import").click()
    page.wait_for_selector("text=now shows the clinic store", timeout=60_000)
    expect(page.get_by_text("ehr_title_row.csv: import").first).to_be_visible()
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=60_000)  # the rerun has finished
    page.screenshot(path=str(SHOTS / "data_imported.png"), full_page=False)

    upload(page, exports / "ehr_totals_only.csv")
    page.wait_for_selector("text=Preview: the first 5 of 6 rows as they will be read", timeout=60_000)
    page.get_by_role("button", name="Check and import").click()
    page.wait_for_selector("text=1 questionnaire(s) added, 5 already present, 0 corrected", timeout=60_000)

    fixed = tmp_path / "ehr_totals_corrected.csv"
    fixed.write_text((exports / "ehr_totals_only.csv").read_text().replace("W-0002,04/14/2026,4",
                                                                           "W-0002,04/14/2026,5"))
    upload(page, fixed)
    page.get_by_role("button", name="Check and import").click()
    accept = page.get_by_role("button", name="Accept these 1 correction(s) and import")
    accept.wait_for(timeout=60_000)
    expect(page.get_by_text("ehr_totals_corrected.csv refused: nothing was imported").first).to_be_visible()
    # the preview grid draws on a canvas; its cells exist for assistive technology
    page.wait_for_selector('td:has-text("PHQ-9 total: 4 → 5")', state="attached", timeout=30_000)
    expect(page.get_by_text("--accept-corrections")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "data_corrections.png"), full_page=False)
    accept.click()
    page.wait_for_selector("text=1 corrected", timeout=60_000)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    assert not errors, errors
    page.close()


def use_the_sample(page) -> None:
    """Show the synthetic sample whatever the module's store holds by now (earlier tests import into it)."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']", has_text="Data source")
    box.wait_for(timeout=60_000)
    if "Synthetic sample" not in box.inner_text():
        box.click()
        page.get_by_role("option", name="Synthetic sample").click()
    expect(page.get_by_text("Synthetic sample data").first).to_be_visible(timeout=60_000)


def test_instrument_choice_in_browser(server, browser):
    """The sidebar's outcome instrument: QIDS-SR16 chosen, the Overview's outcome figures and captions follow."""
    from analytics import clinic_summary, load_questionnaires
    from analytics.instruments import OUTCOME_SCALES

    scale = OUTCOME_SCALES["qids-sr16"]
    expected = clinic_summary(load_questionnaires(ROOT / "sample_data" / "sample_clinic.csv"), instrument="qids-sr16")
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Outcome overview')", timeout=60_000)
    use_the_sample(page)
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']", has_text="Outcome instrument").click()
    page.get_by_role("option", name="QIDS-SR16").click()
    expect(page.get_by_text("Outcomes at week 6 on the QIDS-SR16")).to_be_visible(timeout=60_000)
    # the caption names the instrument and its thresholds
    # (markdown draws >= and <= as the signs)
    label = scale.labels[0].replace(">=", "≥").replace("<=", "≤")
    expect(page.get_by_text(f"On the QIDS-SR16: {label}").first).to_be_attached(timeout=60_000)
    expect(page.get_by_text(f"Instrument: {scale.name}").first).to_be_attached(timeout=60_000)
    # the outcome table shows the engine's QIDS-SR16 response rate
    page.wait_for_selector(f'td:has-text("{expected.response.estimate * 100:.1f}%")', state="attached",
                           timeout=60_000)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=60_000)  # every element drawn
    wait_until_settled(page, charts=4)  # the screenshot shows the QIDS-SR16 run alone, its charts drawn
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview_qids.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_si_by_measure_in_browser(server, browser):
    """The Safety page's SI on PHQ-9 item 9 beside the C-SSRS screener: the engine's figures, the warning that the
    two are not interchangeable."""
    from analytics import load_questionnaires, patient_outcomes
    from analytics.safety import si_by_measure

    frame = load_questionnaires(ROOT / "sample_data" / "sample_clinic.csv")
    expected = si_by_measure(frame, patient_outcomes(frame)).set_index(["measure", "statistic"])
    cssrs = expected.loc[("C-SSRS screener", "SI at baseline")]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/safety", wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Suicidal-ideation review')", timeout=60_000)
    use_the_sample(page)
    heading = page.get_by_role("heading", name="SI at baseline and SI resolution, by measure")
    heading.wait_for(timeout=60_000)
    expect(page.get_by_text("are not interchangeable").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)
    # the C-SSRS row shows the engine's rate (the table's cells exist for assistive technology)
    page.wait_for_selector(f'td:has-text("{cssrs["estimate"] * 100:.1f}%")', state="attached", timeout=60_000)
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=60_000)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    heading.scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "safety_si_measures.png"))
    assert not errors, errors
    page.close()
