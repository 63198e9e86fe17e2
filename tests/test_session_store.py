"""Sessions in the clinic store: round trip, idempotence, overlap, conflicts, corrections, revert, audit."""
from __future__ import annotations


import pandas as pd
import pytest

from analytics import AnalyticsError
from analytics.audit import list_audit, verify_audit
from analytics.errors import SessionValidationError, UnreadableFileError
from analytics.session_store import (
    SessionImportConflictError,
    import_sessions,
    read_session_store,
    revert_session_import,
    store_has_sessions,
)
from analytics.sessions import load_sessions
from analytics.sources import read_session_source
from analytics.store import import_questionnaires, list_imports, open_store, revert_import
from analytics.store_schema import MIGRATIONS, sql_statements
from analytics.store_backends import store_backend
from conftest import ROOT, TINY

SAMPLE_SESSIONS = ROOT / "sample_data" / "sample_sessions.csv"
HEADER = ("patient_id,session_date,episode,route,dose_mg_per_kg,systolic_pre,diastolic_pre,systolic_post,"
          "diastolic_post,dissociation,dissociation_scale,sedation_moaas,minutes_monitored,adverse_events,completed,"
          "site\n")


@pytest.fixture
def db(store_db):
    """An SQLite file, then a PostgreSQL database of the test's own (tests/pg_fixtures.py)."""
    return store_db


def table(tmp_path, *rows, name="sessions.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


ROW_A = "P1,2025-01-06,,IV,0.5,120,80,135,85,20,cadss,5,90,none,yes,North"
ROW_B = "P1,2025-01-09,,IV,0.5,122,78,150,92,14,cadss,4,95,nausea; vomiting,yes,North"
ROW_C = "P2,2025-01-07,2,esketamine,,130,82,,,6,0-10,5,130,,no,Riverside"


def count(db, what="sessions"):
    con = open_store(db, create=False)
    try:
        return con.execute(f"SELECT count(*) FROM {what}").fetchone()[0]
    finally:
        con.close()


def same_frames(a: pd.DataFrame, b: pd.DataFrame):
    cols = [c for c in a.columns if c != "line"]
    assert sorted(cols) == sorted(c for c in b.columns if c != "line")
    key = ["patient_id", "session_date"]
    left = a[cols].astype(object).sort_values(key, ignore_index=True)
    right = b[cols].astype(object).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(left.astype("str"), right.astype("str"))


def test_round_trip_of_the_sample_sessions_gives_the_same_frame(db):
    result = import_sessions(SAMPLE_SESSIONS, db=db)
    direct = load_sessions(SAMPLE_SESSIONS)
    assert (result.import_id, result.added, result.unchanged, result.corrected) == (1, len(direct), 0, 0)
    stored = read_session_store(db)
    assert stored.ok and stored.counts["sessions"] == len(direct)
    same_frames(stored.frame, direct)
    assert store_has_sessions(db)


def test_round_trip_keeps_values_blanks_events_and_attributes(tmp_path, db):
    import_sessions(table(tmp_path, ROW_A, ROW_B, ROW_C), db=db)
    f = read_session_store(db).frame.set_index("session_date")
    b, c = f.loc[pd.Timestamp("2025-01-09")], f.loc[pd.Timestamp("2025-01-07")]
    assert bool(b["ae_nausea"]) and bool(b["ae_vomiting"]) and not bool(b["ae_other"])
    assert b["systolic_post"] == 150 and b["dose_mg_per_kg"] == 0.5 and b["site"] == "North"
    assert not bool(c["completed"]) and pd.isna(c["systolic_post"]) and pd.isna(c["dose_mg_per_kg"])
    assert c["episode"] == "2" and c["dissociation_scale"] == "0-10" and c["route"] == "intranasal_esketamine"


def test_same_table_twice_adds_nothing_and_overlap_adds_only_new(tmp_path, db):
    first = import_sessions(table(tmp_path, ROW_A, ROW_B), db=db)
    again = import_sessions(table(tmp_path, ROW_A, ROW_B), db=db)
    assert again.changed_nothing and again.import_id is None and again.unchanged == 2
    overlap = import_sessions(table(tmp_path, ROW_B, ROW_C, name="later.csv"), db=db)
    assert (overlap.added, overlap.unchanged) == (1, 1) and overlap.import_id == first.import_id + 1
    assert count(db) == 3


def test_changed_values_are_a_conflict_unless_accepted_then_revert_restores(tmp_path, db):
    import_sessions(table(tmp_path, ROW_A, ROW_B), db=db)
    changed = ROW_B.replace("150,92", "165,95")
    with pytest.raises(SessionImportConflictError, match="1 session") as caught:
        import_sessions(table(tmp_path, changed, name="fix.csv"), db=db)
    conflicts = caught.value.conflicts
    assert set(conflicts["column"]) == {"systolic_post", "diastolic_post"}
    assert conflicts.set_index("column").loc["systolic_post", ["stored", "new"]].tolist() == ["150", "165"]
    assert count(db, "session_corrections") == 0
    fixed = import_sessions(table(tmp_path, changed, name="fix.csv"), db=db, accept_corrections=True)
    assert fixed.corrected == 1
    f = read_session_store(db).frame
    assert f.loc[f["session_date"] == pd.Timestamp("2025-01-09"), "systolic_post"].item() == 165
    # reverted through the shared history command: the old value comes back
    revert_id = revert_import(fixed.import_id, db=db)
    f = read_session_store(db).frame
    assert f.loc[f["session_date"] == pd.Timestamp("2025-01-09"), "systolic_post"].item() == 150
    history = list_imports(db).set_index("id")
    assert history.loc[revert_id, "kind"] == "revert" and history.loc[revert_id, "data_table"] == "sessions"
    assert history.loc[revert_id, "restored"] == 1 and history.loc[fixed.import_id, "reverted_by"] == revert_id


def test_revert_removes_what_the_import_added_and_is_audited(tmp_path, db):
    first = import_sessions(table(tmp_path, ROW_A), db=db)
    second = import_sessions(table(tmp_path, ROW_B, ROW_C, name="more.csv"), db=db)
    revert_session_import(second.import_id, db=db)
    assert count(db) == 1
    with pytest.raises(AnalyticsError, match="already reverted"):
        revert_session_import(second.import_id, db=db)
    revert_session_import(first.import_id, db=db)
    with pytest.raises(AnalyticsError, match="no session yet"):
        read_session_store(db)
    actions = list_audit(db)["action"].tolist()
    assert actions.count("sessions import") == 2 and actions.count("revert") == 2
    assert verify_audit(db).ok


def test_revert_refused_while_a_later_import_corrected_the_same_session(tmp_path, db):
    first = import_sessions(table(tmp_path, ROW_A), db=db)
    import_sessions(table(tmp_path, ROW_A.replace("135,85", "140,88"), name="fix.csv"), db=db,
                    accept_corrections=True)
    with pytest.raises(AnalyticsError, match="later corrected"):
        revert_import(first.import_id, db=db)


def test_questionnaire_and_session_imports_share_one_history_and_stay_apart(tmp_path, db):
    q = import_questionnaires(TINY, db=db)
    s = import_sessions(table(tmp_path, ROW_A), db=db)
    history = list_imports(db).set_index("id")
    assert history.loc[q.import_id, "data_table"] == "questionnaires"
    assert history.loc[s.import_id, "data_table"] == "sessions"
    revert_import(q.import_id, db=db)  # a questionnaire revert leaves the sessions alone
    assert count(db) == 1 and count(db, "questionnaires") == 0
    with pytest.raises(AnalyticsError, match="questionnaires, not sessions"):
        revert_session_import(q.import_id, db=db)


def test_refused_table_writes_nothing_and_is_on_the_audit_trail(tmp_path, db):
    bad = ROW_A.replace("120,80", "80,120")  # diastolic above systolic
    with pytest.raises(SessionValidationError, match="diastolic is not below systolic"):
        import_sessions(table(tmp_path, bad), db=db)
    assert count(db) == 0 and list_imports(db).empty
    assert list_audit(db)["action"].tolist() == ["sessions import refused"]


def test_table_that_does_not_fit_the_store_is_refused_whole(tmp_path, db):
    import_sessions(table(tmp_path, ROW_A), db=db)
    days = tmp_path / "days.csv"
    days.write_text("patient_id,day,route,dose_mg,completed\nP9,0,esketamine,56,yes\n", encoding="utf-8")
    with pytest.raises(SessionValidationError, match="with the sessions already in the store"):
        import_sessions(days, db=db)
    assert count(db) == 1


def test_mapped_export_with_its_own_date_format(tmp_path, db):
    export = tmp_path / "emr.csv"
    export.write_text("Pseudonym,Visit Date,Drug route,mg,Done\nP1,01/06/2025,Spravato,56,Y\n"
                      "P1,01/09/2025,Spravato,84,N\n", encoding="utf-8")
    mapping = tmp_path / "sessions.toml"
    mapping.write_text('[columns]\n"Pseudonym" = "patient_id"\n"Visit Date" = "session_date"\n'
                       '"Drug route" = "route"\n"mg" = "dose_mg"\n"Done" = "completed"\n\n'
                       '[dates]\nformat = "%m/%d/%Y"\n', encoding="utf-8")
    raw = read_session_source(export, mapping=mapping)
    result = import_sessions(raw, db=db, source_format="csv", mapping=str(mapping))
    assert result.added == 2
    f = read_session_store(db).frame
    assert f["session_date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-06", "2025-01-09"]
    assert f["completed"].tolist() == [True, False]


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_spreadsheet_and_parquet_tables_import(tmp_path, db, suffix):
    frame = pd.read_csv(table(tmp_path, ROW_A, ROW_B, ROW_C), dtype=str, keep_default_na=False)
    path = tmp_path / f"sessions{suffix}"
    frame.to_excel(path, index=False) if suffix == ".xlsx" else frame.to_parquet(path)
    assert import_sessions(read_session_source(path), db=db).added == 3


def test_fhir_sessions_are_refused_with_what_to_do(tmp_path):
    path = tmp_path / "sessions.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="export the sessions as a table"):
        read_session_source(path)


def test_a_store_of_the_previous_schema_gains_the_sessions_table(db):
    import_questionnaires(TINY, db=db)
    con = open_store(db)
    for statement in ("DROP INDEX session_corrections_import", "DROP TABLE session_corrections",
                      "DROP INDEX sessions_import", "DROP TABLE sessions", "ALTER TABLE imports DROP COLUMN data_table"):
        con.execute(statement)
    # and every later step undone, so the store is the one before the sessions step
    sessions_step = next(i for i, m in enumerate(MIGRATIONS) if isinstance(m, str) and "CREATE TABLE sessions" in m)
    for later in MIGRATIONS[sessions_step + 1:]:
        for statement in sql_statements(later):
            words = statement.split()  # later steps add columns: ALTER TABLE t ADD COLUMN c INTEGER
            assert words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["ADD", "COLUMN"], statement
            con.execute(f"ALTER TABLE {words[2]} DROP COLUMN {words[5]}")
    store_backend(db).set_schema_version(con, sessions_step)
    con.close()
    import_sessions(SAMPLE_SESSIONS, db=db)  # migrates (after a backup) and imports
    assert list_imports(db)["data_table"].tolist() == ["questionnaires", "sessions"]
    if store_backend(db).kind == "sqlite":  # PostgreSQL needs no copy: its migration rolls back whole
        assert len(list(db.parent.glob(f"{db.name}.v{sessions_step}-backup-*"))) == 1
