"""The audit trail: every import, revert, export and research export, and nothing can change it."""
from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from analytics import QuestionnaireValidationError
from analytics.store import _MIGRATIONS, _statements, import_questionnaires, list_audit, open_store, revert_import
from cli_runner import run_cli
from conftest import ROOT, SAMPLE, TINY

BAD = ROOT / "tests" / "data" / "bad" / "us_date.csv"


def test_imports_refusals_and_reverts_are_recorded(tmp_path):
    db = tmp_path / "s.sqlite"
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


def test_the_trail_cannot_be_edited(tmp_path):
    db = tmp_path / "s.sqlite"
    import_questionnaires(TINY, db=db)
    con = sqlite3.connect(db)
    for sql in ("DELETE FROM audit", "UPDATE audit SET user = 'someone else'"):
        with pytest.raises(sqlite3.DatabaseError, match="cannot be changed"):
            con.execute(sql)
    con.close()
    assert len(list_audit(db)) == 1


def test_migration_backfills_existing_imports(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db, isolation_level=None)
    for step in range(3):  # a v3 store, before the audit trail
        for statement in _statements(_MIGRATIONS[step]):
            con.execute(statement)
    con.execute("PRAGMA user_version = 3")
    con.execute("INSERT INTO imports (file_name, sha256, source_format, started_at, added) "
                "VALUES ('old.csv', 'abc', 'csv', '2025-01-01T00:00:00+00:00', 3)")
    con.close()
    open_store(db).close()
    trail = list_audit(db)
    assert trail["action"].iloc[0] == "import (recorded before the audit trail existed)"
    assert json.loads(trail["details"].iloc[0])["sha256"] == "abc"


def test_cli_exports_are_recorded_with_file_hashes(tmp_path):
    db = tmp_path / "s.sqlite"
    import_questionnaires(SAMPLE, db=db)
    run = run_cli  # cli.main in-process (tests/cli_runner.py)
    assert run("export", "--quarter", "2025Q4", "--db", db, "--out", tmp_path / "x").returncode == 0
    assert run("cohort", "save", "north", "--db", db, "--site", "North").returncode == 0
    assert run("research-export", "north", "--db", db, "--out", tmp_path / "r").returncode == 0
    trail = list_audit(db)
    assert list(trail["action"])[-2:] == ["export", "research export"]
    export = json.loads(trail["details"].iloc[-2])
    written = tmp_path / "x" / "2025Q4" / "summary.csv"
    assert export["files"]["summary.csv"] == hashlib.sha256(written.read_bytes()).hexdigest()
    listed = run("audit", "--db", db, "--format", "json")
    assert [e["action"] for e in json.loads(listed.stdout)][-1] == "research export"
