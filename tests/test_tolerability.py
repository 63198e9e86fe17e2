"""Tolerability summaries, worked by hand on five sessions of two patients."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analytics.errors import DefinitionError
from analytics.sessions import load_sessions
from analytics.tolerability import (
    adverse_event_rates, blood_pressure_rise, blood_pressure_summary, dissociation_sedation_by, dose_band,
    monitoring_completeness, stopped_early, tolerability_table,
)

COLS = ["patient_id", "day", "route", "dose_mg_per_kg", "dose_mg", "systolic_pre", "diastolic_pre", "systolic_post",
        "diastolic_post", "dissociation", "dissociation_scale", "sedation_moaas", "minutes_monitored",
        "adverse_events", "completed"]
ROWS = [
    # P1 IV: rise 45/5 (systolic rise counts), 39/24 (neither), 10/25 (diastolic rise counts; stopped early)
    ["P1", "0", "IV", "0.5", "", "120", "80", "165", "85", "20", "cadss", "5", "100", "nausea", "yes"],
    ["P1", "3", "IV", "0.75", "", "130", "85", "169", "109", "30", "cadss", "4", "90", "none", "yes"],
    ["P1", "7", "IV", "0.75", "", "130", "85", "140", "110", "10", "cadss", "3", "30", "nausea;vomiting", "no"],
    # P2 esketamine 56 mg: no post-dose check, 120 minutes; then 30/25 rise, 119 minutes
    ["P2", "0", "Spravato", "", "56", "140", "90", "", "", "6", "0-10", "5", "120", "", "yes"],
    ["P2", "4", "Spravato", "", "56", "120", "70", "150", "95", "4", "0-10", "2", "119", "other", "yes"],
]
Z = 1.959963984540054


def _sessions():
    return load_sessions(pd.DataFrame(ROWS, columns=COLS))


def _wilson(k, n):  # a second implementation, from the textbook formula
    p = k / n
    mid = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return mid - half, mid + half


def test_rise_per_session():
    per = blood_pressure_rise(_sessions())
    assert per["systolic_rise"].tolist()[:3] == [45, 39, 10] and pd.isna(per["systolic_rise"].iloc[3])
    assert per["diastolic_rise"].tolist()[4] == 25
    assert per["rise_over"].tolist()[:3] == [True, False, True] and pd.isna(per["rise_over"].iloc[3])
    assert per["rise_over"].iloc[4] == True  # noqa: E712 (diastolic 25 = the threshold)
    # 140/90 is not over 140/90; 140/110 is (diastolic)
    assert per["over_pre"].tolist() == [False] * 5
    assert per["over_post"].tolist()[:3] == [True, True, True]


def test_rise_thresholds_configurable():
    per = blood_pressure_rise(_sessions(), systolic_rise_at=39, diastolic_rise_at=26)
    assert per["rise_over"].tolist()[:3] == [True, True, False]
    with pytest.raises(DefinitionError, match="systolic_rise_at"):
        blood_pressure_rise(_sessions(), systolic_rise_at=0)


def test_summary_rates_with_wilson_and_no_data():
    table = blood_pressure_summary(_sessions()).set_index("measure")
    assert (table.loc["rise_over", "events"], table.loc["rise_over", "n"]) == (3, 4)
    lo, hi = _wilson(3, 4)
    assert table.loc["rise_over", "ci_low"] == pytest.approx(lo) and table.loc["rise_over", "ci_high"] == pytest.approx(hi)
    assert (table.loc["over_post", "events"], table.loc["over_post", "n"]) == (4, 4)
    assert table.loc["over_pre", "rate"] == 0.0 and table.loc["over_pre", "n"] == 5
    # no discharge readings: n = 0 is no data, never 0%
    assert table.loc["over_discharge", "n"] == 0 and pd.isna(table.loc["over_discharge", "rate"])
    assert "no data" in table.loc["over_discharge", "warning"]


def test_adverse_event_rates_per_session_and_patient():
    t = adverse_event_rates(_sessions()).set_index(["event", "unit"])
    assert (t.loc[("nausea", "session"), "events"], t.loc[("nausea", "session"), "n"]) == (2, 5)
    assert (t.loc[("nausea", "patient"), "events"], t.loc[("nausea", "patient"), "n"]) == (1, 2)
    assert t.loc[("any", "session"), "events"] == 3 and t.loc[("any", "patient"), "events"] == 2
    assert t.loc[("hypertension_treated", "session"), "rate"] == 0.0
    lo, hi = _wilson(2, 5)
    assert t.loc[("nausea", "session"), "ci_low"] == pytest.approx(lo)


def test_stopped_early_by_route():
    t = stopped_early(_sessions()).set_index("route")
    assert (t.loc["all", "events"], t.loc["all", "n"]) == (1, 5)
    assert (t.loc["iv_ketamine", "events"], t.loc["iv_ketamine", "n"]) == (1, 3)
    assert (t.loc["intranasal_esketamine", "events"], t.loc["intranasal_esketamine", "n"]) == (0, 2)


def test_monitoring_completeness_120_vs_119_minutes():
    t = monitoring_completeness(_sessions())
    got = {(r.route, r.measure): (r.events, r.n) for r in t.itertuples()}
    assert got == {
        ("intranasal_esketamine", "post-dose blood pressure recorded"): (1, 2),
        ("intranasal_esketamine", "monitored >= 120 minutes"): (1, 2),
        ("iv_ketamine", "post-dose blood pressure recorded"): (2, 2),
    }
    t = monitoring_completeness(_sessions(), min_minutes={"iv_ketamine": 90})
    got = {(r.route, r.measure): (r.events, r.n) for r in t.itertuples()}
    assert got[("iv_ketamine", "monitored >= 90 minutes")] == (2, 2)  # the stopped session is not counted


def test_dose_bands():
    assert dose_band(_sessions()).tolist() == ["0.5-0.75 mg/kg", "0.75-1 mg/kg", "0.75-1 mg/kg", "56-84 mg",
                                                "56-84 mg"]


def test_dissociation_and_sedation_by_session_number_and_dose():
    t = dissociation_sedation_by(_sessions()).set_index(["session_number", "measure"])
    assert t.loc[(1, "dissociation (cadss)"), "mean"] == 20 and t.loc[(1, "dissociation (0-10)"), "mean"] == 6
    assert t.loc[(2, "sedation (MOAA/S)"), "mean"] == 3 and t.loc[(2, "sedation (MOAA/S)"), "share_moaas_le_3"] == 0.5
    assert t.loc[(3, "sedation (MOAA/S)"), "share_moaas_le_3"] == 1.0
    assert t.loc[(1, "sedation (MOAA/S)"), "n"] == 2
    assert math.isnan(t.loc[(1, "dissociation (cadss)"), "share_moaas_le_3"])
    d = dissociation_sedation_by(_sessions(), by="dose_band").set_index(["dose_band", "measure"])
    assert d.loc[("0.75-1 mg/kg", "dissociation (cadss)"), "mean"] == 20  # (30 + 10) / 2
    assert d.loc[("56-84 mg", "dissociation (0-10)"), "median"] == 5
    with pytest.raises(DefinitionError):
        dissociation_sedation_by(_sessions(), by="site")


def test_summaries_without_optional_columns():
    minimal = load_sessions(pd.DataFrame([["P1", "0", "IM", "0.5", "yes"], ["P1", "2", "IM", "0.5", "no"]],
                                         columns=["patient_id", "day", "route", "dose_mg_per_kg", "completed"]))
    assert dissociation_sedation_by(minimal).empty
    table = blood_pressure_summary(minimal)
    assert table["n"].tolist() == [0, 0, 0, 0]  # no readings: no data, not 0%
    t = monitoring_completeness(minimal)
    assert t[["route", "events", "n"]].values.tolist() == [["im_ketamine", 0, 1]]
    assert adverse_event_rates(minimal).set_index(["event", "unit"]).loc[("any", "session"), "n"] == 2


def test_dose_band_edges_closed_on_the_left():
    frame = pd.DataFrame({"dose_mg_per_kg": pd.array([0.49, 0.5, 1.0, 10.0, None, None], dtype="Float64"),
                          "dose_mg": pd.array([None, None, None, None, 84.0, 83.9], dtype="Float64")})
    assert dose_band(frame).tolist() == ["0-0.5 mg/kg", "0.5-0.75 mg/kg", "1+ mg/kg", "1+ mg/kg", "84+ mg", "56-84 mg"]


# ----------------------------------------------------------------------------- the export table

def _table(frame=None, **options):
    table = tolerability_table(_sessions() if frame is None else frame, **options)
    return table.set_index(["measure", "unit", "route"])


def test_tolerability_table_by_hand():
    t = _table(suppression=False)
    counts = lambda key: tuple(t.loc[key, ["n", "events"]])  # noqa: E731
    # rise: sessions with a pre/post pair S1, S2, S3 (IV) and S5 (esketamine); S1, S3, S5 count
    assert counts(("blood-pressure rise", "session", "all")) == (4, 3)
    assert counts(("blood-pressure rise", "session", "iv_ketamine")) == (3, 2)
    assert counts(("blood-pressure rise", "session", "intranasal_esketamine")) == (1, 1)
    # 140/90 before dosing is not over 140/90; every post-dose reading is
    assert counts(("reading over (pre)", "session", "all")) == (5, 0)
    assert counts(("reading over (post)", "session", "all")) == (4, 4)
    # no discharge readings at all: the row stays, n = 0, no rate (no data, never 0%)
    assert counts(("reading over (discharge)", "session", "all")) == (0, 0)
    assert pd.isna(t.loc[("reading over (discharge)", "session", "all"), "rate"])
    assert counts(("stopped early", "session", "all")) == (5, 1)
    assert counts(("stopped early", "session", "intranasal_esketamine")) == (2, 0)
    assert counts(("adverse event: nausea", "session", "iv_ketamine")) == (3, 2)
    assert counts(("adverse event: nausea", "patient", "all")) == (2, 1)
    assert counts(("adverse event: other", "patient", "all")) == (2, 1)
    assert counts(("adverse event: any", "session", "all")) == (5, 3)
    assert counts(("adverse event: any", "patient", "all")) == (2, 2)
    # completed sessions S1, S2, S4, S5: S4 has no post-dose check; esketamine S4 120 min meets 120, S5 119 not
    assert counts(("post-dose blood pressure recorded", "session", "all")) == (4, 3)
    assert counts(("monitored at least the minimum", "session", "intranasal_esketamine")) == (2, 1)
    assert ("monitored at least the minimum", "session", "all") not in t.index  # no minimum for IV
    low, high = _wilson(3, 4)
    row = t.loc[("blood-pressure rise", "session", "all")]
    assert row["rate"] == 0.75 and math.isclose(row["ci_low"], low) and math.isclose(row["ci_high"], high)


def test_tolerability_table_thresholds_and_cohort():
    t = _table(suppression=False, systolic_rise_at=39, diastolic_rise_at=26,
               min_minutes={"intranasal_esketamine": 119})
    # S1 45 >= 39, S2 39 >= 39; S3's diastolic 25 and S5's 30/25 are below 39/26
    assert tuple(t.loc[("blood-pressure rise", "session", "all"), ["n", "events"]]) == (4, 2)
    assert tuple(t.loc[("monitored at least the minimum", "session", "intranasal_esketamine"),
                       ["n", "events"]]) == (2, 2)
    only_p2 = _table(patients=["P2"], suppression=False)
    assert tuple(only_p2.loc[("stopped early", "session", "all"), ["n", "events"]]) == (2, 0)
    assert set(only_p2.index.get_level_values("route")) == {"all", "intranasal_esketamine"}


def _copies(iv_patients: int, esk_patients: int) -> pd.DataFrame:
    """The five sessions' P1 rows for ``iv_patients`` patients and P2 rows for ``esk_patients``."""
    rows = [[f"{r[0]}-{k}", *r[1:]] for k in range(iv_patients) for r in ROWS if r[0] == "P1"]
    rows += [[f"{r[0]}-{k}", *r[1:]] for k in range(esk_patients) for r in ROWS if r[0] == "P2"]
    return load_sessions(pd.DataFrame(rows, columns=COLS))


def test_tolerability_table_is_suppressed_with_complements():
    t = _table(_copies(11, 6))  # suppression on by default
    shown = t["events"].astype(str)
    # six esketamine patients, 12 sessions: 'any' (their 'other') 6 times -> hidden; 'any' is 22 for IV and 28 for
    # all routes, so one of those goes too, or 28 - 22 gives the hidden 6 back
    assert shown[("adverse event: any", "session", "intranasal_esketamine")] == "<11"
    assert t.loc[("adverse event: any", "session", "intranasal_esketamine"), "n"] == 12
    complements = (shown[("adverse event: any", "session", "iv_ketamine")],
                   shown[("adverse event: any", "session", "all")])
    assert any(v in ("<11", "suppressed") for v in complements)
    # nothing from 1 to 10 is shown anywhere; a zero may be
    numbers = pd.to_numeric(pd.concat([t["n"], t["events"]]).astype(str), errors="coerce")
    assert not numbers.between(1, 10).any()
    assert shown[("stopped early", "session", "intranasal_esketamine")] == "0"
    # large cells stay: 11 IV patients had 33 sessions, 22 of them with nausea
    assert t.loc[("adverse event: nausea", "session", "iv_ketamine"), ["n", "events"]].astype(str).tolist() == \
        ["33", "22"]
