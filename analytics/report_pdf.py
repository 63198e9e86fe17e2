"""The quarterly report as PDF: the HTML report printed by a headless Chromium through Playwright.

Why this route: the PDF is the very HTML the board opens (same print CSS, the
SVG charts stay vectors), Playwright is maintained by Microsoft and already
drives the browser tests, and Chromium is the Debian package ``.ci/run``
installs for them; it works offline and never downloads a browser.  WeasyPrint
would need Pango from Debian and a second layout check, ReportLab a second
layout.  Where no Chromium (or Playwright) is found, :func:`pdf_status` says why
and the Export page and CLI say PDF is unavailable instead of failing.
"""
from __future__ import annotations

import html
import importlib.util
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import AnalyticsError

__all__ = ["PdfStatus", "pdf_status", "print_pdf", "PdfUnavailableError", "CHROMIUM_NAMES"]

#: Executables tried in order after ``$OUTCOMES_CHROMIUM``.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions"]
_TIMEOUT_MS = 120_000


class PdfUnavailableError(AnalyticsError):
    """No PDF can be made on this machine (no Chromium or no Playwright); the message says what to install."""


@dataclass(frozen=True)
class PdfStatus:
    """Whether a PDF can be printed here, with which browser, or why not."""

    available: bool
    chromium: str
    reason: str


def pdf_status() -> PdfStatus:
    """Find Playwright and a Chromium executable (``$OUTCOMES_CHROMIUM`` first)."""
    if importlib.util.find_spec("playwright") is None:  # optional: checked here, imported only to print
        return PdfStatus(False, "", "the Python package playwright is not installed (pip install playwright; it "
                                    "drives the system's Chromium and downloads nothing)")
    wanted = os.environ.get("OUTCOMES_CHROMIUM")
    if wanted:  # configured: that browser or none (a silent fallback would hide the mistake)
        found = shutil.which(wanted)
        return PdfStatus(True, found, "") if found else PdfStatus(
            False, "", f"$OUTCOMES_CHROMIUM ({wanted}) is not an executable; point it at a Chromium or Chrome "
                       "executable, or unset it to use chromium from the PATH")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return PdfStatus(True, found, "")
    return PdfStatus(False, "", "no Chromium browser found (install the Debian package chromium, as .ci/run does, "
                                "or set OUTCOMES_CHROMIUM to a Chromium or Chrome executable)")


def print_pdf(html_path, pdf_path, *, footer: str = "", status: PdfStatus | None = None) -> Path:
    """Print the HTML file ``html_path`` to ``pdf_path`` (A4, backgrounds, page numbers in the footer).

    Raises
    ------
    PdfUnavailableError
        No Chromium or Playwright here.
    """
    status = status or pdf_status()
    if not status.available:
        raise PdfUnavailableError(f"the PDF cannot be made on this machine: {status.reason}. The HTML report "
                                  "prints to PDF from any browser (File, Print).")
    pdf_path = Path(pdf_path)
    foot = (f'<div style="font-size:8px;width:100%;margin:0 14mm;color:#555;display:flex;'
            f'justify-content:space-between"><span>{html.escape(footer)}</span><span>page '
            '<span class="pageNumber"></span> of <span class="totalPages"></span></span></div>')
    # Playwright's sync API refuses to run where an asyncio loop is running (a caller's own Playwright, some
    # servers): a thread of its own has none
    with ThreadPoolExecutor(max_workers=1) as pool:
        failure = pool.submit(_print, Path(html_path), pdf_path, foot, status.chromium).result()
    if failure:
        pdf_path.unlink(missing_ok=True)
        raise PdfUnavailableError(f"the PDF could not be printed with {status.chromium} ({failure}). The HTML "
                                  "report prints to PDF from any browser (File, Print).")
    return pdf_path


def _print(html_path: Path, pdf_path: Path, footer: str, chromium: str) -> str:
    """Print in this thread; the first line of Playwright's error, or "" when the PDF was written."""
    from playwright.sync_api import Error as PlaywrightError  # optional dependency, found by pdf_status
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=_ARGS, timeout=_TIMEOUT_MS)
            try:
                page = browser.new_page()
                page.goto(html_path.resolve().as_uri(), wait_until="load", timeout=_TIMEOUT_MS)
                page.emulate_media(media="print")
                page.pdf(path=str(pdf_path), format="A4", print_background=True, prefer_css_page_size=True,
                         display_header_footer=True, header_template="<span></span>", footer_template=footer,
                         margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return ""
