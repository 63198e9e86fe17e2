"""Data-quality counts: what was read, what was collapsed or left out, and which patients fall out of which rate.

The table the Data page shows under "Data quality", computed here so the page
only draws it and the counts are tested.
"""
from __future__ import annotations

import pandas as pd

from .definitions import BASELINE_WINDOW_DAYS, OutcomeDefinitions

__all__ = ["DATA_QUALITY_COLUMNS", "data_quality_counts"]

DATA_QUALITY_COLUMNS = ["check", "count", "meaning"]


def data_quality_counts(patients: pd.DataFrame, counts: dict, *,
                        definitions: OutcomeDefinitions | None = None) -> pd.DataFrame:
    """One row per check: ``check``, ``count``, ``meaning`` (plain words).

    Parameters
    ----------
    patients : pandas.DataFrame
        The per-unit outcome table (:func:`analytics.patient_outcomes`) of the cohort shown.
    counts : dict
        The validation report's counts (``rows_read``, ``questionnaires``, ``duplicates_collapsed``,
        ``incomplete``): whole data source, whatever the cohort.  A count the source did not
        report stays missing, never 0.
    definitions : OutcomeDefinitions, optional
        Endpoint week and window the "without an endpoint" count is read against.
    """
    d = definitions or OutcomeDefinitions()
    lo, hi = BASELINE_WINDOW_DAYS
    w_lo, w_hi = d.window
    has_baseline = patients["baseline_day"].notna()
    no_followup = has_baseline & (patients["last_followup_day"] == 0)
    missing_endpoint = patients["eligible"].astype(bool) & patients["endpoint_day"].isna()
    rows = [
        ("Rows read", counts.get("rows_read"), ""),
        ("Questionnaires", counts.get("questionnaires"), "after exact duplicates were collapsed"),
        ("Exact duplicate rows collapsed", counts.get("duplicates_collapsed"), "kept once"),
        ("Incomplete questionnaires", counts.get("incomplete"), "an item blank: no total, left out of outcomes"),
        ("Patients without a baseline", int((~has_baseline).sum()),
         f"no complete questionnaire on days {lo} to {hi}: in no denominator"),
        ("Patients with a baseline but no follow-up", int(no_followup.sum()), "censored at day 0 in cumulative rates"),
        (f"Eligible patients without a week-{d.week} endpoint", int(missing_endpoint.sum()),
         f"nothing on days {w_lo}-{w_hi}: out of completer rates"),
    ]
    out = pd.DataFrame(rows, columns=DATA_QUALITY_COLUMNS)
    out["count"] = out["count"].astype("Int64")
    return out
