"""The store's columnar read path: the snapshot gives exactly what validating the stored rows gives, is only used
for the state it was made from, and is rebuilt whenever it is missing, stale or damaged."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from analytics import store
from analytics.progress import Progress
from analytics.store import import_questionnaires, read_store, revert_import
from analytics.store_snapshot import snapshot_directory
from analytics.synthetic import synthetic_clinic
from conftest import SAMPLE, TINY


def _from_database(db):
    """The read path without a snapshot: the rows fetched from the database and validated again (the old way)."""
    shutil.rmtree(snapshot_directory(db), ignore_errors=True)
    report = read_store(db)
    return report


def _assert_same(a, b):
    assert a.source == b.source
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    pd.testing.assert_frame_equal(a.warnings, b.warnings, check_exact=True)
    pd.testing.assert_frame_equal(a.errors, b.errors, check_exact=True)
    assert a.counts == b.counts


def _snapshots(db):
    return sorted(p.name for p in snapshot_directory(db).iterdir() if not p.name.startswith("."))


def test_snapshot_after_imports_corrections_and_revert_equals_validating_the_stored_rows(tmp_path, store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database
    import_questionnaires(SAMPLE, db=db)
    first = read_store(db)  # from the snapshot the import wrote
    assert len(_snapshots(db)) == 1
    _assert_same(first, _from_database(db))
    # the fallback wrote it again; a second read uses it
    assert len(_snapshots(db)) == 1
    _assert_same(read_store(db), first)

    # an overlapping file that adds patients and corrects one stored value
    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    extra = frame[frame["patient_id"] == frame["patient_id"].iloc[0]].assign(patient_id="NEW-1")
    changed = pd.concat([frame, extra], ignore_index=True)
    scored = changed.index[changed["phq9_1"].isin(["0", "1"])][0]
    changed.loc[scored, "phq9_1"] = str(int(changed.loc[scored, "phq9_1"]) + 1)
    if "phq9_total" in changed:
        changed.loc[scored, "phq9_total"] = ""  # the total follows from the items
    result = import_questionnaires(changed, db=db, file_name="changed.csv", accept_corrections=True)
    assert result.added == len(extra) and result.corrected == 1
    after = read_store(db)
    assert after.source != first.source and "NEW-1" in set(after.frame["patient_id"])
    assert len(_snapshots(db)) == 1  # the older generation was removed
    _assert_same(after, _from_database(db))

    revert_import(result.import_id, db=db)
    reverted = read_store(db)
    assert "NEW-1" not in set(reverted.frame["patient_id"])
    _assert_same(reverted, _from_database(db))
    pd.testing.assert_frame_equal(reverted.frame.drop(columns="line"), first.frame.drop(columns="line"))


def test_nothing_new_keeps_the_snapshot_and_the_state(tmp_path, store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database
    import_questionnaires(TINY, db=db)
    before = _snapshots(db)
    again = import_questionnaires(TINY, db=db)
    assert again.changed_nothing and again.import_id is None
    assert _snapshots(db) == before


def test_a_damaged_snapshot_is_not_used(tmp_path, store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database
    import_questionnaires(SAMPLE, db=db)
    good = _from_database(db)
    [name] = _snapshots(db)
    target = snapshot_directory(db) / name / "frame.parquet"
    data = bytearray(target.read_bytes())
    for i in range(len(data) // 3, 2 * len(data) // 3, 512):
        data[i:i + 64] = bytes(64)
    target.write_bytes(bytes(data))
    _assert_same(read_store(db), good)


def test_a_snapshot_of_another_state_is_never_read(tmp_path, store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database
    import_questionnaires(TINY, db=db)
    [old] = _snapshots(db)
    kept = tmp_path / "kept"
    shutil.copytree(snapshot_directory(db) / old, kept)
    import_questionnaires(SAMPLE, db=db)
    [new] = _snapshots(db)
    assert new != old
    # the old snapshot put in the place of the current one (its own key inside) is refused
    shutil.rmtree(snapshot_directory(db) / new)
    shutil.copytree(kept, snapshot_directory(db) / new)
    report = read_store(db)
    assert report.counts["patients"] == _from_database(db).counts["patients"] > 10


def test_reads_work_when_the_snapshot_folder_cannot_be_written(tmp_path, store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database
    import_questionnaires(TINY, db=db)
    shutil.rmtree(snapshot_directory(db))
    snapshot_directory(db).write_text("not a folder")  # the snapshot cannot be written there
    good = read_store(db)
    assert good.counts["patients"] == 10
    assert import_questionnaires(SAMPLE, db=db).added > 0
    assert read_store(db).counts["patients"] > 10


def test_reading_stored_rows_in_blocks_matches_pandas(tmp_path, monkeypatch, store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database
    import_questionnaires(SAMPLE, db=db)
    monkeypatch.setattr(store, "_INSERT_BLOCK", 7)
    import_questionnaires(synthetic_clinic(40, seed=3).assign(patient_id=lambda f: "S" + f["patient_id"].astype(str)),
                          db=db, file_name="more.csv")
    con = store.open_store(db)
    try:
        ours = store._stored_rows(con)
        theirs = con.read_frame(f"SELECT {', '.join(store._ROW_COLUMNS)} FROM questionnaires ORDER BY id")
    finally:
        con.close()
    for c in store.INT_COLUMNS:
        theirs[c] = theirs[c].astype("Int64")
    for c in ("patient_id", "occasion", "assessment_date", "treatment_start_date", "attributes"):
        theirs[c] = theirs[c].astype("str")
    for c in ("id", "import_id"):
        theirs[c] = theirs[c].astype("int64")
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)


# ----------------------------------------------------------------------------- the faster row conversions

def _attributes_reference(frame, attrs):
    """The former implementation: every row serialised on its own."""
    return frame[attrs].astype(object).to_json(orient="records", lines=True).splitlines()


def _raw_attributes_reference(attrs: pd.Series) -> pd.DataFrame:
    extra = pd.read_json(io.StringIO("\n".join(attrs)), lines=True, dtype=False)
    return extra.astype(object).where(extra.notna(), None).astype("str").replace("None", "")


def test_attribute_json_and_dates_match_the_row_by_row_versions():
    frame = pd.DataFrame({
        "site": pd.Categorical(["a", "b", None, "a", "b", "a"]),
        "clinician": pd.Categorical(["x", "x", "y", None, "x", "x"]),
        "visits": [1, 2, 3, np.nan, 2, 1],
        "assessment_date": pd.to_datetime(["2024-01-02", None, "2024-01-02", "2023-12-31", "2024-02-29", None]),
    })
    attrs = ["clinician", "site", "visits"]
    assert list(store._attributes_json(frame, attrs)) == _attributes_reference(frame, attrs)
    ids = pd.Series(pd.Categorical(["b", "a", None, "b", "007", "a"]), name="patient_id")
    pd.testing.assert_series_equal(store._as_text(ids), ids.astype("str"))
    dates = store._iso_dates(frame["assessment_date"])
    pd.testing.assert_series_equal(dates, frame["assessment_date"].dt.strftime("%Y-%m-%d"))

    stored = pd.DataFrame({"patient_id": "p", "assessment_date": "2024-01-01", "day": pd.array([None] * 6, "Int64"),
                           "treatment_start_date": "2024-01-01",
                           **{c: pd.array([1] * 6, "Int64") for c in store.SCORE_COLUMNS},
                           "infusion_number": pd.array([None] * 6, "Int64"),
                           "attributes": pd.Series(_attributes_reference(frame, attrs), dtype="str")})
    ours = store._as_raw_frame(stored)
    pd.testing.assert_frame_equal(ours[["clinician", "site", "visits"]].reset_index(drop=True),
                                  _raw_attributes_reference(stored["attributes"]).reset_index(drop=True))


# ----------------------------------------------------------------------------- progress

def test_import_reports_progress_in_order_up_to_done(tmp_path):
    seen: list[Progress] = []
    import_questionnaires(SAMPLE, db=tmp_path / "clinic.sqlite", progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = " | ".join(p.stage for p in seen)
    assert "checking" in stages and "writing" in stages and seen[-1].stage == "done"
    json.dumps([p.to_text() for p in seen])  # plain text a terminal or a page can show


def test_cli_import_prints_progress_lines_on_a_terminal_and_not_into_a_pipe(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    from conftest import ROOT

    def run(db, stderr):
        return subprocess.run([sys.executable, "-m", "analytics", "import", str(TINY), "--db", str(db)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=300)

    primary, secondary = pty.openpty()
    try:
        done = run(tmp_path / "a.sqlite", secondary)
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal is closed once everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert done.returncode == 0
    lines = [line for line in shown.decode().splitlines() if line.startswith("import:")]
    assert lines[0].endswith("reading the file") and lines[-1].endswith("100%  done") and len(lines) >= 5
    piped = run(tmp_path / "b.sqlite", subprocess.PIPE)
    assert piped.returncode == 0 and "import:" not in piped.stderr


def test_a_postgresql_store_keeps_its_snapshots_in_a_local_cache_folder_per_store(tmp_path, monkeypatch):
    url = "postgresql://outcomes@db.clinic.example:5432/outcomes"
    monkeypatch.delenv("OUTCOMES_SNAPSHOTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    default = snapshot_directory(url)
    assert default.parent == tmp_path / "cache" / "outcomes-analytics" / "snapshots"
    monkeypatch.setenv("OUTCOMES_SNAPSHOTS", str(tmp_path / "mine"))
    chosen = snapshot_directory(url)
    assert chosen.parent == tmp_path / "mine" and chosen.name == default.name
    # another database, or another schema of the same one, is another store with its own folder
    assert snapshot_directory(url + "2").name != chosen.name
    assert snapshot_directory(url + "?options=-csearch_path%3Dnorth").name != chosen.name
    # an SQLite store keeps them beside its file, whatever the cache settings
    assert snapshot_directory(tmp_path / "a.sqlite") == tmp_path / "a.sqlite.snapshots"


def test_a_snapshot_folder_that_does_not_exist_yet_is_created_with_its_parents(tmp_path, store_db, monkeypatch):
    monkeypatch.setenv("OUTCOMES_SNAPSHOTS", str(tmp_path / "new" / "cache"))
    import_questionnaires(TINY, db=store_db)
    assert len(_snapshots(store_db)) == 1


# ----------------------------------------------------------------------------- the bulk import path

def _stored_table(db) -> pd.DataFrame:
    con = store.open_store(db)
    try:
        return store._stored_rows(con)
    finally:
        con.close()


def test_reimport_in_another_row_order_or_without_a_snapshot_finds_every_questionnaire(tmp_path, store_db):
    """The comparison with the store matches by key whatever the file's order, from the snapshot or the database."""
    db = store_db  # an SQLite file, then a PostgreSQL database
    frame = synthetic_clinic(30, seed=11)
    first = import_questionnaires(frame, db=db, file_name="a.csv")
    shuffled = frame.sample(frac=1.0, random_state=4).reset_index(drop=True)
    again = import_questionnaires(shuffled, db=db, file_name="b.csv")
    assert again.changed_nothing and again.unchanged == first.added
    shutil.rmtree(snapshot_directory(db))  # no snapshot: the stored rows come from the database
    assert import_questionnaires(shuffled, db=db, file_name="c.csv").unchanged == first.added
    # half of it again plus patients not seen before: only those are added, the rest found unchanged
    more = synthetic_clinic(8, seed=12).assign(patient_id=lambda f: "N" + f["patient_id"].astype(str))
    mixed = pd.concat([shuffled.iloc[: len(shuffled) // 2], more], ignore_index=True)
    result = import_questionnaires(mixed, db=db, file_name="d.csv")
    assert result.added == len(_stored_table(db)) - first.added > 0
    assert result.unchanged == len(shuffled) // 2 - (result.rows_read - len(mixed))


def test_a_changed_value_in_a_reordered_file_is_a_conflict_on_that_row_alone(tmp_path, store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database
    frame = synthetic_clinic(20, seed=5)
    import_questionnaires(frame, db=db)
    changed = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    items = [f"phq9_{i}" for i in range(1, 10)]
    at = changed.index[changed[items].notna().all(axis=1)][3]
    changed.loc[at, "phq9_1"] = (int(changed.loc[at, "phq9_1"]) + 1) % 4
    changed.loc[at, "phq9_total"] = int(changed.loc[at, items].astype(int).sum())
    with pytest.raises(store.ImportConflictError) as exc:
        import_questionnaires(changed, db=db)
    conflicts = exc.value.conflicts
    assert set(conflicts["column"]) == {"phq9_1", "phq9_total"}
    assert set(conflicts["patient_id"]) == {str(changed.loc[at, "patient_id"])}
    assert len(conflicts[["patient_id", "occasion"]].drop_duplicates()) == 1


def test_text_with_quotes_commas_and_line_breaks_and_empty_text_come_back_as_imported(tmp_path, store_db):
    """The bulk insert (a staging file on SQLite, CSV through COPY on PostgreSQL) keeps every character and tells
    an empty text from a missing one."""
    db = store_db  # an SQLite file, then a PostgreSQL database
    frame = synthetic_clinic(6, seed=2)
    sites = ['North "A"', "South\nB", "", "East, C's", "\\N", "Zürich ✓"]
    frame["site"] = [sites[i % len(sites)] for i in range(len(frame))]
    import_questionnaires(frame, db=db)
    stored = _stored_table(db)
    assert stored["attributes"].notna().all() and stored["patient_id"].notna().all()
    back = read_store(db).frame
    assert sorted(set(back["site"].astype(object).fillna(""))) == sorted(set(sites))


def test_no_staging_file_is_left_beside_the_store_and_a_killed_imports_is_removed(tmp_path):
    db = tmp_path / "clinic.sqlite"
    import_questionnaires(TINY, db=db)
    assert not list(tmp_path.glob(".clinic.sqlite.staging-*"))
    # what a killed import leaves: its staging file (the store itself is as it was)
    left = tmp_path / ".clinic.sqlite.staging-999999-deadbeef.sqlite"
    left.write_bytes(b"scratch")
    assert import_questionnaires(SAMPLE, db=db).added > 0
    assert not list(tmp_path.glob(".clinic.sqlite.staging-*"))
    _assert_same(read_store(db), _from_database(db))


def test_a_refused_import_leaves_no_staging_file_and_no_snapshot_folder(tmp_path):
    db = tmp_path / "clinic.sqlite"
    frame = synthetic_clinic(10, seed=8)
    import_questionnaires(frame, db=db)
    before = sorted(p.name for p in snapshot_directory(db).iterdir())
    # totals only, one total that is not the sum of the stored items, and new patients (rows to stage): valid
    # alone, refused together with the store, after the new rows were staged
    items = [f"phq9_{i}" for i in range(1, 10)]
    other = frame.drop(columns=items)
    at = frame.index[frame[items].notna().all(axis=1)][0]
    total = int(frame.loc[at, items].astype(int).sum())
    other.loc[at, "phq9_total"] = total - 1 if total > 0 else 1
    more = synthetic_clinic(5, seed=9).assign(patient_id=lambda f: "N" + f["patient_id"].astype(str))
    with pytest.raises(store.QuestionnaireValidationError, match="already in the store"):
        import_questionnaires(pd.concat([other, more], ignore_index=True), db=db, accept_corrections=True)
    assert not list(tmp_path.glob(".clinic.sqlite.staging-*"))
    assert sorted(p.name for p in snapshot_directory(db).iterdir()) == before
    assert len(_stored_table(db)) == len(frame)


def test_without_the_adbc_driver_the_import_binds_rows_and_gives_the_same_store(tmp_path, monkeypatch):
    """An installation without adbc-driver-sqlite still imports (row by row, slower): the same rows and frame."""
    from analytics import store_backends

    fast = tmp_path / "fast.sqlite"
    import_questionnaires(SAMPLE, db=fast)
    monkeypatch.setattr(store_backends, "_adbc_available", lambda: False)
    slow = tmp_path / "slow.sqlite"
    import_questionnaires(SAMPLE, db=slow)
    pd.testing.assert_frame_equal(_stored_table(fast), _stored_table(slow), check_exact=True)
    pd.testing.assert_frame_equal(read_store(fast).frame, read_store(slow).frame, check_exact=True)


@pytest.mark.parametrize("with_snapshot", [True, False])
def test_one_changed_cell_in_a_rare_score_column_is_a_conflict_on_that_cell_alone(tmp_path, store_db,
                                                                                   with_snapshot):
    """The re-import compares one digest per questionnaire first; a change in any column, even one that a
    single questionnaire of the store has, must still be found (from the snapshot and from the database)."""
    db = store_db  # an SQLite file, then a PostgreSQL database
    frame = synthetic_clinic(20, seed=5)
    frame["madrs_total"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame.loc[7, "madrs_total"] = 30
    import_questionnaires(frame, db=db)
    assert import_questionnaires(frame, db=db).changed_nothing
    changed = frame.copy()
    changed.loc[7, "madrs_total"] = 31
    if not with_snapshot:
        shutil.rmtree(snapshot_directory(db))
    with pytest.raises(store.ImportConflictError) as exc:
        import_questionnaires(changed, db=db)
    conflicts = exc.value.conflicts
    assert conflicts[["line", "column", "stored", "new"]].to_dict("records") == [
        {"line": 9, "column": "madrs_total", "stored": "30", "new": "31"}]
    # accepted, the correction is stored and the next identical import finds nothing new
    assert import_questionnaires(changed, db=db, accept_corrections=True).corrected == 1
    assert import_questionnaires(changed, db=db).changed_nothing
    assert read_store(db).frame["madrs_total"].dropna().tolist() == [31]


def test_the_content_digest_changes_with_any_single_value_and_ignores_absent_columns():
    from analytics.store_schema import INT_COLUMNS, VALUE_COLUMNS

    n = 4
    rows = pd.DataFrame({c: pd.array([1, 2, None, 4], dtype="Int64") for c in INT_COLUMNS})
    rows["assessment_date"] = pd.Series(["2025-01-01", None, "2025-01-03", "2025-01-04"], dtype="str")
    rows["treatment_start_date"] = pd.Series(["2025-01-01"] * n, dtype="str")
    rows["attributes"] = pd.Series(['{"site":"A"}', "{}", "{}", '{"site":"B"}'], dtype="str")
    base = store._content_hash(rows)
    assert base.dtype == np.int64 and len(set(base)) == n
    # the same values give the same digest, from any frame (here: the rows in another order; narrower integers)
    assert (store._content_hash(rows.iloc[::-1].reset_index(drop=True))[::-1] == base).all()
    assert (store._content_hash(rows.astype({c: "Int8" for c in INT_COLUMNS})) == base).all()
    for c in VALUE_COLUMNS:
        changed = rows.copy()
        if c in INT_COLUMNS:
            changed[c] = pd.array([1, 3, None, 4], dtype="Int64")  # a value changed in row 1
            missing_now = pd.array([None, 2, None, 4], dtype="Int64")  # a value removed in row 0
            gained = pd.array([1, 2, 0, 4], dtype="Int64")  # a value given in row 2
        else:
            changed[c] = rows[c].where(rows.index != 1, "x")
            missing_now = rows[c].where(rows.index != 0, None)
            gained = rows[c].where(rows.index != 2, "y")
        assert (store._content_hash(changed) != base).tolist() == [False, True, False, False], c
        assert (store._content_hash(rows.assign(**{c: missing_now})) != base).tolist()[0], c
        assert (store._content_hash(rows.assign(**{c: gained})) != base).tolist()[2], c
    # a column that no row has does not count: a frame without it has the same digests
    blank = rows.assign(madrs_total=pd.array([None] * n, dtype="Int64"))
    assert (store._content_hash(blank.drop(columns="madrs_total")) == store._content_hash(blank)).all()


def test_text_made_from_codes_in_blocks_is_the_same_text(monkeypatch):
    """Text columns are built in blocks of rows (one Arrow text array holds at most 2 GB, which the attributes of
    a 1,000,000-patient registry exceed): blocks smaller than the column give the same values, missing included."""
    codes = np.array([0, 2, -1, 1, 1, 0, -1, 2, 0])
    uniques = ['{"site":"A"}', "{}", 'x "y", z']
    index = pd.RangeIndex(len(codes))
    whole = store._text_from_codes(codes, uniques, index, "attributes")
    assert str(whole.dtype) == "str"
    monkeypatch.setattr(store, "_INSERT_BLOCK", 4)
    blocks = store._text_from_codes(codes, uniques, index, "attributes")
    pd.testing.assert_series_equal(blocks, whole)
    expected = pd.Series([uniques[c] if c >= 0 else None for c in codes], dtype="str", name="attributes")
    pd.testing.assert_series_equal(blocks, expected)
    assert store._text_from_codes(np.array([], dtype=int), uniques, pd.RangeIndex(0), "a").empty


def test_sqlite_a_new_store_has_large_pages_and_an_existing_one_keeps_its_own(tmp_path):
    """SQLite files only: a new store is made with SQLite's largest pages (fewer pages for a bulk import to
    write twice); a store made with small pages keeps them (SQLite fixes the size at creation) and imports
    into it as before."""
    import sqlite3

    from analytics.store_backends import _PAGE_BYTES

    new = tmp_path / "new.sqlite"
    import_questionnaires(TINY, db=new)
    assert sqlite3.connect(new).execute("PRAGMA page_size").fetchone() == (_PAGE_BYTES,) == (65536,)

    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    con.execute("PRAGMA page_size = 4096")
    con.execute("VACUUM")  # writes the empty file with that page size
    con.close()
    frame = synthetic_clinic(8, seed=5)
    assert import_questionnaires(frame, db=old).added > 0
    con = sqlite3.connect(old)
    assert con.execute("PRAGMA page_size").fetchone() == (4096,)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    _assert_same(read_store(old), _from_database(old))
