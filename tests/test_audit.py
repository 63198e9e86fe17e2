"""The audit trail: every import, revert, export and research export, and nothing can change it.

Tests taking ``store_db`` run on an SQLite file and on a PostgreSQL database (tests/pg_fixtures.py)."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import pytest

from analytics import QuestionnaireValidationError
from analytics.audit import GENESIS, audit_row_hash, record_audit, verify_audit
from analytics.store import (
    _MIGRATIONS,
    _statements,
    open_store,
    import_questionnaires,
    list_audit,
    list_cohorts,
    revert_import,
    save_cohort,
)
from analytics.store_backends import database_errors, is_postgres_url, store_backend
from cli_runner import run_cli
from conftest import ROOT, SAMPLE, TINY

BAD = ROOT / "tests" / "data" / "bad" / "us_date.csv"


def test_imports_refusals_and_reverts_are_recorded(store_db):
    db = store_db
    import_questionnaires(TINY, db=db)
    import_questionnaires(TINY, db=db)
    with pytest.raises(QuestionnaireValidationError):
        import_questionnaires(BAD, db=db)
    revert_import(1, db=db)
    trail = list_audit(db)
    assert list(trail["action"]) == ["import", "import (no change)", "import refused", "revert"]
    first = json.loads(trail["details"].iloc[0])
    assert first["sha256"] == hashlib.sha256(TINY.read_bytes()).hexdigest() and first["added"] == 25
    assert (trail["user"] == "local").all() and trail["at"].str.match(r"^\d{4}-\d{2}-\d{2}T").all()


def test_the_trail_cannot_be_edited(store_db):
    db = store_db
    import_questionnaires(TINY, db=db)
    con = open_store(db)
    for sql in ("DELETE FROM audit", "UPDATE audit SET user = 'someone else'"):
        with pytest.raises(database_errors(), match="cannot be changed"):
            con.execute(sql)
    con.close()
    assert len(list_audit(db)) == 1


def schema_at(db, version):
    """A store built by the first ``version`` migration steps only, as an older release left it."""
    backend = store_backend(db)
    con = backend.connect(create=True)
    for step in range(version):
        for statement in _statements(_MIGRATIONS[step]):
            con.execute(statement)
    backend.set_schema_version(con, version)
    return con


def test_migration_backfills_existing_imports(store_db):
    db = store_db
    con = schema_at(db, 3)  # a v3 store, before the audit trail
    con.execute("INSERT INTO imports (file_name, sha256, source_format, started_at, added) "
                "VALUES ('old.csv', 'abc', 'csv', '2025-01-01T00:00:00+00:00', 3)")
    con.close()
    open_store(db).close()
    trail = list_audit(db)
    assert trail["action"].iloc[0] == "import (recorded before the audit trail existed)"
    assert json.loads(trail["details"].iloc[0])["sha256"] == "abc"


def test_cli_exports_are_recorded_with_file_hashes(tmp_path, store_db):
    db = store_db
    import_questionnaires(SAMPLE, db=db)
    run = run_cli  # cli.main in-process (tests/cli_runner.py)
    assert run("export", "--quarter", "2025Q4", "--db", db, "--out", tmp_path / "x").returncode == 0
    assert run("cohort", "save", "north", "--db", db, "--site", "North").returncode == 0
    assert run("research-export", "north", "--db", db, "--out", tmp_path / "r").returncode == 0
    trail = list_audit(db)
    actions = list(trail["action"])
    assert actions[-5:] == ["export started", "export", "cohort save", "research export started", "research export"]
    export = json.loads(trail["details"].iloc[-4])
    written = tmp_path / "x" / "2025Q4" / "summary.csv"
    assert export["files"]["summary.csv"] == hashlib.sha256(written.read_bytes()).hexdigest()
    assert export["started"] == int(trail["id"].iloc[-5])  # the completion points at its start
    listed = run("audit", "--db", db, "--format", "json")
    assert [e["action"] for e in json.loads(listed.stdout)][-1] == "research export"


# ----------------------------------------------------------------------------- tamper evidence

cli = run_cli  # cli.main in-process (tests/cli_runner.py)


@pytest.fixture
def trail_db(store_db):
    """A store with five audit rows: an import, a refusal, a revert and two cohort saves."""
    db = store_db
    import_questionnaires(TINY, db=db)
    with pytest.raises(QuestionnaireValidationError):
        import_questionnaires(BAD, db=db)
    revert_import(1, db=db)
    save_cohort("north", {"site": ["North"]}, fingerprint="x", db=db, user="boss@clinic.org")
    save_cohort("north", {"site": ["North", "South"]}, fingerprint="x", db=db, user="boss@clinic.org")
    return db


def attacker(db, *statements):
    """Direct SQL on the store, as someone with the file (or the database's owner role) would do it: drop the
    triggers first."""
    if is_postgres_url(db):
        con = open_store(db)  # the owner role may disable the triggers (other roles: see README, deployment)
        con.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_update")
        con.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_delete")
        for statement, params in statements:
            con.execute(statement, params)
        con.close()
        return
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("DROP TRIGGER IF EXISTS audit_no_update")
    con.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    for statement, params in statements:
        con.execute(statement, params)
    con.close()


def test_each_row_hashes_its_content_and_the_row_before(trail_db):
    trail = list_audit(trail_db)
    assert list(trail["id"]) == [1, 2, 3, 4, 5]
    assert trail["prev_hash"].iloc[0] == GENESIS == "0" * 64
    assert list(trail["prev_hash"].iloc[1:]) == list(trail["hash"].iloc[:-1])
    # worked out independently: SHA-256 of the sorted-key compact JSON of the row and the previous hash
    first = trail.iloc[0]
    canonical = json.dumps({"action": first["action"], "at": first["at"], "details": first["details"], "id": 1,
                            "prev_hash": "0" * 64, "user": first["user"]}, separators=(",", ":"))
    assert first["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert audit_row_hash(1, first["at"], first["user"], first["action"], first["details"], GENESIS) == first["hash"]


def test_verify_passes_on_an_intact_trail(trail_db):
    result = verify_audit(trail_db)
    assert result.ok and result.rows == 5 and result.broken_id is None
    run = cli("audit", "--verify", "--db", trail_db)
    assert run.returncode == 0, run.stderr
    assert "5 row(s) verified" in run.stdout


def test_verify_names_a_changed_row(trail_db):
    attacker(trail_db, ("UPDATE audit SET user = 'someone else' WHERE id = 3", ()))
    result = verify_audit(trail_db)
    assert not result.ok and result.broken_id == 3 and result.rows == 2
    run = cli("audit", "--verify", "--db", trail_db)
    assert run.returncode == 1 and "BROKEN at row 3" in run.stderr and "content does not match" in run.stderr


def test_verify_names_the_row_after_a_deleted_one(trail_db):
    attacker(trail_db, ("DELETE FROM audit WHERE id = 2", ()))
    run = cli("audit", "--verify", "--db", trail_db)
    assert run.returncode == 1 and "BROKEN at row 3" in run.stderr and "deleted" in run.stderr


def test_verify_names_an_inserted_row(trail_db):
    # renumber to make room, then insert a plausible row in the middle without a valid hash chain
    attacker(trail_db, ("UPDATE audit SET id = id + 10 WHERE id >= 3", ()),
             ("UPDATE audit SET id = id - 9 WHERE id >= 13", ()),
             ("INSERT INTO audit (id, at, user, action, details, prev_hash, hash) "
              "VALUES (3, '2026-01-01T00:00:00+00:00', 'local', 'import', '{}', ?, ?)",
              (list_audit(trail_db)["hash"].iloc[1], "f" * 64)))
    assert len(list_audit(trail_db)) == 6
    run = cli("audit", "--verify", "--db", trail_db)
    assert run.returncode == 1 and "BROKEN at row 3" in run.stderr


def test_an_inserted_row_with_a_recomputed_hash_still_breaks_the_next_link(trail_db):
    # an attacker who hashes his own row correctly still cannot make the rows after it point at it
    trail = list_audit(trail_db)
    attacker(trail_db, ("UPDATE audit SET id = id + 1 WHERE id = 5", ()),
             ("INSERT INTO audit (id, at, user, action, details, prev_hash, hash) VALUES (5, ?, ?, ?, ?, ?, ?)",
              ("2026-01-01T00:00:00+00:00", "local", "export", "{}", trail["hash"].iloc[3],
               audit_row_hash(5, "2026-01-01T00:00:00+00:00", "local", "export", "{}", trail["hash"].iloc[3]))))
    result = verify_audit(trail_db)
    assert not result.ok and result.broken_id == 6


def test_appending_after_verification_keeps_the_chain(trail_db):
    record_audit("export", {"quarter": "2025Q4"}, db=trail_db, user="boss@clinic.org")
    assert verify_audit(trail_db).ok and verify_audit(trail_db).rows == 6


def test_migration_chains_the_rows_of_a_v4_store_and_gives_cohorts_owners(store_db):
    db = store_db
    con = schema_at(db, 4)  # a v4 store: audit trail without hashes, cohorts without owners
    for i in range(3):
        con.execute("INSERT INTO audit (at, user, action, details) VALUES (?, 'local', 'import', ?)",
                    (f"2025-01-0{i + 1}T00:00:00+00:00", json.dumps({"n": i})))
    con.execute("INSERT INTO cohorts (name, definition, fingerprint, saved_at, user) "
                "VALUES ('north', '{}', 'x', '2025-01-01T00:00:00+00:00', 'boss@clinic.org')")
    con.close()
    open_store(db).close()
    assert verify_audit(db).ok and verify_audit(db).rows == 3
    assert list_cohorts(db)["owner"].tolist() == ["boss@clinic.org"]
    con = open_store(db)  # the triggers are back after the backfill
    with pytest.raises(database_errors(), match="cannot be changed"):
        con.execute("UPDATE audit SET user = 'x'")
    con.close()


# ----------------------------------------------------------------------------- exports started and finished

def test_quarterly_export_failing_half_way_leaves_its_start_on_record(tmp_path, store_db):
    db = store_db
    import_questionnaires(SAMPLE, db=db)
    out = tmp_path / "x"
    (out / "2025Q4" / "manifest.json").mkdir(parents=True)  # the last file cannot be written: the others are
    run = cli("export", "--quarter", "2025Q4", "--db", db, "--out", out)
    assert run.returncode == 1 and "could not be written" in run.stderr and "internal error" not in run.stderr
    assert (out / "2025Q4" / "summary.csv").exists()  # it really failed half-way
    actions = list(list_audit(db)["action"])
    assert actions[-2:] == ["export started", "export failed"] and "export" not in actions
    assert verify_audit(db).ok


def test_research_export_failing_half_way_leaves_its_start_on_record(tmp_path, store_db):
    db = store_db
    import_questionnaires(SAMPLE, db=db)
    save_cohort("north", {"site": ["North"]}, fingerprint="x", db=db)
    out = tmp_path / "r"
    (out / "reproduce.py").mkdir(parents=True)
    run = cli("research-export", "north", "--db", db, "--out", out)
    assert run.returncode == 1 and "could not be written" in run.stderr
    actions = list(list_audit(db)["action"])
    assert actions[-2:] == ["research export started", "research export failed"]
    assert "research export" not in actions


def test_a_killed_export_leaves_a_start_without_completion(store_db):
    # a process that dies between the two rows (power cut, kill -9) leaves only the start: simulated by
    # a child process that records the start and then exits without unwinding
    db = store_db
    code = ("import os; from analytics.audit import audited\n"
            f"with audited('export', {{'quarter': '2025Q4'}}, db={str(db)!r}):\n"
            "    os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 9
    assert list(list_audit(db)["action"]) == ["export started"]
