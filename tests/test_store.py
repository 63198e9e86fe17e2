"""The clinic data store: round trips, idempotence, overlap, corrections, revert, faults.

Every test that takes ``db`` runs twice: on an SQLite file and on a PostgreSQL database of a real server
(tests/pg_fixtures.py).  The few about SQLite files themselves (backup copies, PRAGMAs) say so in their names."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from analytics import AnalyticsError, QuestionnaireValidationError, clinic_summary, load_questionnaires
from analytics.store import (
    _MIGRATIONS,
    SCHEMA_VERSION,
    _statements,
    ImportConflictError,
    import_questionnaires,
    list_imports,
    open_store,
    read_store,
    revert_import,
    store_has_data,
)
from analytics.store_backends import is_postgres_url, store_backend
from analytics.synthetic import synthetic_clinic
from cli_runner import run_cli
from conftest import ROOT, SAMPLE, TINY


@pytest.fixture
def db(store_db):
    return store_db


def headline(summary):
    d = summary.as_dict()
    return {k: d[k] for k in ("patients", "eligible", "si_at_baseline", "response", "remission", "si_resolution",
                              "cumulative", "questionnaires")}


def count(db):
    con = open_store(db, create=False)
    try:
        return con.execute("SELECT count(*) FROM questionnaires").fetchone()[0]
    finally:
        con.close()


def test_round_trip_gives_the_same_figures(db):
    result = import_questionnaires(SAMPLE, db=db)
    assert (result.import_id, result.added, result.unchanged) == (1, 3956, 0)
    from_store = read_store(db)
    assert from_store.ok
    assert headline(clinic_summary(from_store.frame)) == headline(clinic_summary(load_questionnaires(SAMPLE)))


def test_round_trip_of_day_based_file(db):
    import_questionnaires(TINY, db=db)
    for mode in ("completer", "itt", "locf"):
        from analytics import OutcomeDefinitions
        d = OutcomeDefinitions(analysis=mode)
        assert headline(clinic_summary(read_store(db).frame, definitions=d)) == \
            headline(clinic_summary(load_questionnaires(TINY), definitions=d))


def test_same_file_twice_changes_nothing(db):
    import_questionnaires(TINY, db=db)
    again = import_questionnaires(TINY, db=db)
    assert again.changed_nothing and again.import_id is None and again.unchanged == 25
    assert "nothing new" in again.to_text()
    assert len(list_imports(db)) == 1 and count(db) == 25


def test_overlapping_export_adds_only_new(db, tmp_path):
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    first = raw.iloc[:2000]
    first.to_csv(tmp_path / "first.csv", index=False)
    a = import_questionnaires(tmp_path / "first.csv", db=db)
    b = import_questionnaires(SAMPLE, db=db)
    assert a.added + b.added == 3956 and b.unchanged == a.added and b.corrected == 0
    assert count(db) == 3956


def changed_copy(tmp_path, name="changed.csv"):
    raw = pd.read_csv(TINY, dtype=str, keep_default_na=False)
    raw.loc[1, "phq9_4"] = "2"  # patient 001, day 42: total 10 -> 11
    path = tmp_path / name
    raw.to_csv(path, index=False)
    return path


def test_conflict_is_refused_with_rows_listed(db, tmp_path):
    import_questionnaires(TINY, db=db)
    with pytest.raises(ImportConflictError) as exc:
        import_questionnaires(changed_copy(tmp_path), db=db)
    c = exc.value.conflicts
    row = c[c["column"] == "phq9_4"].iloc[0]
    assert (row["line"], row["patient_id"], row["occasion"], row["stored"], row["new"]) == (3, "001", "day:42", "1", "2")
    assert set(c["column"]) == {"phq9_4", "phq9_total"}
    assert "--accept-corrections" in str(exc.value)
    assert len(list_imports(db)) == 1  # nothing written


def test_accepted_correction_keeps_history_and_revert_restores(db, tmp_path):
    import_questionnaires(TINY, db=db)
    fixed = import_questionnaires(changed_copy(tmp_path), db=db, accept_corrections=True)
    assert (fixed.added, fixed.corrected, fixed.unchanged) == (0, 1, 24)
    frame = read_store(db).frame
    row = frame[(frame["patient_id"] == "001") & (frame["day"] == 42)].iloc[0]
    assert row["phq9_total"] == 11
    con = open_store(db)
    old, new = con.execute("SELECT old_values, new_values FROM corrections").fetchone()
    con.close()
    assert json.loads(old)["phq9_4"] == 1 and json.loads(new)["phq9_4"] == 2

    # the first import cannot be reverted while a later correction stands on it
    with pytest.raises(AnalyticsError, match="revert those first"):
        revert_import(1, db=db)
    revert_id = revert_import(fixed.import_id, db=db)
    frame = read_store(db).frame
    assert frame[(frame["patient_id"] == "001") & (frame["day"] == 42)].iloc[0]["phq9_total"] == 10
    history = list_imports(db).set_index("id")
    assert history.loc[revert_id, "kind"] == "revert" and history.loc[revert_id, "restored"] == 1
    assert history.loc[fixed.import_id, "reverted_by"] == revert_id
    with pytest.raises(AnalyticsError, match="already reverted"):
        revert_import(fixed.import_id, db=db)
    # now the first import can go: the store is empty again, and says so
    revert_import(1, db=db)
    assert count(db) == 0 and not store_has_data(db)
    with pytest.raises(AnalyticsError, match="no questionnaire yet"):
        read_store(db)


def test_reinduction_in_a_later_file_is_a_second_episode(db, tmp_path):
    # spec v1 refused a second start date against the store; spec v2 makes it episode 2
    base = "patient_id,assessment_date,treatment_start_date,phq9_total,phq9_9\n"
    (tmp_path / "a.csv").write_text(base + "001,2026-01-05,2026-01-05,18,1\n")
    (tmp_path / "b.csv").write_text(base + "001,2026-05-16,2026-05-12,16,0\n")
    import_questionnaires(tmp_path / "a.csv", db=db)
    import_questionnaires(tmp_path / "b.csv", db=db)
    frame = read_store(db).frame
    assert frame["episode"].tolist() == [1, 2] and frame["day"].tolist() == [0, 4]


def test_invalid_file_writes_nothing(db, write_csv):
    bad = write_csv("patient_id,day,phq9_total,phq9_9\n001,0,30,1\n")
    with pytest.raises(QuestionnaireValidationError):
        import_questionnaires(bad, db=db)
    assert not store_has_data(db)


def test_import_record_has_hash_counts_and_warnings(db):
    import hashlib
    import_questionnaires(SAMPLE, db=db)
    row = list_imports(db).iloc[0]
    assert row["sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert (row["rows_read"], row["added"], row["user"]) == (3968, 3956, "local")
    assert row["warnings"] > 0 and "duplicate" in row["warning_summary"]


def test_reader_sees_committed_data_while_a_writer_holds_the_store(db):
    import_questionnaires(TINY, db=db)
    writer = open_store(db)
    writer.begin_write()
    writer.execute("INSERT INTO imports (id, file_name, sha256, source_format, started_at) "
                   "VALUES (99, 'x', '', 'csv', '')")
    t0 = time.perf_counter()
    assert read_store(db).counts["questionnaires"] == 25  # WAL: no wait, no uncommitted rows
    assert time.perf_counter() - t0 < 5
    writer.execute("ROLLBACK")
    writer.close()


# ---------------------------------------------------------------- schema and migrations

def schema_at(db, version):
    """A store built by the first ``version`` migration steps only, as an older release left it."""
    backend = store_backend(db)
    con = backend.connect(create=True)
    for step in range(version):
        if callable(_MIGRATIONS[step]):
            _MIGRATIONS[step](con)
        else:
            for statement in _statements(_MIGRATIONS[step]):
                con.execute(statement)
    backend.set_schema_version(con, version)
    return con


def test_older_schema_is_migrated(db):
    con = schema_at(db, 1)
    con.execute("INSERT INTO imports (file_name, sha256, source_format, started_at, added) "
                "VALUES ('old.csv', 'abc', 'csv', '2025-01-01', 1)")
    con.execute("INSERT INTO questionnaires (patient_id, occasion, day, phq9_total, phq9_9, import_id) "
                "VALUES ('001', 'day:0', 0, 18, 1, 1)")
    con.close()
    migrated = open_store(db)
    assert store_backend(db).schema_version(migrated) == SCHEMA_VERSION
    assert migrated.execute("SELECT count(*) FROM corrections").fetchone()[0] == 0
    assert tuple(migrated.execute("SELECT kind, user FROM imports").fetchone()) == ("import", "local")
    migrated.close()
    assert read_store(db).counts["questionnaires"] == 1
    if is_postgres_url(db):  # a failed migration rolls back whole there; the database's backups apply
        return
    backups = list(db.parent.glob(f"{db.name}.v1-backup-*"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT count(*) FROM questionnaires").fetchone()[0] == 1
    old.close()


def test_foreign_or_newer_files_are_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(AnalyticsError, match="not an outcomes store"):
        open_store(other)
    newer = tmp_path / "newer.sqlite"
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(AnalyticsError, match="newer than this tool"):
        open_store(newer)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(AnalyticsError, match="not a readable outcomes store"):
        open_store(garbage)


def test_foreign_or_newer_databases_are_refused(postgres_server):
    other = postgres_server.url(postgres_server.new_database("other"))
    postgres_server.admin("CREATE TABLE t (x INTEGER)", other.rsplit("/", 1)[1])
    with pytest.raises(AnalyticsError, match="not an outcomes store"):
        open_store(other)
    newer = postgres_server.url(postgres_server.new_database("newer"))
    con = store_backend(newer).connect(create=True)
    store_backend(newer).set_schema_version(con, SCHEMA_VERSION + 1)
    con.close()
    with pytest.raises(AnalyticsError, match="newer than this tool"):
        open_store(newer)


# ---------------------------------------------------------------- faults, for real

def cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def integrity(db):
    """SQLite's own check of the file; PostgreSQL checks its pages itself (and the counts are checked here)."""
    if is_postgres_url(db):
        return "ok"
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


class WriteLockProbe:
    """Tells, without waiting, whether another process holds the store's write lock."""

    def __init__(self, db):
        self.postgres = is_postgres_url(db)
        if self.postgres:
            import psycopg
            self.con = psycopg.connect(db, autocommit=True)
        else:
            self.con = sqlite3.connect(db, timeout=0, isolation_level=None)

    def held_by_another(self) -> bool:
        if self.postgres:  # the same lock the store takes (analytics.store_backends.PostgresConnection.begin_write)
            self.con.execute("BEGIN")
            free = self.con.execute("SELECT pg_try_advisory_xact_lock(hashtext(current_database() || '.' || "
                                    "current_schema() || ' outcomes store'))").fetchone()[0]
            self.con.execute("ROLLBACK")
            return not free
        try:
            self.con.execute("BEGIN IMMEDIATE")
            self.con.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True

    def close(self):
        self.con.close()


@pytest.mark.slow
def test_sigkill_during_import_leaves_store_as_before(db, tmp_path):
    import_questionnaires(TINY, db=db)
    before = (count(db), len(list_imports(db)))
    big = tmp_path / "big.csv"
    synthetic_clinic(15_000, seed=11).to_csv(big, index=False)
    proc = cli("import", big, "--db", db)
    probe = WriteLockProbe(db)
    killed_in_transaction = False
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if probe.held_by_another():  # the importer holds the write lock: it is mid-transaction
            os.kill(proc.pid, signal.SIGKILL)
            killed_in_transaction = True
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    probe.close()
    assert killed_in_transaction, "the import finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert integrity(db) == "ok"
    assert (count(db), len(list_imports(db))) == before
    # and the store still takes the import afterwards
    assert import_questionnaires(big, db=db).added > 0


@pytest.mark.slow
def test_two_imports_at_once(db, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    synthetic_clinic(3_000, seed=1).to_csv(a, index=False)
    synthetic_clinic(3_000, seed=2).assign(patient_id=lambda f: "B" + f["patient_id"]).to_csv(b, index=False)
    first, second = cli("import", a, "--db", db), cli("import", b, "--db", db)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    codes = [first.returncode, second.returncode]
    if is_postgres_url(db):  # the second waits for the first's lock: both land, one after the other
        assert codes == [0, 0], outs
    assert set(codes) <= {0, 4}, outs
    for code, (_out, err) in zip(codes, outs):
        assert "Traceback" not in err
        if code == 4:
            assert "busy" in err and "Nothing was written" in err
    assert integrity(db) == "ok"
    expected = sum(len(load_questionnaires(f)) for f, code in zip((a, b), codes) if code == 0)
    assert codes.count(0) >= 1 and count(db) == expected


# ---------------------------------------------------------------- command line

def test_cli_import_history_revert_and_summary_from_store(db, tmp_path, monkeypatch):
    run = run_cli  # in-process, as the other CLI tests (a dozen interpreters took minutes on a loaded machine)
    out = run("import", TINY, "--db", db)
    assert out.returncode == 0 and "import 1 done" in out.stdout
    out = run("import", TINY, "--db", db)
    assert out.returncode == 0 and "nothing new" in out.stdout
    out = run("import", changed_copy(tmp_path), "--db", db)
    assert out.returncode == 1 and "--accept-corrections" in out.stderr and "phq9_4" in out.stderr
    assert run("import", changed_copy(tmp_path), "--db", db, "--accept-corrections").returncode == 0
    history = json.loads(run("imports", "--db", db, "--format", "json").stdout)
    assert [h["corrected"] for h in history] == [0, 1]
    out = run("imports", "--db", db, "--revert", "2")
    assert out.returncode == 0 and "1 restored" in out.stdout
    from_store = json.loads(run("summary", "--db", db, "--format", "json").stdout)
    from_file = json.loads(run("summary", TINY, "--format", "json").stdout)
    assert from_store["response"] == from_file["response"] and from_store["cumulative"] == from_file["cumulative"]
    # OUTCOMES_DB names the default store
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    assert json.loads(run("summary", "--format", "json").stdout)["patients"] == 10
    assert run("validate", "--db", db).returncode == 0
    missing = run("summary", "--db", tmp_path / "nothing.sqlite")
    assert missing.returncode == 1 and "no store here yet" in missing.stderr


def _open_and_close(path, results):
    try:
        open_store(path).close()
        results.put("ok")
    except Exception as exc:  # reported back to the test
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_creating_a_new_store_at_once(tmp_path, backend, request):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    failures = []
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    for round_ in range(6):
        path = tmp_path / f"s{round_}.sqlite" if server is None else server.url(server.new_database())
        results = ctx.Queue()
        procs = [ctx.Process(target=_open_and_close, args=(path, results)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        failures += [r for r in (results.get(timeout=10) for _ in procs) if r != "ok"]
        assert integrity(path) == "ok"
    assert not failures


def test_a_saved_cohort_belongs_to_whoever_saved_it_first(db):
    from analytics.audit import list_audit
    from analytics.store import list_cohorts, load_cohort, save_cohort

    save_cohort("north", {"site": ["North"]}, fingerprint="a", db=db, user="boss@clinic.org")
    save_cohort("north", {"site": ["North", "Central"]}, fingerprint="b", db=db, user="boss@clinic.org")
    with pytest.raises(AnalyticsError, match="belongs to boss@clinic.org"):
        save_cohort("north", {"site": ["Riverside"]}, fingerprint="c", db=db, user="analyst@clinic.org")
    with pytest.raises(AnalyticsError, match="belongs to boss@clinic.org"):
        save_cohort(" north ", {}, fingerprint="c", db=db)  # the same name however spaced, and 'local' is no owner
    saved = load_cohort("north", db)
    assert saved["definition"] == {"site": ["North", "Central"]} and saved["owner"] == "boss@clinic.org"
    assert list(list_audit(db)["action"]) == ["cohort save", "cohort save", "cohort save refused",
                                              "cohort save refused"]
    details = [json.loads(d) for d in list_audit(db)["details"]]
    assert [d.get("replaced") for d in details[:2]] == [False, True] and details[2]["owner"] == "boss@clinic.org"
    assert len(list_cohorts(db)) == 1
