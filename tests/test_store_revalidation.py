"""An import validates the file once, and then only the patients it touches together with their stored rows: the
store's new snapshot is exactly what validating every stored row gives (frame, warnings, counts), on SQLite and
PostgreSQL, and every refusal says what the whole-store check says.

The reference is the old way, run for real: the snapshot folder deleted and the store read again, which fetches
every row from the database and validates it (``_from_database``), or the same import with the touched-patients
path switched off (``whole_store``)."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analytics import load_questionnaires, store
from analytics.errors import QuestionnaireValidationError
from analytics.problems import MAX_PROBLEMS_PER_KIND
from analytics.store import import_questionnaires, read_store, revert_import
from analytics.store_snapshot import snapshot_directory
from analytics.synthetic import synthetic_clinic
from conftest import SAMPLE, TINY


def _from_database(db):
    """Every stored row fetched and validated again, as the snapshot of that validation gives it back (a
    report read from a snapshot has Parquet's column types, e.g. the capped warnings' blank line as a float)."""
    shutil.rmtree(snapshot_directory(db), ignore_errors=True)
    read_store(db)
    return read_store(db)


def _assert_same(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.frame.dtypes.astype(str).tolist() == b.frame.dtypes.astype(str).tolist()
    for c in a.frame.columns:  # categories and their order (first appearance), not only the values
        if isinstance(a.frame[c].dtype, pd.CategoricalDtype):
            assert a.frame[c].cat.categories.tolist() == b.frame[c].cat.categories.tolist(), c
    pd.testing.assert_frame_equal(a.warnings, b.warnings, check_exact=True)
    pd.testing.assert_frame_equal(a.errors, b.errors, check_exact=True)
    assert list(a.counts.items()) == list(b.counts.items())


@pytest.fixture
def validated(monkeypatch):
    """How many rows each validation during an import had: the file's, the touched patients', the whole store's."""
    seen = {"whole store": [], "rows": [], "all rows read": []}
    whole, rows, every_row = store._validate_rows, store.validate_questionnaires, store._all_rows

    def whole_store(frame):
        seen["whole store"].append(len(frame))
        return whole(frame)

    def counted(source, **kwargs):
        seen["rows"].append(len(source.frame) if hasattr(source, "frame") else len(source))
        return rows(source, **kwargs)

    def all_rows(*args):
        out = every_row(*args)
        seen["all rows read"].append(len(out))
        return out

    monkeypatch.setattr(store, "_validate_rows", whole_store)
    monkeypatch.setattr(store, "_all_rows", all_rows)
    monkeypatch.setattr(store, "validate_questionnaires", counted)
    return seen


def _imported(source, db, validated, **kwargs):
    """Import and return (result, rows of each validation during it, whole-store validations during it)."""
    for seen in validated.values():
        seen.clear()
    result = import_questionnaires(source, db=db, **kwargs)
    return result, list(validated["rows"]), list(validated["whole store"])


def _day_layout_with_episodes() -> pd.DataFrame:
    """Study days with an episode column (a re-induction counted from its own start), attributes out of
    alphabetical order, a blank attribute and a padded one."""
    rows = []
    for p in range(1, 13):
        for episode in (1, 2) if p % 3 == 0 else (1,):
            for day, score in ((0, 3), (14, 2), (28, 1)):
                rows.append({"patient_id": f"D{p:03d}", "episode": str(episode), "day": str(day),
                             **{f"phq9_{i}": str(score) for i in range(1, 10)},
                             "zone": " east " if p % 2 else "west", "clinician": "" if p == 4 else f"c{p % 4}"})
    return pd.DataFrame(rows)


def _many_warnings() -> pd.DataFrame:
    """More incomplete questionnaires than a report lists per kind: the capped warnings are over all rows."""
    data = synthetic_clinic(160, seed=3, duplicate_share=0.0)
    blank = np.random.default_rng(3).random(len(data)) < 0.3
    data.loc[blank, ["phq9_9", "phq9_total"]] = None  # one kind of warning (phq9_9 blank) hundreds of times
    return data


@pytest.mark.parametrize("source", ["sample", "tiny", "days and episodes", "duplicates in the file",
                                    "many warnings", "instruments"])
def test_into_an_empty_store_the_file_is_validated_once(tmp_path, validated, source):
    frames = {"sample": lambda: SAMPLE, "tiny": lambda: TINY, "days and episodes": _day_layout_with_episodes,
              "duplicates in the file": lambda: synthetic_clinic(80, seed=5, duplicate_share=0.08),
              "many warnings": _many_warnings,
              "instruments": lambda: synthetic_clinic(60, seed=6, more_instruments=True)}
    data = frames[source]()
    db = tmp_path / "clinic.sqlite"
    result, rows, whole = _imported(data, db, validated)
    assert whole == [] and len(rows) == 1  # the file only
    snapshot = read_store(db)
    assert result.added == snapshot.counts["questionnaires"] > 0
    if source == "duplicates in the file":
        assert result.report.counts["duplicates_collapsed"] > 0 and snapshot.counts["duplicates_collapsed"] == 0
    if source == "many warnings":
        assert snapshot.warnings["problem"].str.startswith("... and ").any()  # capped
    _assert_same(snapshot, _from_database(db))


def test_imports_corrections_and_a_revert_validate_only_the_touched_patients(tmp_path, store_db, validated):
    db = store_db  # an SQLite file, then a PostgreSQL database
    data = _many_warnings().astype(str).replace({"<NA>": "", "nan": "", "None": ""})
    patients = data["patient_id"].unique()
    first = data[data["patient_id"].isin(patients[:100])]
    _, rows, whole = _imported(first, db, validated)
    assert whole == []
    _assert_same(read_store(db), _from_database(db))

    # a later export: new questionnaires of current patients and new patients, in the export's order
    later = data[data["patient_id"].isin(patients[60:130])]
    result, rows, whole = _imported(later, db, validated, file_name="later.csv")
    assert whole == [] and result.added > 0
    assert rows[0] == len(later) and rows[1] < len(first) + result.added  # the file, then fewer rows than the store
    assert validated["all rows read"] == []  # the stored rows were read a patient at a time
    _assert_same(read_store(db), _from_database(db))

    # a correction of a score alone (the stored rows still read a patient at a time)
    again = data[data["patient_id"] == patients[20]].copy()
    item = again.index[again["phq9_2"].isin(["0", "1", "2"])][0]
    again.loc[item, "phq9_2"] = str(int(again.loc[item, "phq9_2"]) + 1)
    again.loc[item, "phq9_total"] = ""
    result, rows, whole = _imported(again, db, validated, file_name="again.csv", accept_corrections=True)
    assert whole == [] and validated["all rows read"] == [] and result.corrected == 1
    assert rows[1] == len(again) - result.report.counts["duplicates_collapsed"]
    _assert_same(read_store(db), _from_database(db))

    # a correction of the store's very first questionnaire (its patient's warnings head the capped list), of a
    # text attribute of another patient, and a new questionnaire of a third
    stored = read_store(db).frame
    p0 = str(stored["patient_id"].iloc[0])
    fix = data[data["patient_id"] == p0].copy()
    item = fix.index[fix["phq9_1"].isin(["0", "1", "2"])][0]
    fix.loc[item, "phq9_1"] = str(int(fix.loc[item, "phq9_1"]) + 1)
    fix.loc[item, "phq9_total"] = ""
    other = data[data["patient_id"] == patients[5]].copy()
    other["site"] = "Elsewhere"
    third = data[data["patient_id"] == patients[140]]
    corrected, rows, whole = _imported(pd.concat([fix, other, third]), db, validated, file_name="fix.csv",
                                       accept_corrections=True)
    assert whole == [] and corrected.corrected >= 2 and corrected.added == len(third)
    assert len(validated["all rows read"]) == 1  # another site: the attributes' order of first use may change
    snapshot = read_store(db)
    assert snapshot.warnings["problem"].str.startswith("... and ").any()  # still capped over all rows
    assert "Elsewhere" in snapshot.frame["site"].cat.categories
    _assert_same(snapshot, _from_database(db))

    # the revert rebuilds from the store; the next import then validates only its patients again
    revert_import(corrected.import_id, db=db)
    _assert_same(read_store(db), _from_database(db))
    rest = data[data["patient_id"].isin(patients[130:])]
    result, rows, whole = _imported(rest, db, validated, file_name="rest.csv")
    assert whole == [] and result.added > 0
    _assert_same(read_store(db), _from_database(db))
    assert read_store(db).counts["questionnaires"] == len(load_questionnaires(data))


def test_the_day_layout_with_episodes_into_a_store(tmp_path, store_db, validated):
    db = store_db
    data = _day_layout_with_episodes()
    import_questionnaires(data[data["day"] != "28"], db=db)
    _, _, whole = _imported(data, db, validated)
    assert whole == []
    _assert_same(read_store(db), _from_database(db))


def _whole_store_check(monkeypatch):
    """The import as it was: the touched-patients path off, so the whole store is validated with the file."""
    monkeypatch.setattr(store, "_touched_patients_report", lambda *args, **kwargs: None)


def test_a_problem_between_a_stored_and_a_new_row_is_refused_with_the_whole_store_message(tmp_path, monkeypatch):
    frame = synthetic_clinic(10, seed=8)
    items = [f"phq9_{i}" for i in range(1, 10)]
    at = frame.index[frame[items].notna().all(axis=1)][0]
    total = int(frame.loc[at, items].astype(int).sum())
    # a total that is not the sum of the stored items (valid alone, refused with the store) and new patients
    other = frame.drop(columns=items)
    other.loc[at, "phq9_total"] = total - 1 if total > 0 else 1
    more = synthetic_clinic(5, seed=9).assign(patient_id=lambda f: "N" + f["patient_id"].astype(str))
    bad = pd.concat([other, more], ignore_index=True)
    messages = []
    for path in ("touched patients", "whole store"):
        db = tmp_path / f"{path}.sqlite"
        import_questionnaires(frame, db=db)
        if path == "whole store":
            _whole_store_check(monkeypatch)
        with pytest.raises(QuestionnaireValidationError, match="already in the store") as exc:
            import_questionnaires(bad, db=db, accept_corrections=True)
        messages.append((str(exc.value), exc.value.problems.to_dict("records")))
    assert messages[0] == messages[1]
    assert "does not equal the sum of its items" in messages[0][0]


def test_the_same_imports_give_the_same_snapshot_either_way(tmp_path, monkeypatch):
    """Byte for byte the same snapshot tables whether only the touched patients or the whole store is validated."""
    data = synthetic_clinic(120, seed=11, incomplete_share=0.3, more_instruments=True)
    patients = data["patient_id"].unique()
    steps = [data[data["patient_id"].isin(patients[:70])], data[data["patient_id"].isin(patients[40:])]]
    reports = []
    for path in ("touched patients", "whole store"):
        db = tmp_path / f"{path}.sqlite"
        if path == "whole store":
            _whole_store_check(monkeypatch)
        for step in steps:
            import_questionnaires(step, db=db)
        reports.append(read_store(db))
    _assert_same(*reports)
    assert reports[0].counts["questionnaires"] > MAX_PROBLEMS_PER_KIND


def test_a_column_the_store_did_not_have_is_checked_with_the_whole_store(tmp_path, validated):
    db = tmp_path / "clinic.sqlite"
    data = synthetic_clinic(30, seed=12, gad7_share=0.0)
    import_questionnaires(data.drop(columns=[c for c in data if c.startswith("gad7_")]), db=db)
    more = synthetic_clinic(8, seed=13, gad7_share=1.0).assign(patient_id=lambda f: "G" + f["patient_id"].astype(str))
    _, _, whole = _imported(more, db, validated)
    assert len(whole) == 1  # a new column: the whole store, as before
    _assert_same(read_store(db), _from_database(db))
    assert np.isin(["gad7_total"], read_store(db).frame.columns).all()
