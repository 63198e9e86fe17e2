"""Network load benchmark: two dashboard servers sharing one PostgreSQL store, while three sites import at once.

    python benchmarks/load_network.py [--sessions 20] [--seconds 120] [--patients 10000] [--site-patients 1000]
                                      [--page-timeout 300]

Everything stays on loopback.  A PostgreSQL server of its own is started (as the tests do:
tests/pg_fixtures.py; Debian's postgresql package), a PATIENTS-patient store is imported into it, and two
dashboard servers are started with the same ``OUTCOMES_DB`` URL.  SESSIONS headless chromium pages (one
browser, async Playwright), spread evenly over the two servers, load the Overview again and again until
SECONDS have passed, while three import processes (three sites, SITE_PATIENTS new patients each) start at
the same moment against the same store.  Reports page loads, errors (target 0), median and p95 page-ready
time per server and overall, each import's exit and wait, and afterwards whether the store holds every row
and its audit chain verifies.  Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from load_dashboard import ARGS  # noqa: E402

#: page ready = all four Overview charts drawn (as in benchmarks/load_dashboard.py)
READY = ("document.querySelectorAll(\"[data-testid='stPlotlyChart'] .main-svg, "
         "[data-testid='stVegaLiteChart'] svg.marks\").length >= 4")


async def session(browser, url: str, deadline: float, timeout_s: float, times: list, errors: list) -> None:
    """Load the Overview again and again until the deadline; each load is timed or its error counted."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            await page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
            await page.wait_for_function(READY, timeout=timeout_s * 1000)
            if await page.locator("[data-testid='stException']").count():
                errors.append("exception element on the page")
            else:
                times.append(time.monotonic() - t0)
        except Exception as exc:  # counted, reported
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    await context.close()


async def drive(urls: list[str], sessions: int, seconds: float, timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    results = {url: ([], []) for url in urls}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(session(browser, urls[i % len(urls)], deadline, timeout_s,
                                       *results[urls[i % len(urls)]]) for i in range(sessions)))
        await browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--site-patients", type=int, default=1_000)
    parser.add_argument("--page-timeout", type=float, default=300,
                        help="seconds one page load may take before it counts as an error (default 300)")
    args = parser.parse_args()

    from analytics import load_questionnaires
    from analytics.audit import verify_audit
    from analytics.store import import_questionnaires, list_imports, open_store
    from analytics.synthetic import synthetic_clinic
    from app_pages.serving import serve_dashboard
    from pg_fixtures import PostgresServer

    tmp = Path(tempfile.mkdtemp())
    first = tmp / "first.csv"
    synthetic_clinic(args.patients, seed=7).to_csv(first, index=False)
    sites = []
    for n, site in enumerate("ABC"):
        path = tmp / f"site_{site}.csv"
        synthetic_clinic(args.site_patients, seed=20 + n).assign(patient_id=lambda f, s=site: s + f["patient_id"]) \
            .to_csv(path, index=False)
        sites.append(path)
    expected = sum(len(load_questionnaires(f)) for f in [first, *sites])

    server = PostgresServer().start()
    try:
        db = server.url(server.new_database("network"))
        t0 = time.monotonic()
        import_questionnaires(first, db=db)
        first_import = time.monotonic() - t0
        env = {**os.environ, "OUTCOMES_DB": db}
        with serve_dashboard(env=env) as one, serve_dashboard(env=env) as two:
            importers = [subprocess.Popen([sys.executable, "-m", "analytics", "import", str(path), "--db", db],
                                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                         for path in sites]
            started = time.monotonic()
            results = asyncio.run(drive([one, two], args.sessions, args.seconds, args.page_timeout))
            elapsed = time.monotonic() - started
            finished = []
            for proc in importers:
                out, err = proc.communicate(timeout=1200)
                finished.append((proc.returncode, (out.strip() or err.strip()).splitlines()[-1][:110]))
        con = open_store(db, create=False)
        stored = con.execute("SELECT count(*) FROM questionnaires").fetchone()[0]
        distinct = con.execute("SELECT count(*) FROM (SELECT DISTINCT patient_id, occasion FROM questionnaires) "
                               "AS q").fetchone()[0]
        con.close()
        chain = verify_audit(db)
        history = list_imports(db)
    finally:
        server.stop()

    times = [t for ts, _ in results.values() for t in ts]
    errors = [e for _, es in results.values() for e in es]
    print(f"machine: {os.cpu_count()} cores; PostgreSQL on loopback; two dashboard servers; "
          f"{args.sessions} browser sessions for {elapsed:.0f} s on a {args.patients:,}-patient store "
          f"(first import {first_import:.0f} s), while 3 sites import {args.site_patients:,} patients each at once")
    def spread(ts):
        return (f"page-ready median {np.median(ts):.1f} s, p95 {np.percentile(ts, 95):.1f} s" if ts
                else "no page became ready")
    for name, (ts, es) in zip(("server 1", "server 2"), results.values()):
        print(f"  {name}: {len(ts)} page loads, {len(es)} errors, {spread(ts)}")
    print(f"all: page loads {len(times)}; errors {len(errors)}" + (f" (first: {errors[0]})" if errors else "")
          + f"; {spread(times)}")
    for path, (code, line) in zip(sites, finished):
        print(f"  import {path.name}: exit {code}: {line}")
    print(f"store afterwards: {stored:,} questionnaires of {expected:,} expected ({distinct:,} distinct, so none "
          f"duplicated); {len(history)} imports recorded; audit chain: {chain.to_text()}")


if __name__ == "__main__":
    main()
