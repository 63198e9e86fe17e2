"""The sessions table: validation, canonical frame and infusion numbers, worked by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.errors import QuestionnaireValidationError, SessionAlignmentError, SessionValidationError
from analytics.sessions import derive_infusion_numbers, load_sessions, validate_sessions

HEADER = ["patient_id", "session_date", "route", "dose_mg_per_kg", "systolic_pre", "diastolic_pre", "heart_rate_pre",
          "systolic_post", "diastolic_post", "heart_rate_post", "spo2_lowest", "dissociation", "dissociation_scale",
          "sedation_moaas", "minutes_monitored", "adverse_events", "completed"]


def _row(pid="P1", date="2025-01-06", route="IV ketamine", dose="0.5", sp="120", dp="80", hp="70", spost="135",
         dpost="85", hpost="80", spo2="97", diss="20", scale="CADSS", moaas="5", minutes="90", ae="", done="yes"):
    return [pid, date, route, dose, sp, dp, hp, spost, dpost, hpost, spo2, diss, scale, moaas, minutes, ae, done]


def _frame(*rows):
    return pd.DataFrame([list(r) for r in rows], columns=HEADER).astype(object)


def test_clean_table_gives_canonical_frame_with_session_numbers():
    frame = _frame(
        _row(pid="P2", date="2025-01-08", route="esketamine", dose="", ae="nausea; Vomiting"),
        _row(pid="P1", date="2025-01-09", route="iv"),
        _row(pid="P1", date="2025-01-06", route="Intravenous ketamine", ae="none"),
        _row(pid="P1", date="2025-01-13", route="IV", done="no", ae="emergence reaction"),
    )
    frame.loc[0, "dose_mg_per_kg"] = ""
    frame["dose_mg"] = ["56", "", "", ""]
    report = validate_sessions(frame)
    assert report.ok, report.errors
    f = report.frame
    # patients in order of first appearance (as questionnaires), then time
    assert f["patient_id"].astype(str).tolist() == ["P2", "P1", "P1", "P1"]
    assert f["session_number"].tolist() == [1, 1, 2, 3]
    assert f["line"].tolist() == [2, 4, 3, 5]
    assert f["route"].astype(str).tolist() == ["intranasal_esketamine"] + ["iv_ketamine"] * 3
    assert f["ae_nausea"].tolist() == [True, False, False, False]
    assert f["ae_vomiting"].tolist() == [True, False, False, False]
    assert f["ae_emergence_reaction"].tolist() == [False, False, False, True]
    assert f["completed"].tolist() == [True, True, True, False]
    assert f["dose_mg"].tolist()[0] == 56.0 and f["dose_mg_per_kg"].tolist()[1] == 0.5
    assert f["dissociation_scale"].astype(str).tolist() == ["cadss"] * 4
    assert report.counts["stopped_early"] == 1 and report.counts["patients"] == 2


def test_every_problem_at_once_with_line_and_column():
    frame = _frame(
        _row(route="by mouth please"),                    # line 2: unknown route
        _row(date="2025-01-07", sp="80", dp="90"),        # line 3: diastolic >= systolic
        _row(date="2025-01-08", spo2="49"),               # line 4: SpO2 below 50
        _row(date="2025-01-09", diss="93"),               # line 5: CADSS over 92
        _row(date="2025-01-10", scale="0-10", diss="11"),  # line 6: 0-10 rating over 10
        _row(date="2025-01-11", moaas="6"),               # line 7: MOAA/S over 5
        _row(date="2025-01-12", ae="nausea; felt dizzy"),  # line 8: free text adverse event
        _row(date="2025-01-13", done="maybe"),            # line 9: completed not yes/no
        _row(date="2025-01-14", dose=""),                 # line 10: completed without dose
        _row(date="2025-01-15", dose="12"),               # line 11: 12 mg/kg implausible
        _row(date="13/01/2025"),                          # line 12: not an ISO date
    )
    report = validate_sessions(frame)
    got = report.errors[["line", "column"]].values.tolist()
    assert got == [[2, "route"], [3, "diastolic_pre"], [4, "spo2_lowest"], [5, "dissociation"], [6, "dissociation"],
                   [7, "sedation_moaas"], [8, "adverse_events"], [9, "completed"], [10, "dose_mg_per_kg"],
                   [11, "dose_mg_per_kg"], [12, "session_date"]]
    problems = report.errors["problem"].tolist()
    assert "allowed: iv_ketamine" in problems[0]
    assert "diastolic is not below systolic" in problems[1]
    assert "allowed: 50 to 100" in problems[2]
    assert "cadss scale; allowed: 0 to 92" in problems[3]
    assert "0-10 scale; allowed: 0 to 10" in problems[4]
    assert "allowed: 0 to 5" in problems[5]
    assert "'felt dizzy' is not in the adverse-event vocabulary" in problems[6]
    with pytest.raises(SessionValidationError) as exc:
        report.raise_if_invalid()
    assert isinstance(exc.value, QuestionnaireValidationError)
    assert "line 2, column route" in str(exc.value)


def test_boundaries_accepted():
    frame = _frame(
        _row(sp="260", dp="159", spo2="50", diss="92", moaas="0", minutes="1440", dose="10"),
        _row(date="2025-01-07", sp="50", dp="20", hp="25", spo2="100", diss="0", moaas="5", minutes="0", dose="0.01"),
        _row(date="2025-01-08", scale="0-10", diss="10", done="no", dose=""),
    )
    assert validate_sessions(frame).ok


def test_header_problems_first_identifier_free_text_missing():
    frame = _frame(_row()).drop(columns=["completed"])
    frame["Patient Name"] = "x"
    frame["Nurse notes"] = "fine"
    report = validate_sessions(frame)
    got = report.errors[["line", "column"]].values.tolist()
    assert got == [[1, "Patient Name"], [1, "Nurse notes"], [1, "completed"]]
    assert "direct identifier" in report.errors["problem"].iloc[0]
    assert "free text" in report.errors["problem"].iloc[1]


def test_dissociation_scale_from_option_or_refused():
    frame = _frame(_row()).drop(columns=["dissociation_scale"])
    assert "scale is not named" in validate_sessions(frame).errors["problem"].iloc[0]
    ok = validate_sessions(frame, dissociation_scale="cadss")
    assert ok.ok and ok.frame["dissociation_scale"].astype(str).tolist() == ["cadss"]
    assert "unknown dissociation scale" in validate_sessions(frame, dissociation_scale="bprs").errors["problem"].iloc[0]


def test_sentences_in_an_extra_column_are_refused():
    frame = _frame(_row(), _row(date="2025-01-07"))
    frame["site"] = ["north", "patient said she felt unwell"]
    report = validate_sessions(frame)
    assert report.errors[["line", "column"]].values.tolist() == [[3, "site"]]
    frame["site"] = ["north", "south"]
    assert validate_sessions(frame).frame["site"].astype(str).tolist() == ["north", "south"]


def test_same_patient_same_day_twice_refused_unless_other_episode():
    frame = _frame(_row(), _row(dose="0.75"))
    report = validate_sessions(frame)
    assert report.errors[["line", "column"]].values.tolist() == [[3, "session_date"]]
    assert "(line 2)" in report.errors["problem"].iloc[0]
    frame["episode"] = ["1", "2"]
    f = validate_sessions(frame).frame
    assert f["session_number"].tolist() == [1, 1] and f["episode"].astype(str).tolist() == ["1", "2"]


def test_ssn_as_patient_id_refused():
    report = validate_sessions(_frame(_row(pid="123-45-6789")))
    assert "social security" in report.errors["problem"].iloc[0]


def _sessions_for_infusions():
    rows = [_row(date=d, done=c, dose=dose) for d, c, dose in
            (("2025-01-06", "yes", "0.5"), ("2025-01-08", "yes", "0.5"), ("2025-01-10", "no", ""),
             ("2025-01-13", "yes", "0.5"), ("2025-01-15", "no", "0.5"))]
    rows.append(_row(pid="P2", date="2025-01-07"))
    frame = _frame(*rows)
    frame["day"] = ["0", "2", "4", "7", "9", "0"]
    return load_sessions(frame)


def test_infusion_numbers_same_day_counts_before():
    sessions = _sessions_for_infusions()
    q = pd.DataFrame({
        "patient_id": ["P1", "P1", "P1", "P1", "P1", "P1", "P2", "P3", "P1"],
        "assessment_date": pd.to_datetime(["2025-01-01", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-12",
                                           "2025-01-20", "2025-01-07", "2025-01-09", None]),
    }, index=[10, 11, 12, 13, 14, 15, 16, 17, 18])
    got = derive_infusion_numbers(q, sessions)
    # k = 1 + dosed sessions strictly before (the questionnaire is completed before infusion k):
    # before any -> 1; same day as #1 -> 1; after #1 -> 2; same day as #2 -> 2; the 10th was stopped before a
    # dose -> not counted, 3; after the 13th and the 15th (stopped part-way, dosed) -> 5; P2 same day as its only
    # session -> 1; P3 has no sessions -> unknown; no date -> unknown
    assert got.iloc[:7].tolist() == [1, 1, 2, 2, 3, 5, 1] and pd.isna(got.iloc[7]) and pd.isna(got.iloc[8])
    assert got.index.tolist() == q.index.tolist() and str(got.dtype) == "Int16"


def test_infusion_numbers_by_study_day_and_no_common_axis():
    sessions = _sessions_for_infusions()
    q = pd.DataFrame({"patient_id": ["P1", "P1", "P1"], "day": pd.array([0, 3, 8], dtype="Int16")})
    # day 0 -> 1; day 3: days 0 and 2 before -> 3; day 8: days 0, 2, 7 (day 4 had no dose) -> 4
    assert derive_infusion_numbers(q, sessions).tolist() == [1, 3, 4]
    with pytest.raises(SessionAlignmentError, match="no time axis"):
        derive_infusion_numbers(pd.DataFrame({"patient_id": ["P1"], "week": [1]}), sessions)


def test_infusion_numbers_restart_with_each_episode():
    sessions = load_sessions(_frame(*[_row(date=d) for d in ("2025-01-06", "2025-01-08", "2025-03-01",
                                                              "2025-03-03")]))
    # canonical questionnaires: episode 2 starts on 2025-03-01 (assessment_date - day)
    q = pd.DataFrame({"patient_id": ["P1"] * 5, "episode": [1, 1, 2, 2, 2],
                      "day": pd.array([0, 30, -4, 0, 2], dtype="Int16"),
                      "assessment_date": pd.to_datetime(["2025-01-06", "2025-02-05", "2025-02-25", "2025-03-01",
                                                         "2025-03-03"])})
    # episode 1: day 0 -> 1, after both -> 3; episode 2: screening before its start -> 1, day 0 -> 1, day 2 -> 2
    assert derive_infusion_numbers(q, sessions).tolist() == [1, 3, 1, 1, 2]
    # the same on the day axis, sessions matched to episodes by their episode code
    days = load_sessions(_frame(*[_row(date=d) for d in ("2025-01-06", "2025-01-08", "2025-03-01",
                                                          "2025-03-03")]).assign(
        day=["0", "2", "0", "2"], episode=["1", "1", "2", "2"]).drop(columns="session_date"))
    assert derive_infusion_numbers(q.drop(columns="assessment_date"), days).tolist() == [1, 3, 1, 1, 2]


def test_derived_infusion_numbers_match_the_sample_clinics_own():
    # a second implementation: the synthetic clinic numbers its infusion visits itself; the sessions generated
    # for it must give the same numbers back on every questionnaire that carries one
    from analytics import load_questionnaires
    from conftest import SAMPLE
    q = load_questionnaires(SAMPLE)
    sessions = load_sessions(SAMPLE.with_name("sample_sessions.csv"))
    given = q["infusion_number"]
    derived = derive_infusion_numbers(q, sessions)
    assert given.notna().sum() > 3000
    assert (derived[given.notna()] == given[given.notna()]).all()


def test_typed_parquet_like_frame():
    frame = _frame(_row(), _row(date="2025-01-07"))
    for c, values in (("systolic_pre", [120, 121]), ("diastolic_pre", [80, 81]), ("heart_rate_pre", [70, 71]),
                      ("sedation_moaas", [5, 4])):
        frame[c] = pd.array(values, dtype="Int64")
    frame["dose_mg_per_kg"] = np.array([0.5, 0.6])
    report = validate_sessions(frame)
    assert report.ok, report.errors
    assert report.frame["systolic_pre"].tolist() == [120, 121]


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx", ".csv"])
def test_read_from_files(tmp_path, suffix):
    frame = _frame(_row(), _row(date="2025-01-08", ae="vomiting", done="no"))
    path = tmp_path / f"sessions{suffix}"
    if suffix == ".parquet":  # typed columns: dates, numbers and booleans as a clinic system writes them
        typed = frame.assign(session_date=pd.to_datetime(frame["session_date"]),
                             completed=frame["completed"] == "yes",
                             systolic_pre=pd.array([120, 124], dtype="Int64"),
                             dose_mg_per_kg=[0.5, 0.5])
        typed.to_parquet(path)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)
    report = validate_sessions(path)
    assert report.ok, report.to_text()
    f = report.frame
    assert f["completed"].tolist() == [True, False] and f["ae_vomiting"].tolist() == [False, True]
    assert f["session_date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-06", "2025-01-08"]
    assert "usable. 2 sessions from 1 patient." in report.to_text()


def test_refused_report_text_lists_every_problem():
    report = validate_sessions(_frame(_row(route="drip"), _row(date="2025-01-07", spo2="20")))
    text = report.to_text()
    assert "REFUSED, 2 error row(s)" in text and "route" in text and "spo2_lowest" in text


def test_with_infusion_numbers_fills_only_an_absent_column_and_enables_outcomes_by_infusions():
    from analytics import load_questionnaires, patient_outcomes
    from analytics.infusions import infusion_outcomes
    from analytics.sessions import with_infusion_numbers
    from conftest import SAMPLE
    q = load_questionnaires(SAMPLE)
    sessions = load_sessions(SAMPLE.with_name("sample_sessions.csv"))
    assert with_infusion_numbers(q, sessions) is q  # given numbers are never replaced
    bare = q.drop(columns="infusion_number")
    assert infusion_outcomes(patient_outcomes(bare)).empty
    filled = with_infusion_numbers(bare, sessions)
    assert filled["infusion_number"].notna().all()
    figures = infusion_outcomes(patient_outcomes(filled))
    assert (figures["n"] > 0).all() and list(figures["metric"]) == ["response", "remission", "si_free"]
    assert with_infusion_numbers(bare, None) is bare
