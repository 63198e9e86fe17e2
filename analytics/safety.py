"""Suicidal-ideation (PHQ-9 item 9) review: who needs a look, and how often SI appears or worsens.

A review aid, not an alerting service: item 9 is a screening item that
over-flags compared with the C-SSRS, and the data are only as recent as the
last export.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .statistics import Proportion, wilson_proportion

__all__ = ["si_review", "si_change_rates"]


def si_review(questionnaires: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Patients whose latest complete questionnaire shows SI, or SI new or higher than before.

    Returns
    -------
    pandas.DataFrame
        One row per flagged patient: ``patient_id, last_date, last_day,
        item9_latest, item9_previous, item9_baseline, phq9_total_latest,
        reason``, sorted by latest item 9 (highest first), then most recent.
    """
    # by episode then day: the latest questionnaire is in the patient's latest episode
    order = [c for c in ("patient_id", "episode", "day") if c in questionnaires]
    q = questionnaires[questionnaires["complete"]].sort_values(order, kind="stable")
    pid = q["patient_id"].astype("str")
    last = ~pid.duplicated(keep="last")
    prev_item9 = q["phq9_9"].groupby(pid, sort=False).shift(1)
    latest = pd.DataFrame({
        "patient_id": pid[last].to_numpy(),
        "last_date": q.loc[last, "assessment_date"].to_numpy() if "assessment_date" in q else pd.NaT,
        "last_day": q.loc[last, "day"].to_numpy(),
        "item9_latest": q.loc[last, "phq9_9"].to_numpy(),
        "item9_previous": prev_item9[last].to_numpy(),
        "phq9_total_latest": q.loc[last, "phq9_total"].to_numpy(),
    })
    latest_unit = patients.drop_duplicates("patient_id", keep="last")  # one row per patient whatever --episodes
    base = latest_unit.set_index(latest_unit["patient_id"].astype("str"))["baseline_item9"]
    latest["item9_baseline"] = base.reindex(latest["patient_id"]).to_numpy()
    item9 = latest["item9_latest"].astype("float64")
    prev = latest["item9_previous"].astype("float64")
    basel = latest["item9_baseline"].astype("float64")
    positive = item9 >= 1
    new_vs_base = positive & (basel == 0)
    worse_vs_base = (item9 > basel) & (basel >= 1)
    worse_vs_prev = item9 > prev
    reason = np.where(new_vs_base, "new since baseline",
                      np.where(worse_vs_base, "higher than baseline",
                               np.where(worse_vs_prev, "higher than the previous questionnaire",
                                        "item 9 >= 1 on the latest questionnaire")))
    flagged = latest[(positive | worse_vs_prev).to_numpy()].assign(reason=reason[(positive | worse_vs_prev).to_numpy()])
    flagged = flagged.sort_values(["item9_latest", "last_day"], ascending=[False, False], kind="stable")
    if "last_date" in flagged and flagged["last_date"].notna().any():
        flagged = flagged.sort_values(["item9_latest", "last_date"], ascending=[False, False], kind="stable")
    cols = ["patient_id", "last_date", "last_day", "item9_latest", "item9_previous", "item9_baseline",
            "phq9_total_latest", "reason"]
    return flagged[cols].reset_index(drop=True)


def si_change_rates(patients: pd.DataFrame) -> dict[str, Proportion]:
    """SI worsened and new SI at the endpoint, among patients with a baseline and an endpoint.

    ``si_worsened``: endpoint item 9 above baseline item 9 (compare McInnes 2022:
    6.0%).  ``si_new``: endpoint item 9 >= 1 among those with item 9 = 0 at baseline.
    """
    both = patients[patients["baseline_item9"].notna() & patients["endpoint_item9"].notna()]
    worse = both["endpoint_item9"] > both["baseline_item9"]
    none_at_base = both[both["baseline_item9"] == 0]
    return {
        "si_worsened": wilson_proportion(int(worse.sum()), len(both)),
        "si_new": wilson_proportion(int((none_at_base["endpoint_item9"] >= 1).sum()), len(none_at_base)),
    }
