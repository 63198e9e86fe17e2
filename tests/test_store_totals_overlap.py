"""A totals-only export over questionnaires already stored with their items (the store's conflict rule).

A blank in the new file is not a correction, so a totals-only file never wipes stored item answers;
a total that agrees with the stored items is no conflict; a different total is a conflict on the total alone.
"""
from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from analytics import QuestionnaireValidationError
from analytics.store import ImportConflictError, import_questionnaires, read_store
from conftest import TINY


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "store.sqlite"
    import_questionnaires(TINY, db=path)
    return path


def totals_only(tmp_path, change=None, name="totals.csv"):
    """TINY as an EHR would send it: patient, day, total (worked out from the items by hand), no items, no site."""
    raw = pd.read_csv(TINY, dtype=str, keep_default_na=False)
    items = raw[[f"phq9_{i}" for i in range(1, 10)]].apply(pd.to_numeric, errors="coerce")
    total = items.sum(axis=1, min_count=9).astype("Int64")  # an incomplete questionnaire has no total
    out = pd.DataFrame({"patient_id": raw["patient_id"], "day": raw["day"], "phq9_total": total})
    if change:
        out.loc[change[0], "phq9_total"] = change[1]
    path = tmp_path / name
    out.to_csv(path, index=False)
    return path


def blank_items(db) -> int:
    """Stored questionnaires with a blank item answer (TINY has two incomplete ones, lines 20 and 26)."""
    con = sqlite3.connect(db)
    try:
        where = " OR ".join(f"phq9_{i} IS NULL" for i in range(1, 10))
        return con.execute(f"SELECT count(*) FROM questionnaires WHERE {where}").fetchone()[0]
    finally:
        con.close()


def test_agreeing_totals_change_nothing_and_keep_the_items(db, tmp_path):
    before = read_store(db).frame
    result = import_questionnaires(totals_only(tmp_path), db=db)
    assert result.changed_nothing and result.unchanged == 25 and result.corrected == 0
    after = read_store(db).frame
    pd.testing.assert_frame_equal(before, after)
    assert blank_items(db) == 2


def test_a_different_total_is_a_conflict_on_the_total_alone(db, tmp_path):
    # line 3 of TINY: patient 001, day 42, items 3,3,3,1,0,0,0,0,0 = 10; the file says 12
    with pytest.raises(ImportConflictError) as exc:
        import_questionnaires(totals_only(tmp_path, change=(1, 12)), db=db)
    c = exc.value.conflicts
    assert c[["patient_id", "occasion", "column", "stored", "new"]].values.tolist() == \
        [["001", "day:42", "phq9_total", "10", "12"]]


def test_accepting_a_total_that_contradicts_the_stored_items_is_refused(db, tmp_path):
    """The items stay; a total that cannot be their sum is refused with the reason (give the items instead)."""
    with pytest.raises(QuestionnaireValidationError, match="already in the store") as exc:
        import_questionnaires(totals_only(tmp_path, change=(1, 12)), db=db, accept_corrections=True)
    assert "does not equal the sum of its items" in exc.value.problems["problem"].iloc[0]
    assert blank_items(db) == 2


def test_new_questionnaires_in_a_totals_only_file_are_added(db, tmp_path):
    path = totals_only(tmp_path)
    with path.open("a") as f:
        f.write("001,70,4\n")
    result = import_questionnaires(path, db=db)
    assert (result.added, result.unchanged, result.corrected) == (1, 25, 0)
    frame = read_store(db).frame
    row = frame[(frame["patient_id"] == "001") & (frame["day"] == 70)].iloc[0]
    assert row["phq9_total"] == 4 and pd.isna(row["phq9_9"])
    kept = frame[(frame["patient_id"] == "001") & (frame["day"] == 42)].iloc[0]
    assert (kept["phq9_4"], kept["phq9_total"], kept["site"]) == (1, 10, "North")
