"""Dashboard benchmark: every page cold and warm, a filter change, the Patient page, and the browser's first chart.

    python benchmarks/bench_dashboard.py [--patients 10000] [--repeat 3]
    python benchmarks/bench_dashboard.py --patients 100000 --registry   # a store of the 100,000-patient registry
    python benchmarks/bench_dashboard.py --store PATH                     # an existing store (no import)

Wrap a 100,000-patient run in ``flock /work/bench/big.lock`` (it uses a few GB).

Server side (Streamlit AppTest, the whole script run, the process's imports already done):

* each page cold (every cache cleared) and warm (a new session, the caches kept); the Research page
  only with ``--pages`` (it fits a mixed model of every questionnaire when opened: minutes at 100,000);
* with a store, the Overview cold with the dashboard's disk cache of outcome tables emptied too (the first visitor
  after an import that did not prepare them), then after an import's preparation of them
  (:func:`analytics.outcome_cache.precompute_outcome_tables`, timed: what an import now costs extra), beside the
  cold figure that finds them (every in-memory cache cleared: a new server process);
* a filter change (one site) on the Overview: a site chosen for the first time, and chosen again in a new session;
* the Patient page for five patients anywhere in the registry (first, a third, middle, two thirds, last of the
  sorted pseudonyms), each typed into its search box, warm.

Browser (Debian chromium with Playwright, when installed): a fresh server, then the time from
navigation until the heading, the first chart and all four Overview charts are drawn (plotly's or Vega-Lite's),
cold (the server's first page) and warm (a returning visitor: ``--loads`` minus one loads, min and median); the
page's own timeline of a load (websocket, first and last message, heading, first chart, the main thread's long
tasks before the first chart); and what the chart libraries' scripts cost on a first visit (size, load time).
``--browser-only`` skips the server side.

The store is built by importing a synthetic CSV of ``--patients`` or, with ``--registry``, the
registry-sized Parquet file of the engine and store benchmarks (benchmarks/out/registry_N.parquet).
The load average (1 minute) is printed beside each part: the machine is shared.  Prints figures;
asserts nothing.
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

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PAGES = ["overview", "patient", "safety", "tolerability", "trajectories", "research", "export", "data"]
# The Research page fits a mixed model of every questionnaire on opening (minutes at 100,000 patients): measured
# only when asked (--pages), so that a registry-sized run stays minutes long.
DEFAULT_PAGES = [p for p in PAGES if p != "research"]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def clear_disk_cache(db: Path | None) -> None:
    """Remove the dashboard's disk cache of the store's outcome tables (a first visit after an import)."""
    if db is None:
        return
    from analytics.store_snapshot import snapshot_directory
    for folder in snapshot_directory(db).glob("*.dashboard-v*"):
        shutil.rmtree(folder, ignore_errors=True)


def server_side(env: dict, repeat: int, pages=tuple(DEFAULT_PAGES), patient_ids=(), db: Path | None = None) -> list[str]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ.update(env)
    app = str(ROOT / "dashboard.py")

    def page_run(page: str):
        at = AppTest.from_file(app, default_timeout=600)
        if page != "overview":
            at.switch_page(f"app_pages/{page}.py")
        return at

    def timed(run):
        t0 = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - t0
        assert not result.exception, result.exception
        return result, seconds

    lines = []
    if db is not None:  # a store: the Overview as the first visitor after an import finds it (no disk cache either)
        first = []
        for _ in range(repeat):
            st.cache_data.clear()
            st.cache_resource.clear()
            clear_disk_cache(db)
            first.append(timed(page_run("overview").run)[1])
        lines.append(f"  overview      cold, the disk cache of outcome tables emptied too: {min(first):6.2f} s   "
                     f"({load()})")
        # what an import now does once it has committed: the Overview's tables computed in its process, so the
        # first visitor after it finds them (the import's extra time, then that visit)
        from analytics.outcome_cache import precompute_outcome_tables
        prepare, after = [], []
        for _ in range(repeat):
            st.cache_data.clear()
            st.cache_resource.clear()
            clear_disk_cache(db)
            t0 = time.perf_counter()
            precompute_outcome_tables(db)
            prepare.append(time.perf_counter() - t0)
            st.cache_data.clear()
            st.cache_resource.clear()
            after.append(timed(page_run("overview").run)[1])
        lines.append(f"  overview      first visit after an import that prepared its tables: {min(after):6.2f} s "
                     f"(the import's extra time: {min(prepare):.2f} s, its store read included)   ({load()})")
    for page in pages:
        cold, warm = [], []
        for _ in range(repeat):
            st.cache_data.clear()
            st.cache_resource.clear()
            cold.append(timed(page_run(page).run)[1])
            warm.append(timed(page_run(page).run)[1])
        lines.append(f"  {page:13} cold {min(cold):6.2f} s   warm {min(warm):6.2f} s   ({load()})")

    # a site chosen for the first time (nothing of that cohort cached), then again in a new session (cached)
    at = page_run("overview").run()
    sites = list(at.sidebar.multiselect(key="filter_site").options)
    firsts, agains = [], []
    for i in range(min(repeat, len(sites))):
        at = page_run("overview").run()
        firsts.append(timed(lambda: at.sidebar.multiselect(key="filter_site").set_value(sites[i:i + 1]).run())[1])
        at = page_run("overview").run()
        agains.append(timed(lambda: at.sidebar.multiselect(key="filter_site").set_value(sites[i:i + 1]).run())[1])
    lines.append(f"  filter change (one site), Overview: first time {min(firsts):.2f} s (slowest {max(firsts):.2f} s "
                 f"of {len(firsts)} sites), again {min(agains):.2f} s   ({load()})")

    at = page_run("patient").run()
    times = []
    for pid in patient_ids:  # typed into the search box: an exact pseudonym opens that patient
        at, seconds = timed(lambda: at.text_input(key="patient_search").input(pid).run())
        assert at.selectbox(key="patient").value == pid, (pid, at.selectbox(key="patient").value)
        times.append(seconds)
    if times:
        lines.append(f"  Patient page, {len(times)} patients (pseudonym typed in the search box): "
                     + ", ".join(f"{t:.2f}" for t in times) + f" s; slowest {max(times):.2f} s   ({load()})")
    return lines


# A chart drawn: plotly's SVG (the other pages) or Vega-Lite's (the Overview's four charts: app_pages/overview_charts.py)
CHART = "[data-testid='stPlotlyChart'] .main-svg, [data-testid='stVegaLiteChart'] svg.marks"
FIRST_CHART = f"document.querySelector(\"{CHART}\") !== null"
ALL_CHARTS = f"document.querySelectorAll(\"{CHART}\").length >= 4"
# the chart libraries' chunks (plotly.js; vega-embed with Vega and Vega-Lite) and any other script over 2 MB
CHART_JS = """() => performance.getEntriesByType('resource')
    .filter(e => /PlotlyChart|VegaLite|embed\\./.test(e.name) || /\\.js$/.test(e.name) && e.encodedBodySize > 2000000)
    .map(e => ({name: e.name.split('/').pop(), bytes: e.encodedBodySize, decoded: e.decodedBodySize,
                start: e.startTime, ms: e.duration}))"""
# Where the time to the first chart goes, recorded in the page from navigation start: the websocket to the server,
# its first and last message (the script's elements), the heading, the first chart, and the main thread's long
# tasks (> 50 ms: script evaluation such as a chart library's) before the first chart.
TIMELINE = """(() => {
  const T = window.__timeline = {wsOpen: null, firstMessage: null, lastMessage: null, heading: null, chart: null,
                                 longTasks: []};
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('open', () => { T.wsOpen = performance.now(); });
    ws.addEventListener('message', () => { T.lastMessage = performance.now(); T.firstMessage ??= T.lastMessage; });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  new PerformanceObserver(list => { for (const e of list.getEntries()) T.longTasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
  new MutationObserver(() => {
    T.heading ??= document.querySelector('h1') ? performance.now() : null;
    T.chart ??= document.querySelector("%s") ? performance.now() : null;
  }).observe(document, {childList: true, subtree: true});
})();""" % CHART.replace('"', '\\"')
READ_TIMELINE = """() => { const T = window.__timeline, n = performance.getEntriesByType('navigation')[0];
    return {...T, dcl: n.domContentLoadedEventEnd,
            busy: T.longTasks.filter(([s]) => T.chart === null || s < T.chart).reduce((a, [, d]) => a + d, 0)}; }"""


def browser_side(env: dict, loads: int = 3):
    """(heading, first chart, all charts) seconds of each load (the first cold), the page's own timeline of each
    load, and the chart libraries' resource timings of the first."""
    if not shutil.which(CHROMIUM):
        return None
    from playwright.sync_api import sync_playwright

    from app_pages.serving import serve_dashboard

    with serve_dashboard(env={**os.environ, **env}, timeout=120) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # one browser profile: the first load is a first visit (nothing cached anywhere); the later ones are a
        # returning visitor's (the browser's cache of the dashboard's scripts, the server's caches)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(TIMELINE)
        times, timelines, libraries = [], [], None
        for i in range(loads):
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("h1", timeout=600_000)
            heading = time.perf_counter() - t0
            page.wait_for_function(FIRST_CHART, timeout=600_000, polling="raf")
            first = time.perf_counter() - t0
            page.wait_for_function(ALL_CHARTS, timeout=600_000, polling="raf")
            times.append((heading, first, time.perf_counter() - t0))
            timelines.append(page.evaluate(READ_TIMELINE))
            if i == 0:
                libraries = page.evaluate(CHART_JS)
            page.close()
        browser.close()
    return times, timelines, libraries


def timeline_text(t: dict) -> str:
    def at(key):
        return "-" if t.get(key) is None else f"{t[key] / 1000:.2f}"
    return (f"page loaded {at('dcl')}, websocket open {at('wsOpen')}, first message {at('firstMessage')}, heading "
            f"{at('heading')}, last message {at('lastMessage')}, first chart {at('chart')} s; main thread in long "
            f"tasks before the first chart {t['busy'] / 1000:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--registry", action="store_true",
                        help="import the registry-sized Parquet file of the engine benchmark instead of a CSV")
    parser.add_argument("--store", type=Path, help="an existing store to measure (nothing is imported)")
    parser.add_argument("--no-browser", action="store_true", help="server side only")
    parser.add_argument("--browser-only", action="store_true", help="the browser's figures only (no server side)")
    parser.add_argument("--loads", type=int, default=6,
                        help="browser page loads: the first cold (a fresh server), the rest warm")
    parser.add_argument("--no-sample", action="store_true", help="skip the sample clinic's figures")
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=DEFAULT_PAGES,
                        help="pages to time cold and warm (default: all but Research)")
    args = parser.parse_args()

    from analytics.store import import_questionnaires

    tmp = Path(tempfile.mkdtemp())
    print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {load()}", flush=True)
    if args.store:
        db = args.store.resolve()
        print(f"Store: {db} (as it is)", flush=True)
    else:
        if args.registry:
            from bench_store import registry_file

            big = registry_file(args.patients)
        else:
            from analytics.synthetic import synthetic_clinic

            big = tmp / "clinic.csv"
            synthetic_clinic(args.patients, seed=7).to_csv(big, index=False)
        db = tmp / "clinic.sqlite"
        t0 = time.perf_counter()
        result = import_questionnaires(big, db=db)
        print(f"Store: {args.patients:,} patients, {result.added:,} questionnaires "
              f"(import took {time.perf_counter() - t0:.1f} s)", flush=True)
    from analytics.store import read_store

    frame = read_store(db).frame  # the snapshot is current: what every dashboard read finds
    name = f"{frame['patient_id'].nunique():,}-patient store ({len(frame):,} questionnaires)"
    ids = sorted(pd.unique(frame["patient_id"].astype("str")))
    del frame
    # the first, middle and last pseudonyms and two more: anywhere in the registry, not only the list's first 1,000
    picks = [ids[0], ids[len(ids) // 3], ids[len(ids) // 2], ids[(2 * len(ids)) // 3], ids[-1]]
    setups = {} if args.no_sample else {"sample clinic (600 patients, CSV)": ({"OUTCOMES_DB": str(tmp / "none.sqlite")},
                                                                             None, ())}
    setups[name] = ({"OUTCOMES_DB": str(db)}, db, picks)
    for label, (env, store, patient_ids) in setups.items():
        if not args.browser_only:
            print(f"{label}, server side (min of {args.repeat}):", flush=True)
            for line in server_side(env, args.repeat, args.pages, patient_ids, store):
                print(line, flush=True)
        b = None if args.no_browser else browser_side(env, max(2, args.loads))
        if b:
            times, timelines, libraries = b
            (h0, f0, a0), warm = times[0], times[1:]
            low = [min(t[k] for t in warm) for k in range(3)]
            mid = [statistics.median(t[k] for t in warm) for k in range(3)]
            print(f"  browser, Overview cold (a fresh server): heading {h0:.2f} s, first chart {f0:.2f} s, all four "
                  f"charts {a0:.2f} s   ({load()})", flush=True)
            print(f"  browser, Overview warm (a returning visitor, {len(warm)} loads): heading {low[0]:.2f} s "
                  f"(median {mid[0]:.2f}), first chart {low[1]:.2f} s (median {mid[1]:.2f}), all four {low[2]:.2f} s "
                  f"(median {mid[2]:.2f})   ({load()})", flush=True)
            print(f"    cold, in the page: {timeline_text(timelines[0])}", flush=True)
            fastest = min(range(1, len(times)), key=lambda i: times[i][1])
            print(f"    warm (fastest first chart), in the page: {timeline_text(timelines[fastest])}", flush=True)
            for r in libraries or []:
                print(f"  browser, {r['name']}: {r['bytes'] / 1e6:.2f} MB sent ({r['decoded'] / 1e6:.2f} MB "
                      f"unpacked), requested at {r['start'] / 1000:.2f} s, loaded in {r['ms'] / 1000:.2f} s", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
