"""Dashboard benchmark: first render, a filter change and the Patient page, sample clinic and a large store.

    python benchmarks/bench_dashboard.py [--patients 10000] [--repeat 3]
    python benchmarks/bench_dashboard.py --patients 100000 --registry   # the 100,000-patient registry file

Server side (Streamlit AppTest, the whole script run): first full render of the
Overview with a cold cache and again warm (a new session, the cache kept), a
filter change (site) after it, then the Patient page and a change of patient.
Browser (Debian chromium, when installed): time from navigation until the
Overview's four charts are drawn, cold and warm.  Prints figures; asserts nothing.

The store is built by importing either a synthetic CSV of ``--patients`` (the
default below 100,000) or, with ``--registry``, the registry-sized Parquet file of
the engine and store benchmarks (benchmarks/out/registry_N.parquet).
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
sys.path.insert(0, str(ROOT / "benchmarks"))


def server_side(env: dict, repeat: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ.update(env)
    runs: dict[str, list[float]] = {"first render, cold": [], "first render, warm": [], "filter change": [],
                                    "patient page": [], "another patient": []}

    def timed(name, action):
        t0 = time.perf_counter()
        result = action()
        runs[name].append(time.perf_counter() - t0)
        assert not result.exception, result.exception
        return result

    for _ in range(repeat):
        st.cache_data.clear()
        timed("first render, cold", AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600).run)
        at = timed("first render, warm", AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600).run)
        site = at.sidebar.multiselect(key="filter_site")
        timed("filter change", lambda: site.set_value(site.options[:1]).run())
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600).run()
        at = timed("patient page", lambda: at.switch_page("app_pages/patient.py").run())
        box = at.selectbox(key="patient")
        other = next(o for o in box.options[len(box.options) // 2:] if o != box.value)
        timed("another patient", lambda: box.set_value(other).run())
    return {name: min(values) for name, values in runs.items()}


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
    parser.add_argument("--registry", action="store_true",
                        help="import the registry-sized Parquet file of the engine benchmark instead of a CSV")
    parser.add_argument("--no-browser", action="store_true", help="server side only")
    args = parser.parse_args()

    from analytics.store import import_questionnaires
    from analytics.synthetic import synthetic_clinic

    tmp = Path(tempfile.mkdtemp())
    if args.registry:
        from bench_store import registry_file

        big = registry_file(args.patients)
    else:
        big = tmp / "clinic.csv"
        synthetic_clinic(args.patients, seed=7).to_csv(big, index=False)
    db = tmp / "clinic.sqlite"
    t0 = time.perf_counter()
    result = import_questionnaires(big, db=db)
    print(f"machine: {os.cpu_count()} cores. Store: {args.patients:,} patients, {result.added:,} questionnaires "
          f"(import took {time.perf_counter() - t0:.1f} s)", flush=True)
    setups = {"sample clinic (600 patients, CSV)": {"OUTCOMES_DB": str(tmp / "none.sqlite")},
              f"{args.patients:,}-patient store": {"OUTCOMES_DB": str(db)}}
    for name, env in setups.items():
        server = server_side(env, args.repeat)
        line = f"{name}: server side " + ", ".join(f"{k} {v:.2f} s" for k, v in server.items())
        b = None if args.no_browser else browser_side(env)
        if b:
            (h0, c0), (h1, c1) = b
            line += (f"; browser: heading shown {h0:.2f} s / all four charts drawn {c0:.2f} s cold, "
                     f"{h1:.2f} s / {c1:.2f} s warm")
        print(line, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
