"""Write the small synthetic cohorts behind the R reference values (run once; the CSVs are committed).

    python tests/reference/make_cohorts.py

Seeded, so rerunning reproduces the committed files byte for byte.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def questionnaires(seed: int, sizes: dict, slope_sd: float, maintenance: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    k = 0
    for site, (n, mean_slope) in sizes.items():
        for _ in range(n):
            k += 1
            pid = f"P{k:03d}"
            start = rng.integers(8, 25)
            slope = mean_slope + rng.normal(0, slope_sd)
            days = [int(rng.integers(-30, 1))]
            if rng.random() < 0.25:  # a second, earlier screening questionnaire in the baseline window
                days.insert(0, days[0] - int(rng.integers(1, 5)))
            last = int(rng.choice([21, 42, 63, 84, 120, 180] if maintenance else [42, 63, 84], p=None))
            days += [d for d in (7, 14, 21, 28, 35, 42, 49, 56, 70, 84, 98, 112, 126, 140, 154, 168, 180)
                     if d <= last and rng.random() < 0.85]
            days = sorted(set(int(d + (rng.integers(-2, 3) if d > 0 else 0)) for d in days))
            for d in days:
                weeks = max(d, 0) / 7
                relapse = 0.0
                if maintenance and d > 60:  # some responders drift back up during maintenance
                    relapse = (d - 60) / 7 * max(0.0, rng.normal(0.6, 0.5))
                trend = slope * (min(weeks, 8) if maintenance else weeks)  # maintenance: a plateau after week 8
                total = int(np.clip(round(start + trend + relapse + rng.normal(0, 2)), 0, 27))
                rows.append({"patient_id": pid, "day": d, "phq9_total": total,
                             "phq9_9": int(total >= 12 and rng.random() < 0.4), "site": site})
    return pd.DataFrame(rows)


def main() -> None:
    q = questionnaires(2024, {"North": (30, -2.2), "Central": (24, -1.5), "Riverside": (18, -0.8)}, 0.5, True)
    q.to_csv(HERE / "questionnaires.csv", index=False)
    # nearly identical slopes: lme4 reports a singular fit (random-slope variance at 0)
    s = questionnaires(1, {"A": (20, -0.6), "B": (20, -0.6)}, 0.0, False)
    s.to_csv(HERE / "questionnaires_singular.csv", index=False)


if __name__ == "__main__":
    main()
