"""Item-9 review list and SI change rates."""
from __future__ import annotations

from analytics import load_questionnaires, patient_outcomes
from analytics.safety import si_change_rates, si_review
from conftest import TINY, canonical


def test_review_list_by_hand():
    frame = canonical([
        ("a", 0, 20, 0), ("a", 14, 15, 2),           # new since baseline, item 9 = 2
        ("b", 0, 20, 1), ("b", 14, 15, 1),           # still 1
        ("c", 0, 20, 2), ("c", 14, 12, 0), ("c", 21, 12, 1),  # lower than baseline, higher than previous
        ("d", 0, 20, 1), ("d", 14, 10, 0),           # resolved: not listed
        ("e", 0, 20, 1), ("e", 7, 20, 3),            # higher than baseline, item 9 = 3
    ])
    table = si_review(frame, patient_outcomes(frame))
    assert list(table["patient_id"]) == ["e", "a", "c", "b"]  # by item 9, then recency (day)
    reasons = dict(zip(table["patient_id"], table["reason"]))
    assert reasons == {"e": "higher than baseline", "a": "new since baseline",
                       "c": "higher than the previous questionnaire", "b": "item 9 >= 1 on the latest questionnaire"}


def test_si_change_rates_on_tiny_fixture():
    # baseline and window endpoint: 001 (1->0), 002 (0->0), 003 (2->1), 005 (1->0), 007 (0->0): none worse
    r = si_change_rates(patient_outcomes(load_questionnaires(TINY)))
    assert (r["si_worsened"].events, r["si_worsened"].n) == (0, 5)
    assert (r["si_new"].events, r["si_new"].n) == (0, 2)
