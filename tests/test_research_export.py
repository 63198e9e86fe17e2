"""The research export leaves the clinic re-pseudonymised, without calendar dates, and only for cohorts of 11 or more."""
from __future__ import annotations

import ast
import json
import re

import pandas as pd
import pytest

from analytics import load_questionnaires
from analytics import definitions
from analytics.definitions import COHORT_QUARTER_MIN_PATIENTS, SMALL_CELL_MAX
from analytics.research_export import _coarse_definition, reproduce_script
from analytics.store import import_questionnaires, list_audit, load_study_key, open_store
from cli_runner import run_cli
from conftest import ROOT, SAMPLE, TINY

# every common way to write a calendar date: ISO, US and European, dotted, month names
DATE_SHAPES = re.compile(
    r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.](\d{4}|\d{2})\b|\b\d{4}-\d{2}\b(?!\d)|"
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}\b|\b\d{1,2} (jan|feb|mar|apr|may|jun|"
    r"jul|aug|sep|oct|nov|dec)[a-z]*\b", re.IGNORECASE)


run = run_cli  # cli.main in-process (tests/cli_runner.py)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("store") / "s.sqlite"
    import_questionnaires(SAMPLE, db=db)
    return db


def export(store, tmp_path, name, *save_args):
    assert run("cohort", "save", name, "--db", store, *save_args).returncode == 0
    out_dir = tmp_path / name
    result = run("research-export", name, "--db", store, "--out", out_dir)
    return result, out_dir


def test_dataset_carries_new_study_ids_and_the_key_stays_in_the_store(store, tmp_path):
    source = load_questionnaires(SAMPLE)
    pseudonyms = set(source["patient_id"].astype(str))
    result, out_dir = export(store, tmp_path, "north", "--site", "North")
    assert result.returncode == 0, result.stderr
    patients = pd.read_csv(out_dir / "patients.csv", dtype=str)
    long = pd.read_csv(out_dir / "questionnaires.csv", dtype=str)
    redcap = pd.read_csv(out_dir / "redcap_import.csv", dtype=str)
    assert "patient_id" not in patients and "patient_id" not in long
    ids = set(patients["study_id"])
    assert len(ids) == len(patients) and set(long["study_id"]) == ids and set(redcap["record_id"]) == ids
    assert all(re.fullmatch(r"S-[B-T]{14}", i) for i in ids) and not ids & pseudonyms
    # no pseudonym anywhere in any file, in any column, nor the key
    for path in out_dir.iterdir():
        tokens = set(re.findall(r"[A-Za-z0-9_-]+", path.read_text()))
        assert not tokens & pseudonyms, path.name
    assert {p.name for p in out_dir.iterdir()} == {"patients.csv", "questionnaires.csv", "data_dictionary.csv",
                                                   "redcap_import.csv", "redcap_data_dictionary.csv", "cohort.json",
                                                   "reproduce.py"}
    # the clinic (and only it) links back through the store: each study id is the right patient
    meta = json.loads((out_dir / "cohort.json").read_text())
    key = load_study_key(meta["export_id"], store).set_index("study_id")["patient_id"]
    assert set(key.index) == ids
    baseline = source[source["day"] == 0].drop_duplicates("patient_id").set_index("patient_id")["phq9_total"]
    linked = patients.set_index("study_id")["baseline_total"].astype(float)
    assert (linked.to_numpy() == baseline.reindex(key.reindex(linked.index)).to_numpy()).mean() > 0.9
    assert meta["export_id"] in list_audit(store)["details"].iloc[-1]
    # a second export of the same cohort cannot be linked to the first by its ids
    again, out2 = run("research-export", "north", "--db", store, "--out", tmp_path / "again"), tmp_path / "again"
    assert again.returncode == 0, again.stderr
    assert not set(pd.read_csv(out2 / "patients.csv", dtype=str)["study_id"]) & ids


def test_no_calendar_date_in_any_file(store, tmp_path):
    # a cohort defined by a few weeks of treatment starts, named with a date
    result, out_dir = export(store, tmp_path, "starters 2025-07-01", "--start-from", "2025-07-01", "--start-to",
                             "2025-09-15")
    assert result.returncode == 0, result.stderr
    for path in out_dir.iterdir():
        hits = [m.group(0) for m in DATE_SHAPES.finditer(path.read_text())]
        assert not hits, (path.name, hits[:5])
    meta = json.loads((out_dir / "cohort.json").read_text())
    assert meta["cohort"]["definition"]["treatment_start_period"] == "2025"  # the year: the cohort is small
    assert "start_from" not in meta["cohort"]["definition"] and "generated_at" not in meta


@pytest.mark.parametrize("patients, start_from, start_to, period", [
    (COHORT_QUARTER_MIN_PATIENTS - 1, "2025-07-01", "2025-09-30", "2025"),
    (COHORT_QUARTER_MIN_PATIENTS, "2025-07-01", "2025-09-30", "2025Q3"),
    (COHORT_QUARTER_MIN_PATIENTS, "2025-08-14", "2025-08-20", "2025Q3"),
    (COHORT_QUARTER_MIN_PATIENTS, "2025-09-01", "2025-10-15", "2025"),  # two quarters: the year
    (COHORT_QUARTER_MIN_PATIENTS, "2024-11-01", "2025-02-01", "2024 to 2025 (years)"),
    (500, "2025-03-02", None, "2025 to any (years)"),
])
def test_treatment_start_period_is_a_year_or_a_quarter(patients, start_from, start_to, period):
    definition = {"site": ["North"], "start_from": start_from, "start_to": start_to}
    out = _coarse_definition({k: v for k, v in definition.items() if v is not None}, patients)
    assert out == {"site": ["North"], "treatment_start_period": period}


def test_small_cohort_is_refused_and_nothing_is_written(tmp_path):
    db = tmp_path / "s.sqlite"
    import_questionnaires(TINY, db=db)
    n = load_questionnaires(TINY)["patient_id"].nunique()
    assert n <= SMALL_CELL_MAX
    before = open_store(db).execute("SELECT count(*) FROM audit").fetchone()[0]
    result, out_dir = export(db, tmp_path, "all")
    assert result.returncode == 1
    assert f"needs at least {SMALL_CELL_MAX + 1}" in result.stderr and "Traceback" not in result.stderr
    assert not out_dir.exists()
    con = open_store(db)
    assert con.execute("SELECT count(*) FROM study_keys").fetchone()[0] == 0
    # the attempt is on record (started, then failed with the reason), never as a completed export
    actions = [a for (a,) in con.execute("SELECT action FROM audit WHERE id > ? ORDER BY id", (before,))]
    assert [a for a in actions if a.startswith("research export")] == ["research export started",
                                                                       "research export failed"]
    reason = con.execute("SELECT details FROM audit WHERE action = 'research export failed'").fetchone()[0]
    assert f"needs at least {SMALL_CELL_MAX + 1}" in reason


def test_researcher_sees_study_ids_only_and_downloads_a_rekeyed_dataset(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest
    from test_access import ACCESS, AUTH

    db = tmp_path / "clinic.sqlite"
    import_questionnaires(SAMPLE, db=db)
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)
    pseudonyms = set(load_questionnaires(SAMPLE)["patient_id"].astype(str))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.secrets["auth"], at.secrets["access"] = AUTH, ACCESS
    at.user = {"is_logged_in": True, "email": "analyst@clinic.org"}
    at.run()
    at.sidebar.selectbox(key="source").set_value("store").run()
    for page in ("trajectories", "research"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, at.exception
        charts = json.dumps([c.proto.spec for c in at.get("plotly_chart")])
        shown = charts + json.dumps([df.value.astype(str).to_numpy().tolist() for df in at.dataframe])
        assert not set(re.findall(r"[A-Za-z0-9_-]+", shown)) & pseudonyms, page
        if page == "trajectories":  # the hover labels name patients by study id
            assert re.search(r"S-[B-T]{14}", charts)
    at.button(key="build_dataset").click().run()
    assert not at.exception, at.exception
    con = open_store(db)
    export_id, user = con.execute("SELECT export_id, user FROM research_exports").fetchone()
    assert user == "analyst@clinic.org"
    key = load_study_key(export_id, db)  # the key maps the dataset's study ids to the clinic's own pseudonyms
    assert set(key["patient_id"]) <= pseudonyms and len(key) > SMALL_CELL_MAX
    assert not set(key["study_id"]) & pseudonyms


def test_reproduce_script_takes_its_rules_from_definitions():
    """The fixed thresholds of the standalone script are written from analytics.definitions, and its logic
    compares against those names, never a number (tests/test_research_cohorts.py runs the script itself)."""
    script = reproduce_script()
    for name in ("SPEC_VERSION", "BASELINE_WINDOW_DAYS", "RESPONSE_FRACTION", "REMISSION_BELOW", "SI_ITEM_POSITIVE_AT"):
        assert f"\n{name} = {getattr(definitions, name)!r}\n" in script, name
    numbers = [(node.lineno, c.value) for node in ast.walk(ast.parse(script)) if isinstance(node, ast.Compare)
               for c in (node.left, *node.comparators)
               if isinstance(c, ast.Constant) and isinstance(c.value, (int, float)) and c.value not in (0, 1)]
    assert numbers == []
    logic = script.split("\nHERE = ", 1)[1]
    assert "-30" not in logic and "0.5 *" not in logic and "< 5" not in logic
