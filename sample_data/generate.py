"""Write the bundled synthetic sample clinic: `python sample_data/generate.py`.

Seeded, so the committed file is reproducible byte for byte.  Synthetic data
only: no real patient is in it.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.synthetic import synthetic_clinic  # noqa: E402
from analytics.synthetic_sessions import synthetic_sessions  # noqa: E402

OUT = ROOT / "sample_data" / "sample_clinic.csv"
SESSIONS_OUT = ROOT / "sample_data" / "sample_sessions.csv"
SEED = 20261121


def main() -> None:
    # with the QIDS-SR16, PCL-5 and C-SSRS screener for some patients (the PHQ-9 rows are the same without them)
    frame = synthetic_clinic(600, seed=SEED, more_instruments=True)
    frame.to_csv(OUT, index=False, lineterminator="\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(frame)} rows, {frame['patient_id'].nunique()} patients")
    sessions = synthetic_sessions(frame, seed=SEED)
    sessions.to_csv(SESSIONS_OUT, index=False, lineterminator="\n")
    print(f"wrote {SESSIONS_OUT.relative_to(ROOT)}: {len(sessions)} sessions, "
          f"{sessions['patient_id'].nunique()} patients")


if __name__ == "__main__":
    main()
