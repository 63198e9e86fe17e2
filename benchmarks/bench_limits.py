"""Input limits benchmark: each format's worst case must be refused in seconds and a few hundred MB.

    python benchmarks/bench_limits.py [--keep DIR]

Builds, per format, a small file that would expand enormously if parsed:

* XLSX: a ~1.6 MB workbook whose sheet XML inflates to ~1.6 GB (a zip bomb), and one inflating to
  400 MB (under the size limit, over the compression ratio);
* Parquet: a ~1 MB file declaring 20 million rows (run-length encoded);
* CSV: a 5 MB file whose second line is nothing but commas;
* JSON (FHIR): 5 MB of nested brackets;
* TOML (mapping): 900 KB of nested arrays (longer mappings are refused by size alone).

Each is read in its own fresh Python process (the way the dashboard or the CLI would meet it), capped at
2 GB of address space so a failing check cannot take the machine down.  Printed per case: file size, wall
time of the read, peak resident memory of the process (``ru_maxrss``), and the peak of a process that only
imports the package (the baseline the refusal adds to), and the first words of the message.  Asserts
nothing.
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEMORY_CAP = 2 * 1024 ** 3

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from analytics import AnalyticsError
from analytics.mapping import load_mapping
from analytics.sources import read_source
path = {path!r}
t0 = time.perf_counter()
try:
    if path == "":
        outcome = "baseline"
    elif path.endswith(".toml"):
        load_mapping(path)
        outcome = "ACCEPTED"
    else:
        read_source(path)
        outcome = "ACCEPTED"
except AnalyticsError as exc:
    outcome = str(exc)
except MemoryError:
    outcome = "MemoryError (the 2 GB cap was reached)"
seconds = time.perf_counter() - t0
print(json.dumps({{"seconds": seconds, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "outcome": outcome}}))
"""


def build_xlsx(folder: Path, megabytes: int = 1_600) -> Path:
    """A real workbook whose sheet XML is rows padded with whitespace, inflating about 1000 to 1."""
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"patient_id": ["001"], "day": [0], "phq9_total": [12], "phq9_9": [1]}).to_excel(buf, index=False)
    path = folder / f"zip_bomb_{megabytes}mb.xlsx"
    row = b'<row><c t="inlineStr"><is><t>001</t></is></c><c><v>0</v></c><c><v>12</v></c><c><v>1</v></c></row>'
    block = (row + b" " * (1024 ** 2 - len(row)))  # XML allows whitespace between rows
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info.filename))
                continue
            head, tail = src.read(info.filename).split(b"</sheetData>")
            with dst.open(info.filename, "w", force_zip64=True) as out:
                out.write(head)
                for _ in range(megabytes):
                    out.write(block)
                out.write(b"</sheetData>" + tail)
    return path


def build_xlsx_under_the_size_limit(folder: Path) -> Path:
    """400 MB of sheet XML: under the total-size limit, refused by the compression ratio."""
    return build_xlsx(folder, 400)


def build_parquet(folder: Path) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 20_000_000
    table = pa.table({"patient_id": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["001"]),
                      "day": np.zeros(n, np.int32), "phq9_total": np.full(n, 12, np.int32),
                      "phq9_9": np.ones(n, np.int32)})
    path = folder / "twenty_million_rows.parquet"
    pq.write_table(table, path, row_group_size=n)
    return path


def build_csv(folder: Path) -> Path:
    path = folder / "one_row_of_commas.csv"
    path.write_bytes(b"patient_id,day,phq9_total,phq9_9\n" + b"," * 5_000_000 + b"\n")
    return path


def build_json(folder: Path) -> Path:
    path = folder / "deeply_nested.json"
    path.write_bytes(b"[" * 2_500_000 + b"]" * 2_500_000)
    return path


def build_toml(folder: Path) -> Path:
    path = folder / "deeply_nested.toml"
    # under the size limit for mappings, so the nesting check is what refuses it
    path.write_bytes(b'[columns]\n"Patient ID" = "patient_id"\n[extra]\nx = ' + b"[" * 450_000 + b"]" * 450_000
                     + b"\n")
    return path


def measure(path: Path | str) -> dict:
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    code = CHILD.format(root=str(ROOT), path=str(path))
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                              preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return {"seconds": 600, "maxrss_mb": float("nan"), "outcome": "TIMEOUT after 600 s"}
    if done.returncode:
        return {"seconds": float("nan"), "maxrss_mb": float("nan"),
                "outcome": f"process died (exit {done.returncode}): {done.stderr.strip()[-200:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build the files here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        base = measure("")
        print(f"baseline (a process that imports the package): {base['maxrss_mb']:.0f} MB peak")
        print(f"{'case':<30} {'file':>9} {'read':>8} {'peak':>8}  outcome")
        for build in (build_xlsx, build_xlsx_under_the_size_limit, build_parquet, build_csv, build_json, build_toml):
            path = build(folder)
            r = measure(path)
            size = path.stat().st_size / 1024 ** 2
            print(f"{path.name:<30} {size:>6.1f} MB {r['seconds']:>6.2f} s {r['maxrss_mb']:>5.0f} MB  "
                  f"{r['outcome'][:150]}", flush=True)


if __name__ == "__main__":
    main()
