"""What the real-browser test modules share: where chromium and the screenshots are, a fresh store under the
git-ignored data/, choosing a file on the Data page, and screenshots of a PDF's pages in chromium's viewer."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# --headless=new: the full browser, whose PDF viewer draws the PDF's pages for the screenshot
PDF_VIEWER_ARGS = ["--headless=new", *CHROMIUM_ARGS[1:]]
# screenshots go to the git-ignored data/ (running the tests changes no tracked file);
# `make screenshots` points this at docs/screenshots to refresh the ones in the README
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "data" / "screenshots")
FOOTER = "does not give clinical advice"  # the last line every page draws: its run has finished

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "FOOTER", "PDF_VIEWER_ARGS", "SHOTS", "build_report_on_export_page",
           "download_report", "fresh_store", "mark_reviewed_from_worklist", "pdf_page_screenshot", "settled_screenshot",
           "show_title_row_export", "upload"]


def _remove_store(store: Path) -> None:
    for leftover in store.parent.glob(store.name + "*"):  # the file, its WAL and its snapshots folder
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()


@contextmanager
def fresh_store(name: str):
    """An empty store ``data/<name>`` (relative to the repository, so screenshots show the same path on every
    machine), removed before and after."""
    store = ROOT / "data" / name
    _remove_store(store)
    try:
        yield store
    finally:
        _remove_store(store)


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


def settled_screenshot(page, path: Path) -> None:
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


def pdf_page_screenshot(context, pdf: Path, number: int, path: Path) -> None:
    """Page ``number`` of ``pdf`` as chromium's viewer draws it (a browser launched with PDF_VIEWER_ARGS);
    a fresh tab per page: the viewer reads #page= when it opens the file."""
    page = context.new_page()
    page.set_viewport_size({"width": 1000, "height": 1300})
    page.goto(f"{pdf.as_uri()}#page={number}", wait_until="load")
    settled_screenshot(page, path)
    page.close()


# ----------------------------------------------------------------------------- the director's steps, shared

def _expect():
    from playwright.sync_api import expect  # imported here: the modules skip themselves where playwright is absent
    return expect


def show_title_row_export(page, path: Path) -> None:
    """Choose the EHR export with a title block (tests/data/exports/ehr_title_row.csv) on the Data page and wait
    for the mapping screen: the header row found on line 4, the title shown, the rows previewed as read."""
    expect = _expect()
    upload(page, path)
    page.wait_for_selector("text=Preview: the first 5 of 8 rows as they will be read", timeout=60_000)
    expect(page.get_by_text("line 4 names the columns").first).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Row holding the column headers", exact=True)).to_have_value("4", timeout=30_000)
    expect(page.get_by_text("Westlake Ketamine Clinic - PHQ-9 Flowsheet").first).to_be_visible()


def mark_reviewed_from_worklist(page, url: str, patient: str, note: str) -> None:
    """On the Safety page: the patient first on the to-review list, opened on their Patient page, back, marked
    reviewed with a note, and gone from the list (the next patient chosen)."""
    expect = _expect()
    page.goto(f"{url}/safety", wait_until="domcontentloaded")
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("not an alerting service")).to_be_visible()
    page.wait_for_selector(f'td:has-text("{patient}")', state="attached", timeout=60_000)  # in the worklist
    expect(page.get_by_role("combobox", name="Patient", exact=True)).to_have_value(patient)  # chosen first
    page.get_by_role("button", name="Open their Patient page").click()
    page.wait_for_selector("h1:has-text('Patient course')", timeout=60_000)
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("combobox", name="Patient (pseudonym)")).to_have_value(patient, timeout=30_000)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Safety").first.click()
    page.wait_for_selector("h1:has-text('Suicidal-ideation review')", timeout=60_000)
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)
    field = page.get_by_role("textbox", name="Note")
    field.fill(note)
    field.press("Tab")  # the text area sends its value when it loses focus
    expect(page.get_by_role("button", name="Mark reviewed")).to_be_enabled(timeout=30_000)
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_text(f"Patient {patient} marked reviewed.")).to_be_visible(timeout=60_000)
    expect(page.locator(f'td:has-text("{patient}")')).to_have_count(0, timeout=60_000)  # off the to-review list
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def build_report_on_export_page(page, url: str, clinic: str) -> None:
    """On the Export page: the clinic's name saved, the release (suppressed) export built with its PDF, the
    report's summary shown and the run finished."""
    expect = _expect()
    page.goto(f"{url}/export", wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Quarterly export')", timeout=60_000)
    name = page.get_by_role("textbox", name="Clinic name printed at the top of the report")
    name.fill(clinic)
    page.get_by_role("button", name="Save the clinic name").click()
    expect(page.get_by_text("Saved: the report is now headed")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("checkbox", name="Internal version for the director", exact=False)).not_to_be_checked()
    page.get_by_role("button", name="Build the export").click()
    expect(page.get_by_text("files ready")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("The report's summary")).to_be_visible()


def download_report(page, suffix: str, folder: Path) -> Path:
    """Download ``report_<quarter><suffix>`` from the built export's buttons into ``folder``."""
    import re

    expect = _expect()
    button = page.get_by_role("button", name=re.compile(rf"^report_\d{{4}}Q\d\{suffix}$"))
    expect(button).to_have_count(1, timeout=60_000)
    saved = folder / button.inner_text().strip()
    with page.expect_download() as download:
        button.click()
    download.value.save_as(saved)
    return saved
