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


def test_endpoint_completeness_by_hand():
    """Eligible (baseline PHQ-9 >= 10): 001 (20), 002 (12, day -3), 003 (15), 004 (18), 007 (10), 009 (22),
    010 (16); 005 (5) is not eligible, 006 and 008 have no complete baseline in days -30..0.
    A complete questionnaire in days 35..49: 001 (42), 002 (35), 003 (38 and 46), 007 (49) -> 4 of 7;
    004 (21, 50), 009 (7) and 010 (34; day 42 incomplete) are not measured at week 6.
    'Any follow-up' counts 8 of 10 (above): a different question."""
    from math import sqrt

    from analytics import OutcomeDefinitions
    from analytics.activity import endpoint_completeness

    tiny = load_questionnaires(TINY)
    c = endpoint_completeness(patient_outcomes(tiny))
    assert (c.events, c.n) == (4, 7)
    z, p, n = 1.959963985, 4 / 7, 7
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert abs(c.ci_low - (centre - half)) < 1e-9 and abs(c.ci_high - (centre + half)) < 1e-9
    # window 0: only day 42 itself counts -> 001 alone
    exact = endpoint_completeness(patient_outcomes(tiny, definitions=OutcomeDefinitions(window_days=0)))
    assert (exact.events, exact.n) == (1, 7)
    # the analysis mode does not change it: a carried-forward value is not a week-6 questionnaire
    locf = endpoint_completeness(patient_outcomes(tiny, definitions=OutcomeDefinitions(analysis="locf")))
    assert (locf.events, locf.n) == (4, 7)


def test_endpoint_completeness_no_eligible_patient_is_no_data():
    from analytics import OutcomeDefinitions
    from analytics.activity import endpoint_completeness

    tiny = load_questionnaires(TINY)
    c = endpoint_completeness(patient_outcomes(tiny, definitions=OutcomeDefinitions(min_baseline=27)))
    assert c.n == 0 and c.estimate is None
