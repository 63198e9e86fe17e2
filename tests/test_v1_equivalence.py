"""Spec v2 on spec v1-valid data gives exactly the spec v1 figures (property test).

The reference is the frozen v1 engine in ``tests/v1_reference`` (validation and
outcomes as they were before episodes).  v1-valid data: one treatment start per
patient (some rows blank), every scored questionnaire with item 9 known.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import OutcomeDefinitions, clinic_summary, patient_outcomes, validate_questionnaires
from tests.v1_reference.outcomes import cumulative_rate as v1_cumulative_rate
from tests.v1_reference.outcomes import patient_outcomes as v1_patient_outcomes
from tests.v1_reference.validation import validate_questionnaires as v1_validate

V1_COLUMNS = ["patient_id", "n_questionnaires", "n_complete", "baseline_day", "baseline_total", "baseline_item9",
              "baseline_band", "eligible", "si_at_baseline", "endpoint_day", "endpoint_total", "endpoint_item9",
              "endpoint_source", "change_pct", "response", "remission", "si_resolved", "first_response_day",
              "first_remission_day", "last_followup_day"]

questionnaire = st.tuples(
    st.integers(-45, 100),                       # day from the start
    st.lists(st.integers(0, 3), min_size=9, max_size=9),
    st.booleans(),                               # start date blank on this row
    st.integers(0, 12),                          # 0: one item blank (incomplete; item 9 stays known)
)
patient = st.tuples(st.integers(0, 60), st.lists(questionnaire, min_size=1, max_size=8))


def build(patients) -> pd.DataFrame:
    rows = []
    for k, (start_offset, qs) in enumerate(patients):
        start = np.datetime64("2025-01-01") + np.timedelta64(start_offset, "D")
        seen = set()
        for day, items, blank_start, blank_item in qs:
            if day in seen:
                continue
            seen.add(day)
            cells = [str(v) for v in items]
            if blank_item == 0:
                cells[day % 8] = ""
            rows.append([f"P{k:02d}", str(start + np.timedelta64(day, "D")), "" if blank_start else str(start),
                         *cells])
    return pd.DataFrame(rows, columns=["patient_id", "assessment_date", "treatment_start_date",
                                       *[f"phq9_{i}" for i in range(1, 10)]])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patient, min_size=1, max_size=6), st.sampled_from(["completer", "itt", "locf"]),
       st.sampled_from(["first", "all", "latest"]), st.sampled_from([(6, 7), (4, 3), (2, 0)]))
def test_v2_equals_v1_on_v1_valid_data(patients, analysis, episodes, endpoint):
    frame = build(patients)
    old = v1_validate(frame.copy())
    new = validate_questionnaires(frame.copy())
    assert old.ok == new.ok
    if not old.ok:
        return
    week, window = endpoint
    v1_defs = OutcomeDefinitions(week=week, window_days=window, analysis=analysis)
    v2_defs = OutcomeDefinitions(week=week, window_days=window, analysis=analysis, episodes=episodes)
    a = v1_patient_outcomes(old.frame, definitions=v1_defs)
    b = patient_outcomes(new.frame, definitions=v2_defs)
    pd.testing.assert_frame_equal(a[V1_COLUMNS], b[V1_COLUMNS])
    assert (b["episode"] == 1).all() and not b["si_unknown"].any() and not b["si_endpoint_unknown"].any()
    s = clinic_summary(new.frame, definitions=v2_defs).as_dict()
    for metric in ("response", "remission"):
        v1 = v1_cumulative_rate(a, metric=metric, definitions=v1_defs).as_dict()
        assert s["cumulative"][metric] == v1
    assert s["patients"] == s["episodes"] == len(a)
    assert s["eligible"] == int(a["eligible"].sum()) and s["si_at_baseline"] == int(a["si_at_baseline"].sum())
    assert {k: v for k, v in new.counts.items() if k != "episodes"} == old.counts
