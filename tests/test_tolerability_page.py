"""The Tolerability page under Streamlit's AppTest: figures equal the engine's, controls change them, no data says so."""
from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import load_questionnaires
from analytics.sessions import load_sessions
from analytics.tolerability import tolerability_table
from analytics.wording import percent
from conftest import ROOT, SAMPLE, TINY

SESSIONS = ROOT / "sample_data" / "sample_sessions.csv"


pytestmark = pytest.mark.usefixtures("without_clinic_store")


@pytest.fixture(scope="module")
def sessions():
    return load_sessions(SESSIONS)


def page(monkeypatch, data=None, sessions_file=None):
    if data is not None:
        monkeypatch.setenv("OUTCOMES_DATA", str(data))
    if sessions_file is not None:
        monkeypatch.setenv("OUTCOMES_SESSIONS", str(sessions_file))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/tolerability.py").run()
    return at


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def table_with(at, text):
    return next(t.value for t in at.dataframe if t.value.astype(str).apply(lambda c: c.str.contains(text,
                                                                                              regex=False)).any().any())


def row(frame, measure, unit="session", route="all"):
    hit = frame[(frame["measure"] == measure) & (frame["unit"] == unit) & (frame["route"] == route)]
    return hit.iloc[0]


def test_sample_clinic_figures_equal_the_engine(monkeypatch, sessions):
    at = page(monkeypatch)
    assert not at.exception, at.exception
    assert any("Synthetic sample data" in i.value for i in at.info)
    assert metric(at, "Sessions") == str(len(sessions))
    assert metric(at, "Patients with sessions") == str(sessions["patient_id"].nunique())
    engine = tolerability_table(sessions, suppression=False)
    assert metric(at, "Sessions stopped early") == percent(row(engine, "stopped early")["rate"])
    assert metric(at, "Patients with any adverse event") == percent(row(engine, "adverse event: any", "patient")["rate"])
    bp = table_with(at, "blood-pressure rise")
    shown = bp[(bp["Measure"] == "blood-pressure rise") & (bp["Route"] == "All routes")].iloc[0]
    expected = row(engine, "blood-pressure rise")
    assert shown["n"] == expected["n"]
    assert shown["Events"] == expected["events"] and shown["Rate"] == percent(expected["rate"])
    monitoring = table_with(at, "monitored at least the minimum")
    esk = monitoring[monitoring["Measure"] == "monitored at least the minimum"].iloc[0]
    assert esk["Route"] == "Intranasal esketamine"
    assert esk["Rate"] == percent(row(engine, "monitored at least the minimum", route="intranasal_esketamine")["rate"])
    assert any("clinical advice" in c.value for c in at.caption)
    assert any("clinic convention" in str(v) for t in at.dataframe for v in t.value.to_numpy().ravel())


def test_thresholds_in_the_sidebar_change_the_numbers(monkeypatch, sessions):
    at = page(monkeypatch)
    at.number_input(key="tol_systolic_rise").set_value(20).run()
    at.number_input(key="tol_min_minutes").set_value(150).run()
    assert not at.exception, at.exception
    engine = tolerability_table(sessions, suppression=False, systolic_rise_at=20,
                                min_minutes={"intranasal_esketamine": 150})
    bp = table_with(at, "blood-pressure rise")
    shown = bp[(bp["Measure"] == "blood-pressure rise") & (bp["Route"] == "All routes")].iloc[0]
    assert shown["Events"] == row(engine, "blood-pressure rise")["events"]
    default = row(tolerability_table(sessions, suppression=False), "blood-pressure rise")["events"]
    assert shown["Events"] > default  # a lower threshold counts more sessions
    monitoring = table_with(at, "monitored at least the minimum")
    esk = monitoring[monitoring["Measure"] == "monitored at least the minimum"].iloc[0]
    assert esk["Events"] == row(engine, "monitored at least the minimum", route="intranasal_esketamine")["events"]


def test_dissociation_by_session_number_and_by_dose(monkeypatch):
    at = page(monkeypatch)
    by_number = table_with(at, "dissociation (cadss)")
    first = by_number[(by_number["Session number"] == 1) & (by_number["Measure"] == "dissociation (cadss)")].iloc[0]
    tenth = by_number[(by_number["Session number"] == 10) & (by_number["Measure"] == "dissociation (cadss)")].iloc[0]
    assert first["Median"] > tenth["Median"]  # dissociation fades over the series in the sample clinic
    at.radio(key="tol_by").set_value("dose").run()
    assert not at.exception
    by_dose = table_with(at, "dissociation (cadss)")
    assert "Dose band" in by_dose.columns and by_dose["Dose band"].str.contains("mg").all()


def test_site_filter_keeps_that_sites_sessions(monkeypatch, sessions):
    at = page(monkeypatch)
    at.multiselect(key="filter_site").set_value(["Riverside"]).run()
    assert not at.exception, at.exception
    riverside = set(load_questionnaires(SAMPLE).query("site == 'Riverside'")["patient_id"].astype(str))
    mine = sessions[sessions["patient_id"].astype(str).isin(riverside)]
    assert metric(at, "Sessions") == str(len(mine))
    assert set(mine["route"].astype(str)) == {"intranasal_esketamine"}  # the esketamine site


def test_source_without_sessions_says_how_to_load_them(monkeypatch):
    at = page(monkeypatch, data=TINY)
    assert not at.exception, at.exception
    assert any("no sessions table" in i.value and "import-sessions" in i.value for i in at.info)
    assert not at.metric


def test_refused_sessions_file_shows_its_problems(monkeypatch, tmp_path):
    bad = tmp_path / "sessions.csv"
    bad.write_text("patient_id,day,route,dose_mg,completed\n001,0,teleport,56,yes\n", encoding="utf-8")
    at = page(monkeypatch, data=TINY, sessions_file=bad)
    assert not at.exception, at.exception
    assert any("sessions table was refused" in e.value for e in at.error)
    problems = at.dataframe[0].value
    assert problems.astype(str).apply(lambda c: c.str.contains("not a known route")).any().any()


def test_store_sessions_are_shown(monkeypatch, tmp_path):
    from analytics.session_store import import_sessions
    from analytics.store import import_questionnaires

    db = tmp_path / "clinic.sqlite"
    import_questionnaires(SAMPLE, db=db)
    import_sessions(SESSIONS, db=db)
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    at = page(monkeypatch)
    assert not at.exception, at.exception
    assert at.selectbox(key="source").value == "store"
    assert metric(at, "Sessions") == str(len(load_sessions(SESSIONS)))


def test_infusion_numbers_come_from_the_sessions_when_the_file_has_none(monkeypatch, tmp_path):
    q = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).drop(columns="infusion_number")
    data = tmp_path / "no_infusions.csv"
    q.to_csv(data, index=False)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    monkeypatch.setenv("OUTCOMES_DATA", str(data))
    monkeypatch.setenv("OUTCOMES_SESSIONS", str(SESSIONS))
    at.run()
    assert not at.exception, at.exception
    # the overview's outcomes by infusions received exist only with infusion numbers
    assert any("Oliver 2022" in t.value.columns for t in at.dataframe)


def test_patient_page_shows_that_patients_sessions_on_the_course_axis(monkeypatch, sessions):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/patient.py").run()
    assert not at.exception, at.exception
    pid = at.selectbox(key="patient").value
    mine = sessions[sessions["patient_id"].astype(str) == pid]
    assert any(h.value == "Sessions" for h in at.subheader)
    table = next(t.value for t in at.dataframe if "Adverse events" in t.value.columns)
    assert len(table) == len(mine) and table["Session number"].tolist() == mine["session_number"].tolist()
    assert any(f"{len(mine)} session(s) on the same time axis" in c.value for c in at.caption)
    # the session chart's x positions are the sessions' study days (first episode: offset 0)
    from analytics.sessions import session_study_days
    q = load_questionnaires(SAMPLE)
    days = session_study_days(mine, q[q["patient_id"].astype(str) == pid])
    assert table["Study day"].tolist() == days["study_day"].tolist()


def test_export_page_workbook_has_the_suppressed_tolerability_sheet(monkeypatch):
    import io

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    at.switch_page("app_pages/export.py").run()
    quarter = at.selectbox(key="export_quarter").value
    at.button(key="build_export").click().run()
    assert not at.exception, at.exception
    files = at.session_state["export_files"][2]
    sheet = pd.read_excel(io.BytesIO(files[f"outcomes_{quarter}.xlsx"]), sheet_name="Tolerability", dtype=str)
    assert {"Measure", "Counted per", "Route", "Count (n)", "With it (events)", "Status"} <= set(sheet.columns)
    # number columns hold only numbers: a hidden count is an empty cell, and the Status column says why
    assert not pd.to_numeric(sheet["With it (events)"], errors="coerce").between(1, 10).any()
    assert "Tolerability of the cohort" in files[f"report_{quarter}.html"].decode("utf-8")
