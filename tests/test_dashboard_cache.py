"""The dashboard's disk cache of the store's outcome tables: read back exactly, never outliving the data it came from.

A new server process (or a cleared cache) reads the whole store's outcome tables from files beside the store's
snapshot instead of computing them; the files are keyed by the store state the frame was read in. These tests
change the store (a second import) and damage the files, and check the figures are always the engine's on the
store's current contents.
"""
from __future__ import annotations

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import OutcomeDefinitions, clinic_summary, patient_outcomes
from analytics.store import import_questionnaires, read_store
from analytics.store_snapshot import snapshot_directory
from conftest import ROOT, SAMPLE


def overview(monkeypatch, db):
    """The Overview as a new process sees it: every in-memory cache cleared first."""
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="source").value == "store"
    return at


def shown(at) -> pd.DataFrame:
    return at.dataframe[0].value.set_index("Outcome")[["n", "Events", "Rate"]]


def expected(db) -> pd.DataFrame:
    s = clinic_summary(read_store(db).frame)
    return pd.DataFrame({"n": [s.response.n, s.remission.n], "Events": [s.response.events, s.remission.events]},
                        index=["Response", "Remission"])


def cache_files(db) -> list:
    return sorted(snapshot_directory(db).glob("*.dashboard-v*/*.parquet"))


@pytest.fixture()
def halves(tmp_path):
    """The sample clinic split by patient: two files, so a second import changes the store."""
    sample = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    ids = sorted(sample["patient_id"].unique())
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    sample[sample["patient_id"].isin(ids[: len(ids) // 2])].to_csv(first, index=False)
    sample[~sample["patient_id"].isin(ids[: len(ids) // 2])].to_csv(second, index=False)
    return first, second


def test_outcome_tables_are_kept_on_disk_and_read_back_exactly(monkeypatch, tmp_path, halves):
    db = tmp_path / "store.sqlite"
    import_questionnaires(halves[0], db=db)
    at = overview(monkeypatch, db)
    files = cache_files(db)
    assert files, "the Overview's outcome tables were not kept"
    computed = shown(at)
    # a new process: the tables come from the files, the figures are the same and the engine's
    again = overview(monkeypatch, db)
    pd.testing.assert_frame_equal(shown(again), computed)
    pd.testing.assert_frame_equal(computed.loc[["Response", "Remission"], ["n", "Events"]], expected(db), check_names=False,
                                  check_dtype=False)
    # each file is exactly a table the engine computes from the store (dtypes included)
    from app_pages.common import _disk_cached, outcome_cache_folder

    report = read_store(db)
    folder = outcome_cache_folder("store", db, report)
    assert folder is not None and all(str(f).startswith(folder) for f in files)
    d = OutcomeDefinitions()
    defs = (d.week, d.window_days, d.min_baseline, d.analysis, d.episodes)
    from_disk = _disk_cached(("store", folder), f"outcomes|{defs}", lambda: pytest.fail("not read from disk"))
    pd.testing.assert_frame_equal(from_disk, patient_outcomes(report.frame, definitions=d, attributes=False))


def test_a_new_import_is_never_shown_with_the_old_tables(monkeypatch, tmp_path, halves):
    db = tmp_path / "store.sqlite"
    import_questionnaires(halves[0], db=db)
    before = shown(overview(monkeypatch, db))
    old_files = cache_files(db)
    import_questionnaires(halves[1], db=db)  # a new store state
    after = shown(overview(monkeypatch, db))
    pd.testing.assert_frame_equal(after.loc[["Response", "Remission"], ["n", "Events"]], expected(db), check_names=False,
                                  check_dtype=False)
    assert after.loc["Response", "n"] > before.loc["Response", "n"]
    new_files = cache_files(db)
    assert new_files and not set(new_files) & set(old_files)  # new files under the new state's key


def test_damaged_cache_files_are_computed_again(monkeypatch, tmp_path, halves):
    db = tmp_path / "store.sqlite"
    import_questionnaires(halves[0], db=db)
    good = shown(overview(monkeypatch, db))
    files = cache_files(db)
    for f in files:
        f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])  # cut in half: no longer a Parquet file
    pd.testing.assert_frame_equal(shown(overview(monkeypatch, db)), good)
    # written anew, whole
    import pyarrow.parquet as pq
    for f in cache_files(db):
        pq.read_table(f)


def test_a_file_source_is_not_cached_on_disk(monkeypatch, tmp_path):
    from app_pages.common import outcome_cache_folder
    from analytics import validate_questionnaires

    assert outcome_cache_folder("file", SAMPLE, validate_questionnaires(SAMPLE)) is None
    assert not list(tmp_path.iterdir())


def test_an_import_prepares_the_first_visits_tables_and_never_leaves_old_ones(monkeypatch, tmp_path, halves):
    # the CLI import computes the Overview's outcome tables once it has committed: the first visitor after it
    # computes none (any outcome computation in the dashboard fails this test), and sees the new store's figures
    import app_pages.common
    from cli_runner import run_cli

    db = tmp_path / "store.sqlite"
    assert run_cli("import", halves[0], "--db", db).returncode == 0
    prepared = cache_files(db)
    assert len(prepared) == 5  # three analysis modes, every episode, the attribute columns

    def computed(*args, **kwargs):
        raise AssertionError("the dashboard computed an outcome table the import should have prepared")

    monkeypatch.setattr(app_pages.common, "patient_outcomes", computed)
    monkeypatch.setattr(app_pages.common, "unit_attributes", computed)
    first = shown(overview(monkeypatch, db))
    pd.testing.assert_frame_equal(first.loc[["Response", "Remission"], ["n", "Events"]], expected(db),
                                  check_names=False, check_dtype=False)
    assert run_cli("import", halves[1], "--db", db).returncode == 0  # a new store state, prepared too
    again = shown(overview(monkeypatch, db))
    pd.testing.assert_frame_equal(again.loc[["Response", "Remission"], ["n", "Events"]], expected(db),
                                  check_names=False, check_dtype=False)
    assert again.loc["Response", "n"] > first.loc["Response", "n"]
    assert not set(cache_files(db)) & set(prepared)
    # a file that holds nothing new changes nothing and prepares nothing new
    before = cache_files(db)
    assert run_cli("import", halves[1], "--db", db).returncode == 0
    assert cache_files(db) == before
