"""The store when the disk or the file is not as expected: read-only, full, damaged part-way, a folder, a
dangling link.  Each is a message saying what happened and that nothing was written; the store is unchanged."""
from __future__ import annotations

import os
import sqlite3

import pandas as pd
import pytest

from analytics import store
from analytics.errors import StoreUnusableError
from analytics.store import import_questionnaires, list_imports, open_store, read_store, store_has_data
from conftest import SAMPLE, TINY


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "clinic.sqlite"
    import_questionnaires(TINY, db=path)
    return path


def _snapshot(db):
    """Everything a user sees of the store."""
    return list_imports(db), read_store(db).frame


def _assert_unchanged(db, before):
    imports, frame = _snapshot(db)
    pd.testing.assert_frame_equal(imports, before[0])
    pd.testing.assert_frame_equal(frame, before[1])


def _with_pragma(monkeypatch, pragma):
    """Open the store as usual, then apply a real SQLite limit to that connection."""
    real = store.open_store

    def limited(path=None, **kwargs):
        con = real(path, **kwargs)
        value = pragma(con)
        con.execute(value)
        return con

    monkeypatch.setattr(store, "open_store", limited)


def test_full_disk_says_so_and_leaves_the_store_as_it_was(db, monkeypatch):
    before = _snapshot(db)
    # the file may not grow by a single page: what a full disk does to SQLite (SQLITE_FULL)
    _with_pragma(monkeypatch, lambda con: f"PRAGMA max_page_count = {con.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StoreUnusableError, match="the disk is full. Nothing was written and the store is as it "
                                                 "was") as exc:
        import_questionnaires(SAMPLE, db=db)
    assert exc.value.reason == "disk full" and str(db) in str(exc.value)
    monkeypatch.undo()
    _assert_unchanged(db, before)
    assert import_questionnaires(SAMPLE, db=db).added > 0  # with space again, the same import works


def test_read_only_store_says_read_only(db, monkeypatch):
    before = _snapshot(db)
    _with_pragma(monkeypatch, lambda con: "PRAGMA query_only = ON")  # SQLite refuses every write (SQLITE_READONLY)
    with pytest.raises(StoreUnusableError, match="the store is read-only") as exc:
        import_questionnaires(SAMPLE, db=db)
    assert exc.value.reason == "read-only" and "unreadable" not in str(exc.value)
    monkeypatch.undo()
    _assert_unchanged(db, before)


@pytest.mark.skipif(os.geteuid() == 0, reason="file permissions do not bind root")
def test_read_only_file_says_read_only(db):
    before = _snapshot(db)
    db.chmod(0o444)
    for extra in db.parent.glob(db.name + "-*"):
        extra.unlink()
    try:
        with pytest.raises(StoreUnusableError, match="read-only"):
            import_questionnaires(SAMPLE, db=db)
    finally:
        db.chmod(0o644)
    _assert_unchanged(db, before)


def test_store_damaged_part_way_is_named_damaged(db, tmp_path):
    import_questionnaires(SAMPLE, db=db)
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(db.read_bytes())
    for i in range(len(data) // 2, len(data), 1024):  # the first half (header, schema) stays intact
        data[i:i + 256] = bytes(range(256))
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(bytes(data))
    # the import history sits in the intact half and stays readable; the questionnaires do not
    assert len(list_imports(damaged)) == 2
    for action in (lambda: read_store(damaged), lambda: import_questionnaires(TINY, db=damaged)):
        with pytest.raises(StoreUnusableError, match=r"damaged.sqlite: the store file is damaged .*Restore it from a "
                                                     "backup") as exc:
            action()
        assert exc.value.reason == "damaged"


def test_folder_as_store(tmp_path):
    folder = tmp_path / "store.sqlite"
    folder.mkdir()
    for action in (lambda: open_store(folder), lambda: import_questionnaires(TINY, db=folder),
                   lambda: store_has_data(folder), lambda: list_imports(folder)):
        with pytest.raises(StoreUnusableError, match="store.sqlite: this is a folder, not a store file"):
            action()


def test_dangling_link_as_store(tmp_path):
    link = tmp_path / "clinic.sqlite"
    link.symlink_to(tmp_path / "moved" / "clinic.sqlite")
    with pytest.raises(StoreUnusableError, match=r"clinic.sqlite: the store path is a link to .*moved/clinic.sqlite, "
                                                 "which does not exist"):
        import_questionnaires(TINY, db=link)
    assert not (tmp_path / "moved").exists()
