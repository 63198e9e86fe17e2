"""Dashboard benchmark: first render and a filter change, sample clinic and a 10,000-patient store.

    python benchmarks/bench_dashboard.py [--patients 10000] [--repeat 3]

Server side (Streamlit AppTest, the whole script run): first full render of the
Overview with a cold cache, and a filter change (site) after it.  Browser
(Debian chromium, when installed): time from navigation until the Overview's
four charts are drawn, cold and warm.  Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def server_side(env: dict, repeat: int) -> tuple[float, float]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ.update(env)
    firsts, changes = [], []
    for _ in range(repeat):
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
        t0 = time.perf_counter()
        at.run()
        firsts.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
        site = at.sidebar.multiselect(key="filter_site")
        t0 = time.perf_counter()
        site.set_value(site.options[:1]).run()
        changes.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    return min(firsts), min(changes)


def browser_side(env: dict):
    if not shutil.which("/usr/bin/chromium"):
        return None
    from playwright.sync_api import sync_playwright

    from app_pages.serving import serve_dashboard

    with serve_dashboard(env={**os.environ, **env}) as url:
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
        times = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
            for _ in range(2):  # cold, then warm (cached) load
                page = browser.new_page(viewport={"width": 1400, "height": 1200})
                t0 = time.perf_counter()
                page.goto(url, wait_until="domcontentloaded")
                page.wait_for_selector("h1", timeout=300_000)
                heading = time.perf_counter() - t0
                page.wait_for_function(
                    "document.querySelectorAll(\"[data-testid='stPlotlyChart'] .main-svg\").length >= 4",
                    timeout=300_000)
                times.append((heading, time.perf_counter() - t0))
                page.close()
            browser.close()
        return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from analytics.store import import_questionnaires
    from analytics.synthetic import synthetic_clinic

    tmp = Path(tempfile.mkdtemp())
    big = tmp / "clinic.csv"
    frame = synthetic_clinic(args.patients, seed=7)
    frame.to_csv(big, index=False)
    db = tmp / "clinic.sqlite"
    t0 = time.perf_counter()
    result = import_questionnaires(big, db=db)
    print(f"machine: {os.cpu_count()} cores. Store: {args.patients:,} patients, {result.added:,} questionnaires "
          f"(import took {time.perf_counter() - t0:.1f} s)")
    setups = {"sample clinic (600 patients, CSV)": {"OUTCOMES_DB": str(tmp / "none.sqlite")},
              f"{args.patients:,}-patient store": {"OUTCOMES_DB": str(db)}}
    for name, env in setups.items():
        first, change = server_side(env, args.repeat)
        line = f"{name}: server side first render {first:.2f} s, filter change {change:.2f} s"
        b = browser_side(env)
        if b:
            (h0, c0), (h1, c1) = b
            line += (f"; browser: heading shown {h0:.2f} s / all four charts drawn {c0:.2f} s cold, "
                     f"{h1:.2f} s / {c1:.2f} s warm")
        print(line, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
