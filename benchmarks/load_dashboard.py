"""Load benchmark: concurrent browser sessions on the dashboard while an import writes to the store.

    python benchmarks/load_dashboard.py [--sessions 20] [--seconds 120]

Everything stays on loopback.  A 10,000-patient store is served; SESSIONS
headless chromium pages (one browser, async Playwright) load the Overview again
and again until SECONDS have passed, while a second import of 3,000 new
patients runs against the same store.  Reports page loads, errors (target 0),
median and p95 page-ready time, and whether the store holds every row
afterwards.  Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


async def session(browser, url: str, deadline: float, times: list, errors: list) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            await page.goto(url, wait_until="domcontentloaded", timeout=120_000)
            await page.wait_for_function(
                "document.querySelectorAll(\"[data-testid='stPlotlyChart'] .main-svg, "
                "[data-testid='stVegaLiteChart'] svg.marks\").length >= 4", timeout=120_000)  # the Overview's charts
            if await page.locator("[data-testid='stException']").count():
                errors.append("exception element on the page")
            else:
                times.append(time.monotonic() - t0)
        except Exception as exc:  # counted, reported
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    await context.close()


async def drive(url: str, sessions: int, seconds: float) -> tuple[list, list]:
    from playwright.async_api import async_playwright

    times, errors = [], []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(session(browser, url, deadline, times, errors) for _ in range(sessions)))
        await browser.close()
    return times, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()

    from analytics import load_questionnaires
    from analytics.store import import_questionnaires
    from analytics.synthetic import synthetic_clinic

    tmp = Path(tempfile.mkdtemp())
    db = tmp / "clinic.sqlite"
    first, second = tmp / "first.csv", tmp / "second.csv"
    synthetic_clinic(args.patients, seed=7).to_csv(first, index=False)
    synthetic_clinic(3_000, seed=8).assign(patient_id=lambda f: "N" + f["patient_id"]).to_csv(second, index=False)
    import_questionnaires(first, db=db)
    expected = len(load_questionnaires(first)) + len(load_questionnaires(second))

    from app_pages.serving import serve_dashboard

    with serve_dashboard(env={**os.environ, "OUTCOMES_DB": str(db)}) as url:
        importer = subprocess.Popen([sys.executable, "-m", "analytics", "import", str(second), "--db", str(db)],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        times, errors = asyncio.run(drive(url, args.sessions, args.seconds))
        elapsed = time.monotonic() - t0
        out, err = importer.communicate(timeout=600)
    con = sqlite3.connect(db)
    stored = con.execute("SELECT count(*) FROM questionnaires").fetchone()[0]
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    arr = np.array(times) if times else np.array([np.nan])
    print(f"machine: {os.cpu_count()} cores; {args.sessions} concurrent browser sessions for {elapsed:.0f} s on a "
          f"{args.patients:,}-patient store, while importing 3,000 more patients")
    print(f"page loads: {len(times)}; errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"page-ready time: median {np.nanmedian(arr):.1f} s, p95 {np.nanpercentile(arr, 95):.1f} s")
    print(f"import during the load: exit {importer.returncode} ({out.strip().splitlines()[0] if out.strip() else err[-200:]})")
    print(f"store afterwards: {stored:,} questionnaires of {expected:,} expected; integrity {integrity}")


if __name__ == "__main__":
    main()
