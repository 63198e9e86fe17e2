"""Store benchmark: import, re-import, and the summary read from the store against the same data read from a file.

    flock /work/bench/big.lock python benchmarks/bench_store.py   # 100,000 and 1,000,000 patients
    python benchmarks/bench_store.py --patients 100000

For each size, on the registry-sized synthetic Parquet file of the engine benchmark
(benchmarks/out/registry_N.parquet, generated once; git-ignored):

* import: the file into a new, empty store (validation, the check with the store, the
  SQLite transaction, the columnar snapshot);
* re-import: the same file again (nothing new; the store is unchanged);
* summary FILE: ``python -m analytics summary FILE.parquet`` (read + validate + summary);
* summary --db: ``python -m analytics summary --db STORE`` (the store's read path + summary);
* new patients: a file of 1,000 patients the store does not have (the first 1,000 of the registry
  under other ids) into the full store: a small import into a large store;
* last month: a clinic's weekly use.  A second store holds the registry without its last month of
  questionnaires (that import is timed too), then the last month is imported into it: new
  questionnaires of patients already in the store, and new patients.

Memory should follow the file, not the store: the two small imports are compared with the import of
the whole file.

Each step runs in its own process so that its peak memory (max RSS) is its own.  Prints wall
times, peak memory, and the store / file ratios (targets: import <= 15 s and re-import <= 5 s
at 100,000 patients; summary --db within 1.5x of summary FILE in time and memory), then all sizes side by side
in one table.  Asserts nothing; the figures go into README.

Besides wall time it prints each step's CPU time (user + system, all threads): on a shared,
loaded machine the wall time mostly measures the other processes, while the CPU time stays
close to what the step costs (the steps are single-threaded apart from Parquet reading and
writing, which may use both cores).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def child(step: str, path: Path, db: Path) -> None:
    t0 = time.perf_counter()
    if step.startswith("import") or step == "re-import":
        from analytics.store import import_questionnaires

        result = import_questionnaires(path, db=db, source_format="parquet")
        facts = {"added": result.added, "unchanged": result.unchanged}
    else:
        from analytics.cli import main

        argv = ["summary", "--format", "json", "--db", str(db)] if step == "summary --db" \
            else ["summary", "--format", "json", str(path)]
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(argv)
        facts = {"exit": code, "summary": json.loads(out.getvalue())}
    facts["seconds"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    facts["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    facts["peak_rss_mb"] = usage.ru_maxrss / 1024
    print(json.dumps(facts, default=str))


class StepFailed(Exception):
    """A step's process failed (e.g. killed for want of memory): the run reports it and what it did measure."""


def measure(step: str, path: Path, db: Path) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", step, str(path), str(db)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=ROOT)
    if out.returncode != 0:
        # the largest child so far includes this one: a lower bound of what it had reached
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        why = "killed (signal 9: out of memory?)" if out.returncode == -9 else f"exit {out.returncode}"
        raise StepFailed(f"{step} failed after {time.perf_counter() - t0:.0f} s, {why}; largest step process so far "
                         f"{peak:,.0f} MB\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _figures(summary: dict) -> dict:
    """The summary without what names its source (file name and hash, store fingerprint)."""
    return {k: v for k, v in summary.items() if k not in ("source", "validation")}


def registry_file(patients: int) -> Path:
    """The engine benchmark's file; taken from a shared folder (linked, not copied) when one exists there."""
    from bench_engine import OUT, ensure_file

    path = OUT / f"registry_{patients}.parquet"
    shared = Path(os.environ.get("REGISTRY_DIR", "/work/bench/data")) / path.name
    if not path.exists() and shared.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        path.symlink_to(shared)  # the shared file as it is (no copy of 100s of MB)
    return ensure_file(patients, regenerate=False)


#: The small imports into a large store: how many new patients, and the days of the last questionnaires.
NEW_PATIENTS = 1_000
LAST_DAYS = 31


def small_files(path: Path, tmp: Path) -> dict[str, Path]:
    """The files of the small imports, written into ``tmp``: 1,000 new patients (the registry's first under other
    ids), the registry without its last month, and that last month (Arrow only; nothing is validated here)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = pq.read_table(path, columns=["patient_id"])["patient_id"]
    first = pc.unique(ids).slice(0, NEW_PATIENTS)
    table = pq.read_table(path, filters=pc.field("patient_id").isin(first))
    renamed = pc.binary_join_element_wise("N", table["patient_id"].cast(pa.string()), "")
    out = {"new patients": tmp / "new_patients.parquet", "all but the last month": tmp / "all_but_last_month.parquet",
           "last month": tmp / "last_month.parquet"}
    pq.write_table(table.set_column(table.schema.get_field_index("patient_id"), "patient_id", renamed),
                   out["new patients"])
    dates = pq.read_table(path, columns=["assessment_date"])["assessment_date"]
    cut = pc.subtract(pc.max(dates), pa.scalar(LAST_DAYS * 86_400_000, pa.duration("ms")))
    pq.write_table(pq.read_table(path, filters=pc.field("assessment_date") <= cut), out["all but the last month"])
    pq.write_table(pq.read_table(path, filters=pc.field("assessment_date") > cut), out["last month"])
    return out


def run(patients: int) -> dict:
    path = registry_file(patients)
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    db = tmp / "clinic.sqlite"
    try:
        imp = measure("import", path, db)
        again = measure("re-import", path, db)
        from_file = measure("summary FILE", path, db)
        from_store = measure("summary --db", path, db)
        same = _figures(from_file["summary"]) == _figures(from_store["summary"])
        size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        files = small_files(path, tmp)
        new_patients = measure("import new patients", files["new patients"], db)
        month_db = tmp / "month.sqlite"
        before_month = measure("import all but the last month", files["all but the last month"], month_db)
        last_month = measure("import last month", files["last month"], month_db)
    except StepFailed as exc:
        print(f"\n{patients:,} patients: {exc}", flush=True)
        return {"patients": patients, "failed": str(exc).splitlines()[0]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{patients:,} patients: {path.name} ({path.stat().st_size / 1e6:.0f} MB), {imp['added']:,} "
          f"questionnaires; machine: {os.cpu_count()} cores; store with snapshot {size / 1e6:.0f} MB")
    load = os.getloadavg()[0]

    def line(label, r):
        return (f"  {label:27}: {r['seconds']:7.2f} s wall, {r['cpu_seconds']:7.2f} s CPU, "
                f"peak {r['peak_rss_mb']:6.0f} MB")

    print(line("import into an empty store", imp))
    print(line("re-import (nothing new)", again) + f" ({again['unchanged']:,} unchanged, {again['added']} added)")
    print(line("summary FILE.parquet", from_file))
    print(line("summary --db (the store)", from_store))
    print(f"  ratio store / file         : {from_store['seconds'] / from_file['seconds']:7.2f} wall time, "
          f"{from_store['cpu_seconds'] / from_file['cpu_seconds']:.2f} CPU time, "
          f"{from_store['peak_rss_mb'] / from_file['peak_rss_mb']:.2f} memory; same figures: "
          f"{'yes' if same else 'NO'}; load average now {load:.1f}", flush=True)
    print(line(f"{NEW_PATIENTS:,} new patients", new_patients) + f" ({new_patients['added']:,} added)")
    print(line("all but the last month", before_month) + f" ({before_month['added']:,} added, empty store)")
    print(line("the last month", last_month) + f" ({last_month['added']:,} added)", flush=True)
    return {"patients": patients, "questionnaires": imp["added"], "import": imp, "re-import": again,
            "summary FILE": from_file, "summary --db": from_store, "same": same, "load": load,
            "new patients": new_patients, "all but the last month": before_month, "last month": last_month}


def side_by_side(runs: list[dict]) -> None:
    """One table, one column per registry size: what the issue's targets are about."""
    for r in runs:
        if "failed" in r:
            print(f"\n{r['patients']:,} patients: not in the table: {r['failed']}")
    runs = [r for r in runs if "failed" not in r]
    if not runs:
        return
    head = f"{'':34}" + "".join(f"{r['patients']:>14,} pat." for r in runs)
    print("\n" + head)
    print(f"{'questionnaires':34}" + "".join(f"{r['questionnaires']:>19,}" for r in runs))
    for step, target in (("import", "<= 15 s"), ("re-import", "<= 5 s")):
        print(f"{step + ' wall / CPU (s)':34}" + "".join(
            f"{r[step]['seconds']:>10.1f} / {r[step]['cpu_seconds']:<6.1f}" for r in runs) + f"  target {target}")
        print(f"{step + ' peak memory (MB)':34}" + "".join(f"{r[step]['peak_rss_mb']:>19,.0f}" for r in runs))
    for step in ("new patients", "all but the last month", "last month", "summary FILE", "summary --db"):
        print(f"{step + ' wall / CPU (s)':34}" + "".join(
            f"{r[step]['seconds']:>10.1f} / {r[step]['cpu_seconds']:<6.1f}" for r in runs))
        print(f"{step + ' peak memory (MB)':34}" + "".join(f"{r[step]['peak_rss_mb']:>19,.0f}" for r in runs))
    for label, field in (("store / file: wall time", "seconds"), ("store / file: CPU time", "cpu_seconds"),
                         ("store / file: peak memory", "peak_rss_mb")):
        print(f"{label:34}" + "".join(
            f"{r['summary --db'][field] / r['summary FILE'][field]:>19.2f}" for r in runs) + "  target <= 1.5")
    print(f"{'same figures from store and file':34}" + "".join(f"{'yes' if r['same'] else 'NO':>19}" for r in runs))
    print(f"{'load average (1 min) after':34}" + "".join(f"{r['load']:>19.1f}" for r in runs), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=3, metavar=("STEP", "FILE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    runs = [run(patients) for patients in args.patients]
    side_by_side(runs)


if __name__ == "__main__":
    main()
