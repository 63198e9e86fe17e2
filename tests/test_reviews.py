"""Safety reviews in the store: kept across connections, audited with the note's hash, refused when unusable."""
from __future__ import annotations

import hashlib
import json
import sqlite3

import pandas as pd
import pytest

from analytics import AnalyticsError
from analytics.audit import list_audit, verify_audit
from analytics.definitions import REVIEW_NOTE_MAX_CHARS
from analytics.reviews import REVIEW_COLUMNS, list_reviews, mark_reviewed
from analytics.store_connection import open_store
from analytics.store_schema import MIGRATIONS, SCHEMA_VERSION, sql_statements


def test_reviews_persist_and_are_audited(store_db):
    db = store_db  # an SQLite file, then a PostgreSQL database (tests/pg_fixtures.py)
    first = mark_reviewed("P1", note="  called,\n appointment booked ", data_source="store",
                          through_date=pd.Timestamp("2025-03-03"), through_episode=1, through_day=56, db=db,
                          user="dr@clinic")
    second = mark_reviewed("P2", note="seen in clinic", data_source="sha256:abc", through_date=None,
                           through_episode=2, through_day=7, db=db, user="dr@clinic")
    assert (first, second) == (1, 2)
    every = list_reviews(db)  # a new connection: what was committed
    assert list(every.columns) == REVIEW_COLUMNS
    assert list(every["patient_id"]) == ["P1", "P2"]
    row = every.iloc[0]
    assert (row["note"], row["through_date"], row["through_episode"], row["through_day"], row["user"]) == \
        ("called, appointment booked", "2025-03-03", 1, 56, "dr@clinic")  # whitespace folded
    assert pd.isna(every.iloc[1]["through_date"])
    assert list(list_reviews(db, data_source="store")["patient_id"]) == ["P1"]
    trail = list_audit(db)
    assert list(trail["action"]) == ["safety review", "safety review"]
    details = json.loads(trail["details"].iloc[0])
    assert details == {"review_id": 1, "patient_id": "P1", "data_source": "store", "through_date": "2025-03-03",
                       "through_episode": 1, "through_day": 56,
                       "note_sha256": hashlib.sha256(b"called, appointment booked").hexdigest()}
    assert "appointment" not in trail["details"].iloc[0]  # the note itself stays out of the append-only trail
    assert set(trail["user"]) == {"dr@clinic"}
    assert verify_audit(db).ok


def test_no_store_means_no_reviews(tmp_path):
    empty = list_reviews(tmp_path / "none.sqlite")
    assert empty.empty and list(empty.columns) == REVIEW_COLUMNS
    assert not (tmp_path / "none.sqlite").exists()  # reading never creates a store


@pytest.mark.parametrize("patient, note, message", [
    ("P1", "   ", "needs a note"),
    ("", "ok", "pseudonym"),
    ("P1", "x" * (REVIEW_NOTE_MAX_CHARS + 1), f"keep it to {REVIEW_NOTE_MAX_CHARS}"),
])
def test_unusable_reviews_are_refused_and_nothing_is_written(tmp_path, patient, note, message):
    db = tmp_path / "s.sqlite"
    with pytest.raises(AnalyticsError, match=message):
        mark_reviewed(patient, note=note, data_source="store", db=db)
    assert list_reviews(db).empty


def test_review_and_audit_are_one_transaction(tmp_path):
    db = tmp_path / "s.sqlite"
    mark_reviewed("P1", note="ok", data_source="store", db=db)
    con = sqlite3.connect(db)
    # make the audit append fail: the review row must not stay behind
    con.execute("CREATE TRIGGER audit_refuses BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'refused'); END")
    con.commit()
    con.close()
    with pytest.raises(AnalyticsError, match="refused"):  # the database's error, as a message
        mark_reviewed("P2", note="ok", data_source="store", db=db)
    assert list(list_reviews(db)["patient_id"]) == ["P1"]


def test_an_older_store_gains_the_reviews_table(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db, isolation_level=None)
    for step in range(SCHEMA_VERSION - 1):  # the schema before the reviews table
        if callable(MIGRATIONS[step]):
            MIGRATIONS[step](con)
        else:
            for statement in sql_statements(MIGRATIONS[step]):
                con.execute(statement)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    con.close()
    migrated = open_store(db)
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    migrated.close()
    mark_reviewed("P1", note="ok", data_source="store", db=db)
    assert len(list_reviews(db)) == 1
