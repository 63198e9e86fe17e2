"""Differential test: ``patient_outcomes`` against a plain per-episode reading of docs/methods.md (spec v2).

The reference below is written from the text of the methods document, one
episode at a time with ordinary loops and no NumPy; it shares no code with
``analytics/outcomes.py``.  Hypothesis builds small clinics whose days and
totals crowd the boundaries the spec names: the baseline window [-30, 0], the
endpoint window [T - D, T + D] and day 0, endpoint ties (T - k and T + k),
totals at exactly 50% of baseline and at 4 and 5, baselines at 9 and 10,
totals-only rows (item 9 unknown), incomplete questionnaires, and second
episodes with screening rows before their start (negative days).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import patient_outcomes
from analytics.definitions import OutcomeDefinitions

# --------------------------------------------------------------------------- reference


def reference_outcomes(rows: list[dict], d: OutcomeDefinitions) -> dict[tuple[str, int], dict]:
    """Spec v2 outcomes per (patient, episode), computed one episode at a time.

    ``rows``: dicts with patient_id, episode, day, phq9_total, phq9_9 (None: unknown), complete.
    """
    units: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        units.setdefault((r["patient_id"], r["episode"]), []).append(r)
    T = 7 * d.week
    w_lo, w_hi = T - d.window_days, T + d.window_days
    result = {}
    for unit, unit_rows in units.items():
        # "Incomplete questionnaires ... are left out of every outcome."
        scored = sorted((r for r in unit_rows if r["complete"]), key=lambda r: r["day"])

        # Baseline: the latest scored questionnaire with study day in [-30, 0].
        baseline = None
        for r in scored:
            if -30 <= r["day"] <= 0:
                baseline = r  # sorted by day: the last one seen is the latest
        eligible = baseline is not None and baseline["phq9_total"] >= d.min_baseline
        si_base = baseline is not None and baseline["phq9_9"] is not None and baseline["phq9_9"] >= 1
        si_unknown = baseline is not None and baseline["phq9_9"] is None

        # Endpoint: day > 0 and T - D <= day <= T + D, closest to T; a tie goes to the earlier day.
        endpoint, source = None, None
        for r in scored:
            if r["day"] > 0 and w_lo <= r["day"] <= w_hi:
                if endpoint is None or abs(r["day"] - T) < abs(endpoint["day"] - T):
                    endpoint = r
        if endpoint is not None:
            source = "window"
        elif d.analysis == "locf" and baseline is not None:
            # the last complete questionnaire from the baseline day up to (not including) T - D
            for r in scored:
                if baseline["day"] <= r["day"] < w_lo:
                    endpoint = r
            source = "carried forward" if endpoint is not None else None

        si_end_unknown = si_base and endpoint is not None and endpoint["phq9_9"] is None
        if endpoint is not None and baseline is not None:
            responded = endpoint["phq9_total"] <= 0.5 * baseline["phq9_total"]
        else:
            responded = False
        remitted = endpoint is not None and endpoint["phq9_total"] < 5
        resolved = endpoint is not None and endpoint["phq9_9"] == 0

        has_window = source == "window"
        if d.analysis == "completer":
            in_rr, in_si = eligible and has_window, si_base and has_window
        else:
            in_rr, in_si = eligible, si_base
        if si_end_unknown:
            in_si = False

        # Cumulative: first day in (0, T] meeting the criterion; censored at the last day after baseline (or 0).
        first_resp = first_rem = None
        last_fu = 0
        for r in scored:
            if r["day"] > 0:
                last_fu = r["day"]
                if r["day"] <= T and baseline is not None:
                    if first_resp is None and r["phq9_total"] <= 0.5 * baseline["phq9_total"]:
                        first_resp = r["day"]
                    if first_rem is None and r["phq9_total"] < 5:
                        first_rem = r["day"]

        result[unit] = {
            "baseline_day": None if baseline is None else baseline["day"],
            "baseline_total": None if baseline is None else baseline["phq9_total"],
            "baseline_item9": None if baseline is None else baseline["phq9_9"],
            "eligible": eligible,
            "si_at_baseline": si_base,
            "si_unknown": si_unknown,
            "endpoint_day": None if endpoint is None else endpoint["day"],
            "endpoint_total": None if endpoint is None else endpoint["phq9_total"],
            "endpoint_item9": None if endpoint is None else endpoint["phq9_9"],
            "endpoint_source": source,
            "si_endpoint_unknown": si_end_unknown,
            "response": responded if in_rr else None,
            "remission": remitted if in_rr else None,
            "si_resolved": resolved if in_si else None,
            "first_response_day": first_resp if eligible else None,
            "first_remission_day": first_rem if eligible else None,
            "last_followup_day": last_fu,
        }
    return result


# --------------------------------------------------------------------------- clinics


def boundary_days(d: OutcomeDefinitions) -> list[int]:
    T, D = 7 * d.week, d.window_days
    edges = {-31, -30, -29, -1, 0, 1, T - D - 1, T - D, T - D + 1, T - 1, T, T + 1, T + D - 1, T + D, T + D + 1}
    edges |= {T - k for k in range(1, 4)} | {T + k for k in range(1, 4)}  # ties either side of T
    return sorted(edges)


definitions_st = st.builds(
    OutcomeDefinitions,
    week=st.sampled_from([1, 2, 6]),
    window_days=st.sampled_from([0, 1, 3, 6]),
    min_baseline=st.sampled_from([0, 9, 10]),
    analysis=st.sampled_from(["completer", "itt", "locf"]),
    episodes=st.just("all"),
)


@st.composite
def clinics(draw):
    d = draw(definitions_st)
    days_st = st.one_of(st.sampled_from(boundary_days(d)), st.integers(-40, 7 * d.week + d.window_days + 10))
    rows = []
    for pid in range(draw(st.integers(1, 6))):
        for episode in range(1, draw(st.integers(1, 3)) + 1):
            baseline_total = draw(st.sampled_from([4, 5, 9, 10, 11, 12, 18, 27]))
            days = draw(st.lists(days_st, min_size=0, max_size=7, unique=True))
            if episode > 1 and draw(st.booleans()):
                days.append(draw(st.integers(-30, -1)))  # screening before a re-induction
                days = list(dict.fromkeys(days))
            totals_only = draw(st.booleans())  # an export with totals only: item 9 unknown throughout
            for day in sorted(days):
                total = draw(st.one_of(
                    st.sampled_from([baseline_total // 2, (baseline_total + 1) // 2, 4, 5, 0, baseline_total]),
                    st.integers(0, 27)))
                item9 = None if totals_only or draw(st.integers(0, 9)) == 0 else draw(st.integers(0, 3))
                rows.append({"patient_id": f"P{pid:02d}", "episode": episode, "day": day,
                             "phq9_total": total, "phq9_9": item9,
                             "complete": draw(st.integers(0, 7)) != 0})
    return d, rows


def canonical(rows: list[dict]) -> pd.DataFrame:
    """The canonical frame shape: sorted by patient, episode and day, nullable integers."""
    frame = pd.DataFrame(rows, columns=["patient_id", "episode", "day", "phq9_total", "phq9_9", "complete"])
    frame = frame.sort_values(["patient_id", "episode", "day"], kind="stable").reset_index(drop=True)
    return frame.astype({"patient_id": "str", "episode": "int64", "day": "Int64", "phq9_total": "Int64",
                         "phq9_9": "Int64", "complete": "bool"})


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return int(value)
    return str(value)


def assert_same(frame: pd.DataFrame, d: OutcomeDefinitions, rows: list[dict]):
    got = patient_outcomes(frame, definitions=d, attributes=False)
    expected = reference_outcomes(rows, d)
    assert sorted(expected) == sorted(zip(got["patient_id"], got["episode"].astype(int)))
    for rec in got.to_dict("records"):
        want = expected[(rec["patient_id"], int(rec["episode"]))]
        for column, value in want.items():
            assert _plain(rec[column]) == value, (rec["patient_id"], rec["episode"], column, d)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clinics())
def test_patient_outcomes_match_the_per_episode_reference(clinic):
    d, rows = clinic
    if not rows:
        return
    assert_same(canonical(rows), d, rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clinics(), st.sampled_from(["first", "latest"]))
def test_episode_selection_returns_the_reference_rows(clinic, episodes):
    d, rows = clinic
    if not rows:
        return
    d = OutcomeDefinitions(week=d.week, window_days=d.window_days, min_baseline=d.min_baseline,
                           analysis=d.analysis, episodes=episodes)
    got = patient_outcomes(canonical(rows), definitions=d, attributes=False)
    every = reference_outcomes(rows, d)
    pick = min if episodes == "first" else max
    chosen = {pid: pick(e for p, e in every if p == pid) for pid, _ in every}
    assert list(zip(got["patient_id"], got["episode"].astype(int))) == sorted(chosen.items())
    for rec in got.to_dict("records"):
        want = every[(rec["patient_id"], int(rec["episode"]))]
        assert (_plain(rec["response"]), _plain(rec["remission"]), _plain(rec["si_resolved"])) == \
            (want["response"], want["remission"], want["si_resolved"])


# Hand-picked clinics at the boundaries, so a failure of the reference itself is visible too.
T6 = OutcomeDefinitions()  # week 6, window 35-49, T = 42


@pytest.mark.parametrize("endpoint_total, response, remission", [(10, True, False), (11, False, False),
                                                                 (4, True, True), (5, True, False)])
def test_reference_and_engine_agree_on_hand_worked_boundaries(endpoint_total, response, remission):
    rows = [{"patient_id": "A", "episode": 1, "day": -30, "phq9_total": 20, "phq9_9": 1, "complete": True},
            {"patient_id": "A", "episode": 1, "day": 39, "phq9_total": endpoint_total, "phq9_9": 0, "complete": True},
            {"patient_id": "A", "episode": 1, "day": 45, "phq9_total": 27, "phq9_9": 2, "complete": True}]
    # day 39 and day 45 are 3 days either side of T = 42: the tie goes to day 39
    want = reference_outcomes(rows, T6)[("A", 1)]
    assert (want["endpoint_day"], want["response"], want["remission"], want["si_resolved"]) == \
        (39, response, remission, True)
    assert_same(canonical(rows), T6, rows)


def rows_of(frame: pd.DataFrame) -> list[dict]:
    """Plain rows of a canonical frame (an ``episode`` column or one episode per patient)."""
    episode = frame["episode"] if "episode" in frame else pd.Series(1, index=frame.index)
    item9 = frame["phq9_9"] if "phq9_9" in frame else pd.Series(pd.NA, index=frame.index)
    rows = []
    for pid, ep, day, total, i9, complete in zip(frame["patient_id"], episode, frame["day"], frame["phq9_total"],
                                                 item9, frame["complete"]):
        if pd.isna(day):
            continue  # no study day: in no outcome
        rows.append({"patient_id": str(pid), "episode": int(ep), "day": int(day),
                     "phq9_total": None if pd.isna(total) else int(total),
                     "phq9_9": None if pd.isna(i9) else int(i9), "complete": bool(complete)})
    return rows


@pytest.mark.parametrize("analysis", ["completer", "itt", "locf"])
def test_sample_clinic_matches_the_reference(analysis):
    from analytics import load_questionnaires
    from conftest import SAMPLE
    frame = load_questionnaires(SAMPLE)
    d = OutcomeDefinitions(analysis=analysis, episodes="all")
    assert_same(frame, d, rows_of(frame))
