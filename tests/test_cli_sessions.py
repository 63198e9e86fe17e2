"""The sessions commands: import-sessions, validate-sessions, and sessions in summary and export."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from cli_runner import run_cli as run
from conftest import ROOT, SAMPLE, TINY

SESSIONS = ROOT / "sample_data" / "sample_sessions.csv"


@pytest.fixture
def db(tmp_path):
    return tmp_path / "store.sqlite"


def test_import_sessions_then_again_then_revert(db):
    out = run("import-sessions", SESSIONS, "--db", db)
    assert out.returncode == 0, out.stderr
    n = len(pd.read_csv(SESSIONS))
    assert f"{n} session(s) added" in out.stdout and "import 1 done" in out.stdout
    again = run("import-sessions", SESSIONS, "--db", db)
    assert again.returncode == 0 and "nothing new" in again.stdout
    listing = run("imports", "--db", db, "--format", "json")
    history = json.loads(listing.stdout)
    assert [h["data_table"] for h in history] == ["sessions"]
    reverted = run("imports", "--db", db, "--revert", "1")
    assert reverted.returncode == 0 and f"{n} session(s) removed" in reverted.stdout
    gone = run("validate-sessions", "--db", db)
    assert gone.returncode == 1 and "no session yet" in gone.stderr


def test_refused_table_exits_1_with_every_problem_and_no_traceback(tmp_path, db):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,session_date,route,dose_mg,completed,notes\n"
                   "P1,2025-01-06,spravato,56,yes,felt dizzy\nP1,2025-13-01,teleport,56,maybe,\n", encoding="utf-8")
    out = run("import-sessions", bad, "--db", db)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "notes" in out.stderr and "free text" in out.stderr
    check = run("validate-sessions", bad)
    assert check.returncode == 1 and "REFUSED" in check.stdout


def test_validate_sessions_json(tmp_path):
    out = run("validate-sessions", SESSIONS, "--format", "json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["ok"] and d["counts"]["sessions"] == len(pd.read_csv(SESSIONS)) and d["errors"] == []


def test_summary_with_sessions_file_adds_tolerability(tmp_path):
    out = run("summary", SAMPLE, "--sessions", SESSIONS, "--format", "json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    rows = pd.DataFrame(d["tolerability"]["rows"])
    stopped = rows[(rows["measure"] == "stopped early") & (rows["route"] == "all")].iloc[0]
    sessions = pd.read_csv(SESSIONS)
    assert stopped["n"] == len(sessions) and stopped["events"] == (sessions["completed"] == "no").sum()
    assert "clinic convention" in d["tolerability"]["threshold_sources"]["blood-pressure rise"]
    text = run("summary", SAMPLE, "--sessions", SESSIONS)
    assert "Tolerability (" in text.stdout and "monitored at least the minimum" in text.stdout
    plain = json.loads(run("summary", SAMPLE, "--format", "json").stdout)
    assert "tolerability" not in plain  # no sessions given: the contract is as before


def test_summary_derives_infusion_numbers_when_the_questionnaires_have_none(tmp_path):
    q = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).drop(columns="infusion_number")
    path = tmp_path / "no_infusions.csv"
    q.to_csv(path, index=False)
    out = run("summary", path, "--sessions", SESSIONS, "--format", "json")
    assert out.returncode == 0 and "infusion_number derived from the sessions" in out.stderr
    derived = json.loads(out.stdout)
    given = json.loads(run("summary", SAMPLE, "--format", "json").stdout)
    # the headline figures do not depend on infusion numbers
    assert derived["response"] == given["response"] and derived["validation"]["infusion_number"] == \
        "derived from sessions"


def test_export_from_the_store_carries_a_suppressed_tolerability_sheet(tmp_path, db):
    assert run("import", SAMPLE, "--db", db).returncode == 0
    assert run("import-sessions", SESSIONS, "--db", db).returncode == 0
    out = run("export", "--quarter", "2025Q1", "--db", db, "--out", tmp_path / "exports", "--format", "xlsx,html")
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "exports" / "2025Q1"
    sheet = pd.read_excel(folder / "outcomes_2025Q1.xlsx", sheet_name="Tolerability", dtype=str)
    assert set(sheet["Counted per"]) == {"session", "patient"}
    shown = pd.to_numeric(sheet["With it (events)"], errors="coerce")
    # number columns hold only numbers: a hidden count is an empty cell, and the Status column says why
    assert not shown.between(1, 10).any() and sheet["Status"].fillna("").str.contains("<11").any()
    assert "Tolerability of the cohort" in (folder / "report_2025Q1.html").read_text(encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["row_counts"]["tolerability"] == len(sheet)


def test_sessions_option_with_a_refused_table_stops_the_command(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,session_date,route,dose_mg,completed\nP1,2025-01-06,teleport,56,yes\n",
                   encoding="utf-8")
    out = run("summary", TINY, "--sessions", bad)
    assert out.returncode == 1 and "not a known route" in out.stderr and "Traceback" not in out.stderr


def test_research_export_writes_sessions_under_the_same_study_ids_without_dates(tmp_path, db):
    from analytics import load_questionnaires
    from analytics.sessions import load_sessions, session_study_days
    from analytics.store import load_study_key
    assert run("import", SAMPLE, "--db", db).returncode == 0
    assert run("import-sessions", SESSIONS, "--db", db).returncode == 0
    assert run("cohort", "save", "north", "--site", "North", "--db", db).returncode == 0
    out = run("research-export", "north", "--db", db, "--out", tmp_path / "north")
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "north"
    sessions_csv = pd.read_csv(folder / "sessions.csv", dtype={"study_id": str})
    patients_csv = pd.read_csv(folder / "patients.csv", dtype={"study_id": str})
    assert set(sessions_csv["study_id"]) <= set(patients_csv["study_id"])
    text = (folder / "sessions.csv").read_text()
    assert "session_date" not in text and not any(f"20{y}-" in text for y in range(20, 30))
    assert "site" not in sessions_csv.columns and "patient_id" not in sessions_csv.columns
    # the same sessions as the source, re-keyed: count and study days per patient agree with the key
    meta = json.loads((folder / "cohort.json").read_text())
    key = load_study_key(meta["export_id"], db).set_index("study_id")["patient_id"]
    source = load_sessions(SESSIONS)
    place = session_study_days(source, load_questionnaires(SAMPLE))
    source = source.assign(study_day=place["study_day"], q_episode=place["episode"])
    one = sessions_csv["study_id"].iloc[0]
    mine = source[(source["patient_id"].astype(str) == key[one]) & (source["q_episode"] == 1)]
    assert sessions_csv.loc[sessions_csv["study_id"] == one, "study_day"].tolist() == mine["study_day"].tolist()
    north = set(load_questionnaires(SAMPLE).query("site == 'North'")["patient_id"].astype(str))
    first_episode = source[(source["q_episode"] == 1) & source["patient_id"].astype(str).isin(north)]
    assert len(sessions_csv) == len(first_episode) and meta["sessions"] == len(sessions_csv)
    dictionary = pd.read_csv(folder / "data_dictionary.csv")
    assert set(dictionary.loc[dictionary["table"] == "sessions.csv", "variable"]) == set(sessions_csv.columns)
