"""Data-quality counts of the Data page, worked by hand on a five-patient clinic."""
from __future__ import annotations

import pandas as pd

from analytics import OutcomeDefinitions, patient_outcomes
from analytics.data_quality import DATA_QUALITY_COLUMNS, data_quality_counts
from conftest import canonical

ROWS = [
    ("a", 0, 20, 0), ("a", 42, 8, 0),   # baseline, eligible, week-6 endpoint
    ("b", 0, 12, 0),                     # baseline, eligible, nothing after day 0
    ("c", 5, 15, 0),                     # first questionnaire on day 5: no baseline
    ("d", 0, 8, 0), ("d", 14, 6, 0),     # baseline 8 < 10: not eligible (so never "without an endpoint")
    ("e", 0, 15, 0), ("e", 20, 10, 0),   # eligible, followed to day 20 only: no week-6 endpoint
]
COUNTS = {"rows_read": 10, "questionnaires": 9, "duplicates_collapsed": 1}  # no "incomplete": not reported


def table(definitions=None):
    frame = canonical(ROWS)
    return data_quality_counts(patient_outcomes(frame, definitions=definitions), COUNTS, definitions=definitions)


def test_counts_by_hand():
    t = table()
    assert list(t.columns) == DATA_QUALITY_COLUMNS
    counts = dict(zip(t["check"], t["count"]))
    assert counts["Rows read"] == 10 and counts["Questionnaires"] == 9 and counts["Exact duplicate rows collapsed"] == 1
    assert pd.isna(counts["Incomplete questionnaires"])  # not reported is missing, never 0
    assert counts["Patients without a baseline"] == 1                  # c
    assert counts["Patients with a baseline but no follow-up"] == 1    # b
    assert counts["Eligible patients without a week-6 endpoint"] == 2  # b and e (d is not eligible)
    meaning = dict(zip(t["check"], t["meaning"]))
    assert meaning["Patients without a baseline"] == "no complete questionnaire on days -30 to 0: in no denominator"
    assert meaning["Eligible patients without a week-6 endpoint"] == "nothing on days 35-49: out of completer rates"


def test_endpoint_count_follows_the_definitions():
    t = table(OutcomeDefinitions(week=3))  # window days 14-28: e's day 20 is an endpoint now, a's day 42 is not
    counts = dict(zip(t["check"], t["count"]))
    assert counts["Eligible patients without a week-3 endpoint"] == 2  # a and b
    assert dict(zip(t["check"], t["meaning"]))["Eligible patients without a week-3 endpoint"] == \
        "nothing on days 14-28: out of completer rates"
