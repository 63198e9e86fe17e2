"""Quality-measure style outcomes with long follow-up (CMS159 / HEDIS DRR-E style).

* Remission at 12 months (after CMS159 / NQF 0710): index = a baseline PHQ-9
  above 9; numerator = the complete PHQ-9 closest to 365 days after the index,
  within +/- ``window_days`` (default 60, the MN Community Measurement
  convention; the CMS v6 specification uses 30), is below 5.
* Response and remission at 4-8 months (after HEDIS DRR-E): a follow-up PHQ-9
  120-240 days after the index; the latest in that range counts; response =
  fall of at least 50%, remission = below 5.

The denominator is every index patient whose follow-up window *closes* in the
reporting period, so everyone in it has had their whole window; a patient
with no PHQ-9 in the window counts as not meeting the measure (as in CMS159).
These are measure-*style* figures for internal and registry reporting, not
certified measure submissions.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .definitions import REMISSION_BELOW, RESPONSE_FRACTION
from .statistics import Proportion, wilson_proportion

__all__ = ["QualityMeasure", "quality_measures"]

INDEX_ABOVE = 9


@dataclass(frozen=True)
class QualityMeasure:
    """One measure: its name, plain-words definition and result."""

    name: str
    definition: str
    result: Proportion


def quality_measures(questionnaires: pd.DataFrame, patients: pd.DataFrame, *, period_start, period_end,
                     window_days: int = 60) -> list[QualityMeasure]:
    """12-month remission and 4-8-month response/remission for windows closing in the period.

    Parameters
    ----------
    questionnaires, patients : pandas.DataFrame
        Canonical frame (with ``assessment_date``) and its :func:`analytics.patient_outcomes`.
    period_start, period_end : date-like
        The reporting period (both days included).
    window_days : int
        Half-width of the 12-month window (default 60).
    """
    lo, hi = pd.Timestamp(period_start), pd.Timestamp(period_end)
    keys = ["patient_id", "episode"] if "episode" in patients and "episode" in questionnaires else ["patient_id"]
    base = patients.loc[patients["baseline_total"].notna() & (patients["baseline_total"] > INDEX_ABOVE),
                        [*keys, "baseline_day", "baseline_total"]]
    base = base.drop_duplicates("patient_id")  # one index event per patient: the first episode's (spec v2)
    q = questionnaires[questionnaires["complete"]]
    if "assessment_date" not in q or base.empty:
        empty = wilson_proportion(0, 0)
        return [QualityMeasure(n, d, empty) for n, d in _names(window_days)]
    index_date = (q[[*keys, "day", "assessment_date"]].assign(patient_id=q["patient_id"].astype("str"))
                  .merge(base, left_on=[*keys, "day"], right_on=[*keys, "baseline_day"])
                  .set_index("patient_id")["assessment_date"])
    base = base.assign(index_date=base["patient_id"].map(index_date)).dropna(subset=["index_date"])
    follow = q[["patient_id", "assessment_date", "phq9_total"]].assign(patient_id=q["patient_id"].astype("str")) \
        .merge(base.drop(columns=keys[1:]), on="patient_id")
    # days after the index on the calendar: later episodes of the patient count too
    follow["after"] = (follow["assessment_date"] - follow["index_date"]).dt.days.astype("float64")

    results = []
    # 12 months: closest to day 365 within the window, ties to the earlier
    closes = base["index_date"] + pd.Timedelta(days=365 + window_days)
    denom = base[closes.between(lo, hi)]
    w = follow[follow["patient_id"].isin(denom["patient_id"]) & follow["after"].between(365 - window_days,
                                                                                           365 + window_days)]
    w = w.assign(dist=(w["after"] - 365).abs()).sort_values(["patient_id", "dist", "after"], kind="stable")
    pick = w.drop_duplicates("patient_id")
    met = int((pick["phq9_total"] < REMISSION_BELOW).sum())
    name, text = _names(window_days)[0]
    results.append(QualityMeasure(name, text, wilson_proportion(met, len(denom))))
    # 4-8 months: latest PHQ-9 120-240 days after the index
    closes = base["index_date"] + pd.Timedelta(days=240)
    denom = base[closes.between(lo, hi)]
    w = follow[follow["patient_id"].isin(denom["patient_id"]) & follow["after"].between(120, 240)]
    pick = w.sort_values(["patient_id", "after"], kind="stable").drop_duplicates("patient_id", keep="last")
    responded = int((pick["phq9_total"] <= RESPONSE_FRACTION * pick["baseline_total"]).sum())
    remitted = int((pick["phq9_total"] < REMISSION_BELOW).sum())
    (n2, t2), (n3, t3) = _names(window_days)[1:]
    results.append(QualityMeasure(n2, t2, wilson_proportion(responded, len(denom))))
    results.append(QualityMeasure(n3, t3, wilson_proportion(remitted, len(denom))))
    return results


def _names(window_days: int):
    base = (f"Index: baseline PHQ-9 > {INDEX_ABOVE}. Denominator: index patients whose follow-up window closes in "
            "the reporting period; no PHQ-9 in the window counts as not met.")
    return [
        ("Remission at 12 months (CMS159-style)",
         f"PHQ-9 < {REMISSION_BELOW} on the complete questionnaire closest to 365 days after the index, within "
         f"±{window_days} days. " + base),
        ("Response at 4-8 months (HEDIS DRR-E-style)",
         "PHQ-9 fall of at least 50% on the latest complete questionnaire 120-240 days after the index. " + base),
        ("Remission at 4-8 months (HEDIS DRR-E-style)",
         f"PHQ-9 < {REMISSION_BELOW} on the latest complete questionnaire 120-240 days after the index. " + base),
    ]
