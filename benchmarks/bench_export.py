"""Quarterly export benchmark: one quarter of a 10,000-patient clinic, all four files.

    python benchmarks/bench_export.py [--patients 10000] [--repeat 3]

Times the whole export from a validated frame (cohort, strata, benchmarks,
eight-quarter trend, safety, completeness, quality measures, suppression) and
the writing of summary.csv, the XLSX, the HTML report and the manifest.
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--quarter", default="2026Q1")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from analytics import validate_questionnaires
    from analytics.quarterly import quarterly_export, write_quarterly_export
    from analytics.synthetic import synthetic_clinic

    frame = validate_questionnaires(synthetic_clinic(args.patients, seed=7)).frame
    build, write = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        export = quarterly_export(frame, quarter=args.quarter)
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            files = write_quarterly_export(export, Path(tmp))
            sizes = {p.name: p.stat().st_size for p in files}
        build.append(t1 - t0)
        write.append(time.perf_counter() - t1)
    best = min(b + w for b, w in zip(build, write))
    print(f"machine: {os.cpu_count()} cores; {args.patients:,} patients, {len(frame):,} questionnaires, "
          f"quarter {args.quarter}")
    print(f"export (build + write 4 files): {best:.2f} s best of {args.repeat} "
          f"(build {min(build):.2f} s, write {min(write):.2f} s); sizes: "
          + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
