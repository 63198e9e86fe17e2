"""Activity and completeness."""
from __future__ import annotations

from analytics import load_questionnaires, patient_outcomes
from analytics.activity import activity_summary
from analytics.cohorts import patient_start_dates, quarter_bounds
from conftest import SAMPLE, TINY


def test_tiny_all_data():
    tiny = load_questionnaires(TINY)
    a = activity_summary(tiny, patient_outcomes(tiny))
    # with baseline: 8; with baseline and a follow-up (day > 0): all but none -> 001..005,007,009,010 = 8
    assert (a.patients_treated, a.new_starts, a.questionnaires, a.with_baseline, a.with_followup) == (10, 10, 25, 8, 8)
    assert a.completeness.estimate == 0.8 and a.period == "all data"


def test_sample_quarter_by_hand():
    sample = load_questionnaires(SAMPLE)
    lo, hi = quarter_bounds("2025Q3")
    a = activity_summary(sample, patient_outcomes(sample), start=lo, end=hi)
    in_q = sample["assessment_date"].between(lo, hi)
    assert a.questionnaires == int(in_q.sum())
    assert a.patients_treated == sample.loc[in_q, "patient_id"].nunique()
    assert a.new_starts == int(patient_start_dates(sample).between(lo, hi).sum())
    assert a.completeness.n == a.new_starts and 0 < a.completeness.estimate < 1
