"""Quarterly report benchmark: how fast the HTML report opens in a real browser, and the PDF print.

    python benchmarks/bench_report.py [--patients 10000] [--repeat 5]

Builds the 2025Q4 report of the sample clinic and of a synthetic clinic of
``--patients`` patients (quarter 2026Q1), then opens each HTML file in Debian's
chromium through Playwright, a fresh page each time: wall time from navigation
to the load event (what a reader waits for; the charts are inline SVG, so they
are drawn by then), and the browser's own navigation timing.  Also the HTML
size and the time to print the PDF.  Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def open_times(browser, html: Path, repeat: int) -> tuple[list[float], list[float]]:
    """Wall seconds to the load event, and the browser's loadEventEnd (ms from navigation start)."""
    walls, loads = [], []
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        t0 = time.perf_counter()
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.chart svg').length >= 3")
        walls.append(time.perf_counter() - t0)
        loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
        page.close()
    return walls, loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which(CHROMIUM):
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does).")

    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    from analytics import load_questionnaires, validate_questionnaires
    from analytics.quarterly import quarterly_export, write_quarterly_export
    from analytics.synthetic import synthetic_clinic

    clinics = [("sample clinic (600 patients), 2025Q4", load_questionnaires(ROOT / "sample_data" /
                                                                          "sample_clinic.csv"), "2025Q4")]
    if args.patients:
        clinics.append((f"synthetic clinic ({args.patients:,} patients), 2026Q1",
                        validate_questionnaires(synthetic_clinic(args.patients, seed=7)).frame, "2026Q1"))
    print(f"machine: {os.cpu_count()} cores; chromium {CHROMIUM}; best and median of {args.repeat} fresh pages")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for name, frame, quarter in clinics:
            export = quarterly_export(frame, quarter=quarter, clinic_name="Benchmark Clinic")
            out = Path(tmp) / quarter
            t0 = time.perf_counter()
            files = {f.suffix: f for f in write_quarterly_export(export, out, formats=("html",))}
            t_html = time.perf_counter() - t0
            t0 = time.perf_counter()
            pdf = {f.suffix: f for f in write_quarterly_export(export, out / "pdf", formats=("pdf",))}[".pdf"]
            t_pdf = time.perf_counter() - t0
            walls, loads = open_times(browser, files[".html"], args.repeat)
            print(f"{name}: HTML {files['.html'].stat().st_size / 1e3:.0f} kB written in {t_html:.2f} s; "
                  f"opens in {min(walls):.3f} s best, {statistics.median(walls):.3f} s median (navigation to load "
                  f"event, charts drawn; browser loadEventEnd {min(loads):.0f} ms); PDF "
                  f"{pdf.stat().st_size / 1e3:.0f} kB, {len(PdfReader(pdf).pages)} pages, printed in {t_pdf:.2f} s")
        browser.close()


if __name__ == "__main__":
    main()
