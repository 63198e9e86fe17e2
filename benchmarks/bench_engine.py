"""Engine benchmark: the full summary end to end vs an equivalent DuckDB query.

    python benchmarks/bench_engine.py                 # 1,000,000 patients (~20M questionnaires)
    python benchmarks/bench_engine.py --patients 100000

Generates a registry-sized synthetic Parquet file once (benchmarks/out/,
git-ignored), then runs each side in its own process so that peak memory is
measured cleanly:

* engine: read + validate the file (every check on every cell of every column, as the
  CLI does; the canonical frame keeps the columns the summary reads, SUMMARY_COLUMNS) +
  spec v2 summary (first episodes) (baselines, endpoints, three rates with Wilson
  intervals, two Kaplan-Meier cumulative rates, benchmark comparisons); two threads
  where the work allows: the Parquet columns are read two at a time, the PHQ-9/GAD-7
  scores are checked in a second thread beside the patient, date and episode checks,
  and the patient outcomes are computed in blocks of whole patients, two at a time;
  the rest is one thread;
* duckdb: one SQL query of the same definitions on the same file (episodes from
  the start dates with the 30-day rule for blank ones, totals-only rows scored,
  first episodes, completer rates and Kaplan-Meier cumulative rates; no
  validation), all cores.

Prints both wall times, the ratio, each peak RSS, and checks that both sides
found the same counts.  Needs `pip install -r benchmarks/requirements.txt`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out"

DUCKDB_SQL = """
WITH raw AS (
  SELECT patient_id,
         CAST(assessment_date AS DATE) AS adate,
         CAST(treatment_start_date AS DATE) AS sdate,
         -- spec v2: scored when the total is known (all nine items, or phq9_total)
         coalesce({phq9_total},
                  phq9_1 + phq9_2 + phq9_3 + phq9_4 + phq9_5 + phq9_6 + phq9_7 + phq9_8 + phq9_9) AS total,
         phq9_9 AS item9
  FROM read_parquet($path)
),
starts AS (SELECT DISTINCT patient_id, sdate FROM raw WHERE sdate IS NOT NULL),
firsts AS (SELECT patient_id, min(sdate) AS first_start FROM starts GROUP BY patient_id),
labelled AS (  -- a blank start date: the latest start S with S <= date + 30 days, else the first start
  SELECT r.patient_id, r.total, r.item9, r.adate,
         coalesce(r.sdate, s.sdate, f.first_start) AS ep_start, f.first_start
  FROM raw r
  ASOF LEFT JOIN starts s ON r.patient_id = s.patient_id AND r.adate + 30 >= s.sdate
  LEFT JOIN firsts f ON r.patient_id = f.patient_id
),
q AS (  -- --episodes first: each patient's first episode, days from its start
  SELECT patient_id, adate - ep_start AS day, total, item9
  FROM labelled WHERE total IS NOT NULL AND ep_start = first_start
),
base AS (  -- one struct so a blank item 9 stays blank rather than being skipped
  SELECT patient_id, max(day) AS bday,
         arg_max(struct_pack(t := total, i := item9), day) AS b
  FROM q WHERE day BETWEEN -30 AND 0 GROUP BY patient_id
),
win AS (  -- closest to T = 42, ties to the earlier day
  SELECT patient_id,
         arg_min(struct_pack(t := total, i := item9), abs(day - 42) * 2 + CAST(day > 42 AS INTEGER)) AS e
  FROM q WHERE day > 0 AND day BETWEEN 35 AND 49 GROUP BY patient_id
),
pat AS (
  SELECT b.patient_id, b.bday, b.b.t AS btotal, b.b.i AS bitem9, w.e.t AS etotal, w.e.i AS eitem9,
         b.b.t >= 10 AS eligible, b.b.i >= 1 AS si
  FROM base b LEFT JOIN win w USING (patient_id)
),
fu AS (
  SELECT p.patient_id,
         min(CASE WHEN q.day > 0 AND q.day <= 42 AND 2 * q.total <= p.btotal THEN q.day END) AS first_resp,
         min(CASE WHEN q.day > 0 AND q.day <= 42 AND q.total < 5 THEN q.day END) AS first_rem,
         coalesce(max(CASE WHEN q.day > 0 THEN q.day END), 0) AS last_fu
  FROM pat p JOIN q USING (patient_id) WHERE p.eligible GROUP BY p.patient_id
),
surv AS (
  SELECT 'response' AS metric, coalesce(first_resp, last_fu) AS t, first_resp IS NOT NULL AS e FROM fu
  UNION ALL
  SELECT 'remission', coalesce(first_rem, last_fu), first_rem IS NOT NULL FROM fu
),
by_time AS (
  SELECT metric, t, sum(CAST(e AS INTEGER)) AS d, count(*) AS m FROM surv GROUP BY metric, t
),
risk AS (
  SELECT metric, t, d,
         sum(m) OVER (PARTITION BY metric ORDER BY t DESC ROWS UNBOUNDED PRECEDING) AS at_risk
  FROM by_time
),
km AS (
  SELECT metric, 1 - exp(sum(ln(1 - d / at_risk))) AS cumulative, sum(d) AS events
  FROM risk WHERE t <= 42 AND d > 0 AND d < at_risk GROUP BY metric
)
SELECT
  (SELECT count(DISTINCT patient_id) FROM read_parquet($path)) AS patients,
  (SELECT count(*) FILTER (WHERE eligible) FROM pat) AS eligible,
  (SELECT count(*) FILTER (WHERE eligible AND etotal IS NOT NULL) FROM pat) AS response_n,
  (SELECT count(*) FILTER (WHERE eligible AND 2 * etotal <= btotal) FROM pat) AS response_events,
  (SELECT count(*) FILTER (WHERE eligible AND etotal < 5) FROM pat) AS remission_events,
  (SELECT count(*) FILTER (WHERE si AND etotal IS NOT NULL AND eitem9 IS NOT NULL) FROM pat) AS si_n,
  (SELECT count(*) FILTER (WHERE si AND eitem9 = 0) FROM pat) AS si_events,
  (SELECT cumulative FROM km WHERE metric = 'response') AS cumulative_response,
  (SELECT cumulative FROM km WHERE metric = 'remission') AS cumulative_remission
"""


#: The canonical columns clinic_summary reads (patient_outcomes without attributes, and the counts; the
#: assessment dates only give days between episodes, which the summary does not report).
SUMMARY_COLUMNS = ("patient_id", "episode", "day", "phq9_9", "phq9_total", "complete", "infusion_number")


def ensure_file(patients: int, regenerate: bool) -> Path:
    path = OUT / f"registry_{patients}.parquet"
    if path.exists() and not regenerate:
        return path
    from analytics.synthetic import synthetic_clinic

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    frame = synthetic_clinic(patients, seed=2026, first_start="2016-01-01", booster_share=1.0,
                             boosters_mean=80, max_boosters=80, dates_as_text=False)
    frame.to_parquet(path, index=False, row_group_size=1_000_000)
    print(f"generated {path.name}: {len(frame):,} questionnaires from {patients:,} patients "
          f"in {time.perf_counter() - t0:.0f} s ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
    return path


def run_engine(path: Path) -> dict:
    from analytics import clinic_summary, validate_questionnaires

    t0, c0 = time.perf_counter(), time.process_time()
    # every cell of every column is validated; the canonical frame keeps the columns the summary reads
    report = validate_questionnaires(path, columns=SUMMARY_COLUMNS)
    report.raise_if_invalid()
    t_valid = time.perf_counter() - t0
    s = clinic_summary(report.frame, source=report.source, sha256=report.sha256, validation=report.counts)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": time.process_time() - c0, "validate_seconds": t_valid,
            "patients": s.patients, "eligible": s.eligible,
            "questionnaires": s.questionnaires,
            "response_n": s.response.n, "response_events": s.response.events,
            "remission_events": s.remission.events, "si_n": s.si_resolution.n, "si_events": s.si_resolution.events,
            "cumulative_response": s.cumulative_response.estimate,
            "cumulative_remission": s.cumulative_remission.estimate}


def run_duckdb(path: Path) -> dict:
    import duckdb

    t0, c0 = time.perf_counter(), time.process_time()
    con = duckdb.connect()
    columns = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()}
    total = "phq9_total" if "phq9_total" in columns else "CAST(NULL AS INTEGER)"  # files with items only
    row = con.execute(DUCKDB_SQL.replace("{phq9_total}", total), {"path": str(path)}).fetchone()
    names = [d[0] for d in con.description]
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": time.process_time() - c0, **dict(zip(names, row)), "threads": con.execute(
        "SELECT current_setting('threads')").fetchone()[0]}


def child(side: str, path: Path) -> None:
    result = run_engine(path) if side == "engine" else run_duckdb(path)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result, default=float))


def measure(side: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", side, str(path)], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the best time is reported")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    path = ensure_file(args.patients, args.regenerate)
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    engine = min((measure("engine", path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    print(f"engine: {engine['seconds']:.2f} s (read + validate {engine['validate_seconds']:.2f} s)", flush=True)
    duck = min((measure("duckdb", path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    print(f"machine: {os.cpu_count()} cores; file: {path.name} ({path.stat().st_size / 1e6:.0f} MB), "
          f"{engine['questionnaires']:,} questionnaires, {engine['patients']:,} patients")
    print(f"load average before the runs: {load_before}")
    print(f"engine (read + validate + summary): {engine['seconds']:.2f} s ({engine['cpu_seconds']:.1f} s of CPU), "
          f"peak RSS {engine['peak_rss_mb']:.0f} MB")
    print(f"  of which read + validate every cell: {engine['validate_seconds']:.2f} s; outcome summary from the "
          f"validated frame: {engine['seconds'] - engine['validate_seconds']:.2f} s")
    print(f"duckdb (one SQL query, {duck['threads']} threads): {duck['seconds']:.2f} s ({duck['cpu_seconds']:.1f} s of "
          f"CPU), peak RSS {duck['peak_rss_mb']:.0f} MB")
    # on a shared machine wall time depends on the other work; CPU time much less (the ratio of CPU times
    # understates DuckDB's use of several cores, so both are printed)
    print(f"ratio engine / duckdb: {engine['seconds'] / duck['seconds']:.2f} end to end "
          f"({engine['cpu_seconds'] / duck['cpu_seconds']:.2f} in CPU time); "
          f"{(engine['seconds'] - engine['validate_seconds']) / duck['seconds']:.2f} for the outcome computation alone")
    keys = ["patients", "eligible", "response_n", "response_events", "remission_events", "si_n", "si_events"]
    same = all(engine[k] == duck[k] for k in keys) and all(
        abs(engine[k] - duck[k]) < 1e-9 for k in ("cumulative_response", "cumulative_remission"))
    print("same figures on both sides:", "yes" if same else "NO")
    for k in keys + ["cumulative_response", "cumulative_remission"]:
        print(f"  {k:22} engine {engine[k]!s:>22}  duckdb {duck[k]!s:>22}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
