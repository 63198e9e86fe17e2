"""The store on PostgreSQL: what only a database server has (URLs and passwords, roles, a server that cannot be
reached) and moving a store between the backends.  What both backends share is tested on both, through the
``store_db`` fixture, in test_store.py, test_audit.py and test_research_cohorts.py (tests/pg_fixtures.py)."""
from __future__ import annotations

import re
import socket

import pandas as pd
import pytest

from analytics import AnalyticsError
from analytics.audit import list_audit, verify_audit
from analytics.errors import StoreUnusableError
from analytics.store import (
    import_questionnaires,
    list_imports,
    open_store,
    read_store,
    revert_import,
    save_cohort,
    store_fingerprint,
)
from analytics.session_store import import_sessions
from analytics.store_backends import store_backend
from analytics.store_connection import default_db_path
from analytics.store_copy import STORE_TABLES, table_digests
from cli_runner import run_cli
from conftest import ROOT, SAMPLE, TINY


def test_a_url_with_a_password_is_refused_without_repeating_it():
    with pytest.raises(AnalyticsError, match=r"PGPASSWORD or ~/.pgpass") as exc:
        open_store("postgresql://clinic:s3cret-word@127.0.0.1:5432/outcomes")
    assert "s3cret-word" not in str(exc.value)
    run = run_cli("summary", "--db", "postgresql://clinic:s3cret-word@127.0.0.1:5432/outcomes")
    assert run.returncode == 1 and "s3cret-word" not in run.stderr + run.stdout


def test_outcomes_db_may_name_a_database(monkeypatch):
    url = "postgresql://outcomes_dashboard@db.clinic.org:5432/outcomes"
    monkeypatch.setenv("OUTCOMES_DB", url)
    assert default_db_path() == url  # a URL, not a path (a path would fold the //)
    assert str(store_backend(default_db_path())) == url


def test_a_server_that_cannot_be_reached_says_so(tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://outcomes_import@127.0.0.1:{port}/outcomes"
    with pytest.raises(StoreUnusableError, match="cannot use the database server") as exc:
        import_questionnaires(TINY, db=url)
    assert exc.value.reason == "unreachable" and "Nothing was written" in str(exc.value)
    run = run_cli("import", TINY, "--db", url)
    assert run.returncode == 1 and "cannot use the database server" in run.stderr and "Traceback" not in run.stderr


def test_the_dashboard_cache_key_changes_with_each_import_and_revert(postgres_db):
    backend = store_backend(postgres_db)
    import_questionnaires(TINY, db=postgres_db)
    first = backend.change_stamp()
    import_questionnaires(TINY, db=postgres_db)  # nothing new: the store is unchanged, and so is the key
    assert backend.change_stamp() == first
    revert_import(1, db=postgres_db)
    assert backend.change_stamp() != first


# ----------------------------------------------------------------------------- store copy

def _clinic_store(db, tmp_path):
    """The sample clinic's store with some history: two imports, a correction, a revert, a cohort, a research export
    (its study-id key) and the audit rows of all of them."""
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    raw.iloc[:2000].to_csv(tmp_path / "first.csv", index=False)
    import_questionnaires(tmp_path / "first.csv", db=db)
    import_questionnaires(SAMPLE, db=db)
    raw.loc[0, "phq9_1"] = "0" if raw.loc[0, "phq9_1"] != "0" else "1"
    raw.loc[0, "phq9_total"] = ""
    raw.to_csv(tmp_path / "corrected.csv", index=False)
    fixed = import_questionnaires(tmp_path / "corrected.csv", db=db, accept_corrections=True)
    assert fixed.corrected == 1
    revert_import(fixed.import_id, db=db)
    import_sessions(SAMPLE.parent / "sample_sessions.csv", db=db)
    save_cohort("north", {"site": ["North"]}, fingerprint=store_fingerprint(db), db=db, user="boss@clinic.org")
    assert run_cli("research-export", "north", "--db", db, "--out", tmp_path / "r").returncode == 0


def test_store_copy_round_trips_the_sample_clinic(tmp_path, postgres_server):
    sqlite = tmp_path / "clinic.sqlite"
    _clinic_store(sqlite, tmp_path)
    pg = postgres_server.url(postgres_server.new_database("copy"))
    back = tmp_path / "back.sqlite"

    there = run_cli("store", "copy", "--from", sqlite, "--to", pg)
    assert there.returncode == 0, there.stderr
    assert "Verified" in there.stdout and "5 imports" in there.stdout
    again = run_cli("store", "copy", "--from", pg, "--to", back, "--format", "json")
    assert again.returncode == 0, again.stderr

    assert store_fingerprint(sqlite) == store_fingerprint(pg) == store_fingerprint(back) == "imports 1,2"
    rows, digests = {}, {}
    for name, db in (("sqlite", sqlite), ("pg", pg), ("back", back)):
        con = open_store(db, create=False)
        rows[name], digests[name] = table_digests(con)
        con.close()
        assert verify_audit(db).ok
    data_tables = [t for t in STORE_TABLES if t != "audit"]
    assert {t: rows["sqlite"][t] for t in data_tables} == {"imports": 5, "questionnaires": 3956, "corrections": 1,
                                                            "sessions": rows["sqlite"]["sessions"],
                                                            "session_corrections": 0, "safety_reviews": 0,
                                                            "cohorts": 1, "research_exports": 1,
                                                            "study_keys": rows["sqlite"]["study_keys"]}
    assert rows["sqlite"]["sessions"] == len(pd.read_csv(SAMPLE.parent / "sample_sessions.csv"))
    for table in data_tables:  # every row, byte for byte, through PostgreSQL and back
        assert digests["sqlite"][table] == digests["pg"][table] == digests["back"][table], table
    # the audit trail: the same rows, then one "store copy" row per copy
    trail = list_audit(sqlite)
    assert rows["pg"]["audit"] == len(trail) + 1 and rows["back"]["audit"] == len(trail) + 2
    pd.testing.assert_frame_equal(list_audit(back).iloc[:len(trail)], trail)
    assert list(list_audit(back)["action"].iloc[-2:]) == ["store copy", "store copy"]
    # and the data read back are the same questionnaires, history and all
    for db in (pg, back):
        pd.testing.assert_frame_equal(read_store(db).frame, read_store(sqlite).frame)
        pd.testing.assert_frame_equal(list_imports(db), list_imports(sqlite), check_dtype=False)

    refused = run_cli("store", "copy", "--from", sqlite, "--to", pg)
    assert refused.returncode == 1 and "already holds a store" in refused.stderr
    assert len(list_audit(pg)) == len(trail) + 1  # nothing written


# ----------------------------------------------------------------------------- roles, from the README

def _readme_roles():
    """The README's role statements: (superuser SQL, owner SQL), each a list of statements."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- roles-sql")[1].split("<!-- /roles-sql -->")[0]
    sql = re.findall(r"```sql\n(.*?)```", block, re.DOTALL)
    assert len(sql) == 2

    def statements(script):
        lines = [line.split("--")[0] for line in script.splitlines()]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    return statements(sql[0]), statements(sql[1])


def test_least_privilege_roles_as_the_readme_sets_them_up(postgres_server, tmp_path, monkeypatch):
    import psycopg

    as_superuser, as_owner = _readme_roles()
    for statement in as_superuser:
        postgres_server.admin(statement)
    url = {role: postgres_server.tcp_url("outcomes", f"outcomes_{role}") for role in ("owner", "import",
                                                                                       "dashboard")}
    # passwords from the environment (owner, import role) and from a .pgpass file (dashboard)
    monkeypatch.setenv("PGPASSWORD", "owner-secret")
    init = run_cli("store", "init", "--db", url["owner"])
    assert init.returncode == 0 and "store ready" in init.stdout, init.stderr
    with psycopg.connect(url["owner"], autocommit=True) as con:
        for statement in as_owner:
            con.execute(statement)

    monkeypatch.setenv("PGPASSWORD", "import-secret")
    assert import_questionnaires(TINY, db=url["import"]).added == 25

    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres_server.port}:outcomes:outcomes_dashboard:dashboard-secret\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    dashboard = url["dashboard"]
    assert read_store(dashboard).counts["questionnaires"] == 25
    with pytest.raises(StoreUnusableError, match="refused this role.*Nothing was written") as exc:
        import_questionnaires(SAMPLE, db=dashboard)
    assert exc.value.reason == "read-only"
    with pytest.raises(StoreUnusableError, match="refused this role"):
        revert_import(1, db=dashboard)
    save_cohort("north", {"site": ["North"]}, fingerprint="imports 1", db=dashboard, user="analyst@clinic.org")
    with psycopg.connect(dashboard, autocommit=True) as con:  # the audit trail is beyond its reach
        for sql in ('UPDATE audit SET "user" = \'x\'', "DELETE FROM audit", "ALTER TABLE audit DISABLE TRIGGER "
                    "audit_no_update", "DELETE FROM questionnaires"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(sql)
    assert read_store(dashboard).counts["questionnaires"] == 25
    assert list(list_audit(dashboard)["action"]) == ["import", "cohort save"]
    assert verify_audit(dashboard).ok
