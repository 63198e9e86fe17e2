"""Interaction benchmark: what a director feels in the browser on the sample clinic.

    python benchmarks/bench_interactions.py [--repeat 5] [--root PATH]

Serves the dashboard (the sample clinic, no store) on a free loopback port and
drives Debian's chromium with Playwright through one session:

* choosing a patient on the Patient page,
* changing a filter (site) on the Overview,
* changing the analysis mode on the Overview,
* opening the Research page again (warm: the session has been there before),
* opening the Safety page again.

Each time runs from the click or keypress until the page's run has finished and
what it shows has changed: the script state is "not running", no element is
stale (greyed out while a run is under way), the text that proves the change is
on the page, and the page's charts are drawn.  The median of ``--repeat`` goes
to stdout.  ``--root`` serves another checkout's dashboard.py (a before/after
comparison on one machine).  Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 300_000

# the run has finished and nothing on the page is left over from the run before
SETTLED = """([text, charts, metric]) => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
    if (document.querySelector("[data-stale='true']")) return false;
    if (text && !document.body.innerText.includes(text)) return false;
    const first = document.querySelector("[data-testid='stMetricValue']");
    if (metric && (!first || first.innerText.trim() !== metric)) return false;
    // a chart drawn: plotly's SVG, or Vega-Lite's (the Overview's charts)
    return document.querySelectorAll(
        "[data-testid='stPlotlyChart'] .main-svg, [data-testid='stVegaLiteChart'] svg.marks").length >= charts;
}"""


def serve(root: Path, env: dict):
    from app_pages.serving import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(root / "dashboard.py"), "--server.port",
                             str(port), "--server.headless", "true"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the dashboard did not start") from None
            time.sleep(0.5)


def settle(page, text: str = "", charts: int = 0, metric: str = "") -> None:
    """Wait until the run has finished, ``text`` is shown, ``charts`` are drawn and the first metric reads
    ``metric``."""
    page.wait_for_function(SETTLED, arg=[text, charts, metric], timeout=TIMEOUT_MS, polling=20)


SERVER_PID: list[int] = []  # the dashboard's process, whose CPU time each interaction costs
CPU: dict[str, list[float]] = {}


def server_cpu() -> float:
    """CPU seconds (user + system, all threads) the dashboard's process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{SERVER_PID[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(page, action, text: str = "", charts: int = 0, metric: str = "", name: str = "") -> float:
    c0, t0 = server_cpu(), time.perf_counter()
    action()
    settle(page, text, charts, metric)
    elapsed = time.perf_counter() - t0
    if name:
        CPU.setdefault(name, []).append(server_cpu() - c0)
    return elapsed


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (the way a user does: open, type, Enter)."""
    box = page.get_by_label(label, exact=True)
    box.click()
    box.fill(option)
    page.keyboard.press("Enter")


def go(page, url: str, heading: str, charts: int) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(f"h1:has-text('{heading}')", timeout=TIMEOUT_MS)
    settle(page, "does not give clinical advice", charts)


def navigate(page, name: str, heading: str, charts: int, key: str = "") -> float:
    """Open a page from the sidebar navigation (same session, as a user does)."""
    def click():
        page.locator("[data-testid='stSidebarNav'] a", has_text=name).first.click()
        page.wait_for_selector(f"h1:has-text('{heading}')", timeout=TIMEOUT_MS)
    return timed(page, click, "does not give clinical advice", charts, name=key)


def run(root: Path, repeat: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    from analytics import load_questionnaires, patient_outcomes

    sample = load_questionnaires(ROOT / "sample_data" / "sample_clinic.csv")
    patients = patient_outcomes(sample)
    with_base = patients[patients["baseline_total"].notna()]
    # two patients whose baselines differ, so the page shows which one it drew
    a = with_base.iloc[0]
    b = with_base[with_base["baseline_total"] != a["baseline_total"]].iloc[0]
    tmp = Path(tempfile.mkdtemp())
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
    env["OUTCOMES_DB"] = str(tmp / "none.sqlite")
    proc, url = serve(root, env)
    SERVER_PID[:] = [proc.pid]
    times: dict[str, list[float]] = {k: [] for k in ("patient", "filter", "mode", "research", "safety")}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            go(page, f"{url}/patient", "Patient course", 1)
            for i in range(repeat + 1):  # the first round warms the caches and is not counted
                results = {}
                for who in (b, a):
                    results.setdefault("patient", []).append(timed(
                        page, lambda: choose(page, "Patient (pseudonym)", str(who["patient_id"])),
                        "", 1, str(int(who["baseline_total"])), name="patient"))
                go(page, url, "Outcome overview", 4) if i == 0 else navigate(page, "Overview", "Outcome overview", 4)
                site = page.get_by_label("Site", exact=True)
                results["filter"] = [timed(page, lambda: (site.click(), page.keyboard.type("North"),
                                                          page.keyboard.press("Enter")), "site: North", 4, name="filter")]
                results["mode"] = [timed(page, lambda: choose(page, "Analysis mode", "Intention to treat"),
                                         "intention to treat, first", 4, name="mode")]
                # back to the defaults, so every round measures the same change
                choose(page, "Analysis mode", "Completers")
                settle(page, "completers, first", 4)
                page.locator("[data-testid='stMultiSelect'] [aria-label*='Remove']").first.click()
                settle(page, "Cohort: All dates.", 4)
                results["research"] = [navigate(page, "Research", "Research cohort review", 3, "research")]
                results["safety"] = [navigate(page, "Safety", "Suicidal-ideation review", 0, "safety")]
                navigate(page, "Patient", "Patient course", 1)
                if i:
                    for k, v in results.items():
                        times[k] += v
                else:  # the warm-up round's CPU figures are not counted either
                    CPU.clear()
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return times


LABELS = {"patient": "choose a patient (Patient page)", "filter": "change a filter: site (Overview)",
          "mode": "change the analysis mode (Overview)", "research": "open the Research page again (warm)",
          "safety": "open the Safety page again (warm)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose dashboard.py is served")
    args = parser.parse_args()
    if not shutil.which(CHROMIUM):
        sys.exit(f"{CHROMIUM} is not installed: this benchmark needs a real browser.")
    times = run(args.root.resolve(), args.repeat)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}; sample clinic; {args.root.resolve()}")
    print(f"median (min-max) of {args.repeat}: browser time from the action until the page's run has finished and "
          "its charts are drawn; server CPU seconds the dashboard process spent on it (less sensitive to load)")
    for key, label in LABELS.items():
        v, c = times[key], CPU.get(key, [float("nan")])
        print(f"  {label:<42} {statistics.median(v):5.2f} s ({min(v):.2f}-{max(v):.2f}); server CPU "
              f"{statistics.median(c):.2f} s", flush=True)


if __name__ == "__main__":
    main()
