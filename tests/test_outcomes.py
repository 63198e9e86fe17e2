"""Outcome definitions (spec v1), pinned by hand at every boundary.

The tiny fixture sample_data/tiny_clinic.csv (10 patients, days, W = 6, D = 7,
T = 42, window 35-49) was worked out by hand:

  pid  baseline (day, total, item9)   window endpoint        other complete days
  001  (0, 20, 1)                     day 42: 10, i9 0       -
  002  (-3, 12, 0)  [-10 is earlier]  day 35: 4,  i9 0       -
  003  (0, 15, 2)                     day 38: 8,  i9 1 (tie with 46, earlier wins)   46: 5
  004  (0, 18, 0)                     none                   21: 6, 50: 3
  005  (0, 5, 1)  not eligible        day 42: 3,  i9 0       -
  006  none (first at day 3)          -                      3, 42
  007  (0, 10, 0) eligible at 10      day 49: 5,  i9 0       -
  008  none (-31 outside, day 0 incomplete)                  40
  009  (0, 22, 3)                     none                   7: 20, i9 2
  010  (0, 16, 0)                     none (day 42 incomplete)  34: 2

Eligible (baseline >= 10): 001 002 003 004 007 009 010 = 7; SI at baseline: 001 003 005 009 = 4.
Completer: response 001 (10 <= 10) 002 007 (5 <= 5), not 003 (8 > 7.5) -> 3/4;
           remission 002 only (4 < 5; 007 has 5) -> 1/4; SI 001 005 resolved, 003 not -> 2/3.
ITT: 3/7, 1/7, SI 2/4.  LOCF adds 004 (day 21: 6 <= 9) and 010 (day 34: 2) -> 5/7, 2/7, SI 2/4.
Cumulative response, KM: times 7c 21e 34e 35e 42e 46c 49c -> S(42) = 5/6*4/5*3/4*2/3 = 1/3 -> 2/3.
Cumulative remission: 7c 34e 35e 42c 46c 49c 50c -> S(42) = 5/6*4/5 = 2/3 -> 1/3.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import (
    DefinitionError,
    OutcomeDefinitions,
    cumulative_rate,
    load_questionnaires,
    patient_outcomes,
    rate_table,
    remission_rate,
    response_rate,
    si_resolution_rate,
)
from conftest import TINY, canonical, rows_frame

D = OutcomeDefinitions()


@pytest.fixture(scope="module")
def tiny():
    return load_questionnaires(TINY)


def rates(frame, **kw):
    p = patient_outcomes(frame, definitions=OutcomeDefinitions(**kw))
    return {name: (r.events, r.n) for name, r in
            (("response", response_rate(p)), ("remission", remission_rate(p)), ("si", si_resolution_rate(p)))}


@pytest.mark.parametrize("mode, expected", [
    ("completer", {"response": (3, 4), "remission": (1, 4), "si": (2, 3)}),
    ("itt", {"response": (3, 7), "remission": (1, 7), "si": (2, 4)}),
    ("locf", {"response": (5, 7), "remission": (2, 7), "si": (2, 4)}),
])
def test_tiny_fixture_rates_by_hand(tiny, mode, expected):
    assert rates(tiny, analysis=mode) == expected


def test_tiny_fixture_patient_table_by_hand(tiny):
    p = patient_outcomes(tiny).set_index("patient_id")
    assert list(p.index) == [f"{i:03d}" for i in range(1, 11)]  # leading zeros kept
    assert p.loc["002", "baseline_day"] == -3 and p.loc["002", "baseline_total"] == 12
    assert p.loc["003", "endpoint_day"] == 38 and p.loc["003", "endpoint_total"] == 8
    assert p["eligible"].sum() == 7 and p["si_at_baseline"].sum() == 4
    assert p.loc[["006", "008"], "baseline_day"].isna().all()
    assert not p.loc["005", "eligible"] and p.loc["005", "si_at_baseline"]
    assert p.loc["001", "change_pct"] == pytest.approx(-0.5)
    assert p.loc["004", "first_response_day"] == 21 and pd.isna(p.loc["004", "first_remission_day"])
    assert p.loc["009", "last_followup_day"] == 7


def test_tiny_fixture_cumulative_by_hand(tiny):
    p = patient_outcomes(tiny)
    resp = cumulative_rate(p, metric="response")
    rem = cumulative_rate(p, metric="remission")
    assert (resp.n, resp.events) == (7, 4) and resp.estimate == pytest.approx(2 / 3)
    assert (rem.n, rem.events) == (7, 2) and rem.estimate == pytest.approx(1 / 3)


# ---------------------------------------------------------------- boundaries, one patient at a time

def one(base_total, end_total, end_day=42, base_item9=0, end_item9=0, **kw):
    frame = canonical([("p", 0, base_total, base_item9), ("p", end_day, end_total, end_item9)])
    return patient_outcomes(frame, definitions=OutcomeDefinitions(**kw)).iloc[0]


@pytest.mark.parametrize("base, end, responded", [
    (20, 10, True),   # exactly 50%: response
    (20, 11, False),
    (15, 7, True),    # 7 <= 7.5
    (15, 8, False),
    (10, 5, True),
    (10, 6, False),
])
def test_response_boundary(base, end, responded):
    assert bool(one(base, end)["response"]) is responded


@pytest.mark.parametrize("end, remitted", [(4, True), (5, False), (0, True)])
def test_remission_boundary(end, remitted):
    assert bool(one(20, end)["remission"]) is remitted


@pytest.mark.parametrize("day, in_window", [(34, False), (35, True), (42, True), (49, True), (50, False)])
def test_window_edges(day, in_window):
    row = one(20, 4, end_day=day)
    assert (row["endpoint_day"] == day) if in_window else pd.isna(row["endpoint_day"])
    assert pd.isna(row["response"]) is (not in_window)  # completer: outside the denominator


def test_window_follows_week_and_width():
    assert one(20, 4, end_day=28, week=4, window_days=0)["endpoint_day"] == 28
    assert pd.isna(one(20, 4, end_day=29, week=4, window_days=0)["endpoint_day"])
    assert one(20, 4, end_day=63, week=8, window_days=7)["endpoint_day"] == 63


def test_endpoint_closest_and_tie_to_earlier():
    frame = canonical([("p", 0, 20, 0), ("p", 36, 12, 0), ("p", 41, 9, 0), ("p", 45, 3, 0)])
    assert patient_outcomes(frame).iloc[0]["endpoint_day"] == 41
    tie = canonical([("p", 0, 20, 0), ("p", 38, 12, 0), ("p", 46, 3, 0)])
    row = patient_outcomes(tie).iloc[0]
    assert row["endpoint_day"] == 38 and row["endpoint_total"] == 12


@pytest.mark.parametrize("base_day, has_baseline", [(-31, False), (-30, True), (0, True), (1, False)])
def test_baseline_window_edges(base_day, has_baseline):
    frame = canonical([("p", base_day, 20, 0), ("p", 42, 4, 0)])
    row = patient_outcomes(frame).iloc[0]
    assert pd.notna(row["baseline_day"]) is has_baseline


def test_baseline_is_latest_in_window():
    frame = canonical([("p", -20, 24, 0), ("p", -2, 12, 0), ("p", 42, 6, 0)])
    row = patient_outcomes(frame).iloc[0]
    assert (row["baseline_day"], row["baseline_total"]) == (-2, 12)
    assert bool(row["response"])  # 6 <= 50% of 12, not of 25


@pytest.mark.parametrize("base, eligible", [(9, False), (10, True), (24, True)])
def test_min_baseline_boundary(base, eligible):
    row = one(base, 0)
    assert bool(row["eligible"]) is eligible
    assert pd.isna(row["response"]) is (not eligible)


def test_min_baseline_option():
    assert bool(one(9, 0, min_baseline=9)["eligible"])
    assert not bool(one(14, 0, min_baseline=15)["eligible"])


def test_incomplete_questionnaires_are_ignored():
    frame = canonical([("p", 0, None, 0), ("p", -5, 18, 0), ("p", 42, None, 0), ("p", 40, 4, 0)])
    row = patient_outcomes(frame).iloc[0]
    assert (row["baseline_day"], row["endpoint_day"]) == (-5, 40)


def test_si_denominator_ignores_min_baseline():
    row = one(5, 3, base_item9=1, end_item9=0)
    assert not row["eligible"] and row["si_at_baseline"] and bool(row["si_resolved"])
    assert pd.isna(one(20, 3, base_item9=0)["si_resolved"])  # no SI at baseline: outside
    assert not bool(one(20, 3, base_item9=2, end_item9=1)["si_resolved"])


def test_locf_carries_last_before_window_including_baseline():
    # nothing after baseline: LOCF carries the baseline itself -> no response, no SI resolution
    frame = canonical([("p", 0, 20, 2)])
    row = patient_outcomes(frame, definitions=OutcomeDefinitions(analysis="locf")).iloc[0]
    assert row["endpoint_day"] == 0 and row["endpoint_source"] == "carried forward"
    assert not bool(row["response"]) and not bool(row["si_resolved"])
    # day 34 is carried (before window start 35); day 50 (after the window) is not
    frame = canonical([("p", 0, 20, 0), ("p", 34, 9, 0), ("p", 50, 2, 0)])
    row = patient_outcomes(frame, definitions=OutcomeDefinitions(analysis="locf")).iloc[0]
    assert (row["endpoint_day"], row["endpoint_total"]) == (34, 9)
    # a questionnaire before the baseline day is never carried
    frame = canonical([("p", -20, 4, 0), ("p", -1, 20, 0)])
    row = patient_outcomes(frame, definitions=OutcomeDefinitions(analysis="locf")).iloc[0]
    assert row["endpoint_day"] == -1


def test_itt_counts_missing_endpoint_as_not_met():
    frame = canonical([("a", 0, 20, 1), ("a", 42, 2, 0), ("b", 0, 20, 1)])
    r = rates(frame, analysis="itt")
    assert r == {"response": (1, 2), "remission": (1, 2), "si": (1, 2)}
    assert rates(frame, analysis="completer") == {"response": (1, 1), "remission": (1, 1), "si": (1, 1)}


def test_no_data_is_none_never_zero():
    frame = canonical([("a", 0, 20, 0)])  # nobody has an endpoint
    p = patient_outcomes(frame)
    r = response_rate(p)
    assert (r.n, r.events, r.estimate, r.ci_low, r.ci_high) == (0, 0, None, None, None)
    assert r.format() == "no data (n = 0)"
    assert si_resolution_rate(p).estimate is None  # nobody with SI at baseline
    table = rate_table(p)
    assert table["rate"].isna().all() and (table["n"] == 0).all()


def test_patient_without_baseline_changes_no_rate(tiny):
    before = rates(tiny, analysis="itt")
    extra = pd.concat([rows_frame([("zzz", 5, 20, 1), ("zzz", 42, 0, 0)])])
    with_extra = load_questionnaires(pd.concat([_raw(tiny), extra], ignore_index=True))
    assert rates(with_extra, analysis="itt") == before


def _raw(canonical_frame):
    cols = ["patient_id", "day"] + [f"phq9_{i}" for i in range(1, 10)]
    return canonical_frame[cols]


def test_row_order_does_not_matter(tiny):
    shuffled = _raw(tiny).sample(frac=1, random_state=3).reset_index(drop=True)
    a = patient_outcomes(tiny, attributes=False).set_index("patient_id").sort_index()
    b = patient_outcomes(load_questionnaires(shuffled), attributes=False).set_index("patient_id").sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_cumulative_event_boundary_at_target_day():
    frame = canonical([("a", 0, 20, 0), ("a", 42, 10, 0), ("b", 0, 20, 0), ("b", 43, 10, 0)])
    p = patient_outcomes(frame)
    c = cumulative_rate(p, metric="response")
    assert c.events == 1 and c.estimate == pytest.approx(0.5)  # day 43 > T is not counted; b censored at 43
    assert p["first_response_day"].iloc[0] == 42 and pd.isna(p["first_response_day"].iloc[1])


def test_cumulative_censoring_at_last_followup_and_zero():
    # a: event day 14; b: censored day 10 (before a's event); c: no follow-up -> censored at 0
    frame = canonical([("a", 0, 20, 0), ("a", 14, 9, 0), ("b", 0, 20, 0), ("b", 10, 18, 0), ("c", 0, 20, 0)])
    c = cumulative_rate(patient_outcomes(frame), metric="response")
    # at day 14 only a is at risk: S = 1 - 1/1 = 0 -> cumulative 1.0
    assert (c.n, c.events, c.censored) == (3, 1, 2) and c.estimate == pytest.approx(1.0)


def test_study_day_from_treatment_start_and_first_questionnaire():
    raw = rows_frame([("a", 0, 20, 0), ("a", 0, 8, 0)]).drop(columns="day")
    raw["assessment_date"] = ["2025-03-01", "2025-04-12"]
    with_start = raw.assign(treatment_start_date="2025-03-03")
    p = patient_outcomes(load_questionnaires(with_start)).iloc[0]
    assert p["baseline_day"] == -2 and p["endpoint_day"] == 40
    p = patient_outcomes(load_questionnaires(raw)).iloc[0]  # day 0 = first complete questionnaire
    assert p["baseline_day"] == 0 and p["endpoint_day"] == 42


def test_rate_table_by_stratum(tiny):
    table = rate_table(patient_outcomes(tiny), by="site")
    resp = table[table["metric"] == "response"].set_index("site")
    # completers: North 001 002 003 -> 2/3; South 007 -> 1/1; East none -> no data
    assert (resp.loc["North", "events"], resp.loc["North", "n"]) == (2, 3)
    assert (resp.loc["South", "events"], resp.loc["South", "n"]) == (1, 1)
    assert resp.loc["East", "n"] == 0 and pd.isna(resp.loc["East", "rate"])


def test_bad_options_raise_definition_error():
    for kwargs in ({"week": 0}, {"window_days": -1}, {"min_baseline": 28}, {"analysis": "pp"},
                   {"week": 1, "window_days": 7}):
        with pytest.raises(DefinitionError):
            OutcomeDefinitions(**kwargs)
    with pytest.raises(DefinitionError, match="canonical frame"):
        patient_outcomes(pd.DataFrame({"patient_id": ["a"]}))
    with pytest.raises(DefinitionError):
        cumulative_rate(patient_outcomes(canonical([("a", 0, 20, 0)])), metric="si_resolution")


def test_sample_clinic_modes_are_consistent():
    frame = load_questionnaires(TINY.with_name("sample_clinic.csv"))
    out = {m: patient_outcomes(frame, definitions=OutcomeDefinitions(analysis=m)) for m in ("completer", "itt", "locf")}
    n = {m: response_rate(p).n for m, p in out.items()}
    assert n["itt"] == n["locf"] == int(out["itt"]["eligible"].sum()) >= n["completer"] > 0
    # ITT events equal completer events (missing counts as not met); LOCF only adds
    assert response_rate(out["itt"]).events == response_rate(out["completer"]).events
    assert response_rate(out["locf"]).events >= response_rate(out["itt"]).events
    # the completer rate against the per-episode reading of the spec (tests/test_outcomes_differential.py)
    from test_outcomes_differential import reference_outcomes, rows_of
    ref = reference_outcomes(rows_of(frame), OutcomeDefinitions(analysis="completer", episodes="all"))
    first = {}
    for (pid, episode), unit in sorted(ref.items()):
        first.setdefault(pid, unit)  # each patient's first episode, the default selection
    responses = [u["response"] for u in first.values() if u["response"] is not None]
    r = response_rate(out["completer"])
    assert (r.events, r.n) == (sum(responses), len(responses))
    assert r.estimate == pytest.approx(sum(responses) / len(responses))
