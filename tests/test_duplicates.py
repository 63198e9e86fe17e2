"""Row order and duplicate reconciliation (analytics.duplicates), and the episode keys' fast path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import validate_questionnaires
from analytics.duplicates import sort_order
from analytics.episodes import assign_episodes

ITEMS = [f"phq9_{k}" for k in range(1, 10)]


def test_rows_already_in_patient_and_time_order_are_not_sorted():
    pcodes = np.array([0, 0, 0, 1, 1, 2], np.int32)
    when = np.array([-3.0, 0.0, 0.0, 5.0, 20_014.0, 1e7 + 19_000])  # ties, an episode-2 key, an undated key
    assert sort_order(pcodes, when) is None


@pytest.mark.parametrize("seed", range(5))
def test_the_single_key_sort_equals_a_two_key_stable_sort(seed):
    rng = np.random.default_rng(seed)
    n = 2_000
    pcodes = rng.integers(0, 40, n).astype(np.int32)
    # study days, later episodes' blocks and undated rows' date keys, with many ties
    when = np.select([rng.random(n) < 0.7, rng.random(n) < 0.5],
                     [rng.integers(-3650, 3651, n), rng.integers(1, 5, n) * 20_000 + rng.integers(-30, 400, n)],
                     1e7 + rng.integers(-25_000, 47_000, n)).astype("float64")
    order = sort_order(pcodes, when)
    np.testing.assert_array_equal(order, np.lexsort((when, pcodes)))  # lexsort is stable: file order among ties


@pytest.mark.parametrize("seed", range(5))
def test_patients_in_blocks_sort_only_the_blocks_out_of_time_order(seed):
    """Patients in blocks (an export's usual order), a few rows out of time order within some: only those
    blocks are sorted, and the order is the full stable sort's."""
    rng = np.random.default_rng(seed)
    pcodes = np.sort(rng.integers(0, 60, 3_000)).astype(np.int32)
    when = np.sort(rng.integers(-30, 400, pcodes.size)).astype("float64")
    when = when[np.lexsort((when, pcodes))]  # in order within each patient ...
    swap = rng.choice(pcodes.size - 1, 25, replace=False)  # ... but for a few neighbours
    when[swap], when[swap + 1] = when[swap + 1], when[swap].copy()
    order = sort_order(pcodes, when)
    assert order is not None
    np.testing.assert_array_equal(order, np.lexsort((when, pcodes)))


def test_an_unsorted_file_keeps_the_first_of_each_duplicate_in_file_order():
    row = dict(zip(ITEMS, [2, 2, 2, 2, 2, 2, 2, 2, 0]))
    frame = pd.DataFrame([
        {"patient_id": "B", "day": 7, **row},
        {"patient_id": "A", "day": 7, **row},
        {"patient_id": "B", "day": 0, **row},
        {"patient_id": "A", "day": 0, **row},
        {"patient_id": "B", "day": 7, **row},  # line 6: exact copy of line 2
        {"patient_id": "A", "day": 7, **row},  # line 7: exact copy of line 3
    ])
    report = validate_questionnaires(frame)
    assert report.ok
    assert report.frame[["patient_id", "day", "line"]].astype(str).values.tolist() == [
        ["B", "0", "4"], ["B", "7", "2"], ["A", "0", "5"], ["A", "7", "3"]]
    collapsed = report.warnings[report.warnings["problem"].str.startswith("exact duplicate")]
    assert collapsed[["line", "problem"]].values.tolist() == [
        [6, "exact duplicate of line 2; collapsed into one questionnaire"],
        [7, "exact duplicate of line 3; collapsed into one questionnaire"]]


@pytest.mark.parametrize("shuffle", [False, True])
def test_duplicates_found_across_the_comparison_blocks(monkeypatch, shuffle):
    """Rows are compared a block at a time; a pair split by a block boundary is still a pair."""
    import analytics.duplicates as duplicates

    row = dict(zip(ITEMS, [1, 2, 1, 2, 1, 2, 1, 2, 1]))
    rows = [{"patient_id": f"P{k // 4}", "day": [0, 7, 7, 14][k % 4], **row} for k in range(40)]
    exact = pd.DataFrame(rows)  # every patient's day 7 twice, the same: collapsed
    rows[10] = {**rows[10], "phq9_1": 3}  # P2's second day 7 differs: refused
    conflict = pd.DataFrame(rows)
    for frame, count in ((exact, 10), (conflict, 1)):
        if shuffle:
            frame = frame.sample(frac=1, random_state=4).reset_index(drop=True)
        monkeypatch.setattr(duplicates, "_STEP", 1 << 20)
        whole = validate_questionnaires(frame)
        monkeypatch.setattr(duplicates, "_STEP", 3)
        blocks = validate_questionnaires(frame)
        pd.testing.assert_frame_equal(whole.errors, blocks.errors)
        pd.testing.assert_frame_equal(whole.warnings, blocks.warnings)
        table = whole.warnings if count == 10 else whole.errors
        assert table["problem"].str.contains("exact duplicate|different scores").sum() == count


def test_episodes_are_the_same_whatever_the_row_order():
    # keys in order take the neighbour-comparison path; shuffled ones the hashing path
    rng = np.random.default_rng(3)
    n = 3_000
    pcodes = np.sort(rng.integers(0, 200, n)).astype(np.int32)
    starts = 19_000 + rng.integers(0, 3, 200) * 120  # up to three courses per patient
    start = np.where(rng.random(n) < 0.8, starts[pcodes] + rng.integers(0, 2, n) * 150, np.nan)
    date = np.where(np.isnan(start), 19_000 + rng.integers(-40, 600, n), start + rng.integers(0, 100, n))
    order = np.lexsort((np.nan_to_num(start), pcodes))
    in_order = assign_episodes(pcodes[order], start[order], date[order])
    shuffled = rng.permutation(n)
    mixed = assign_episodes(pcodes[shuffled], start[shuffled], date[shuffled])
    back = np.empty(n, np.int64)
    back[order] = np.arange(n)
    np.testing.assert_array_equal(in_order[0][back][shuffled], mixed[0])
    np.testing.assert_array_equal(in_order[1][back][shuffled], mixed[1])


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1 << 20])
def test_block_by_block_order_checks_and_duplicate_pairs_equal_the_whole_array_ones(monkeypatch, step):
    """The in-order check and each repeat's first row, found a block of rows at a time (a million on a
    registry; here blocks of 1 to 7 rows, so runs of repeats and patients cross block edges), equal a
    second implementation on the whole arrays."""
    from analytics import duplicates

    monkeypatch.setattr(duplicates, "_STEP", step)
    rng = np.random.default_rng(step)
    for trial in range(200):
        n = int(rng.integers(2, 60))
        pcodes = np.sort(rng.integers(0, 8, n)).astype(np.int32)
        when = rng.integers(0, 4, n).astype("float64")
        if trial % 3 == 0:  # in time order within each patient
            when = when[np.lexsort((when, pcodes))]
        order = sort_order(pcodes, when)
        expected = np.lexsort((when, pcodes))
        if (expected == np.arange(n)).all():  # already in order: no sort
            assert order is None
        else:
            np.testing.assert_array_equal(order, expected)
        same = np.zeros(n, bool)
        same[1:] = rng.random(n - 1) < 0.5
        perm = None if trial % 2 else rng.permutation(n)
        starts, repeats = np.flatnonzero(~same), np.flatnonzero(same)
        first = starts[np.searchsorted(starts, repeats, side="right") - 1]
        want = (repeats, first) if perm is None else (perm[repeats], perm[first])
        got = duplicates._duplicate_pairs(same, perm)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_repeats_of_a_parquet_file_compared_on_codes_equal_the_text_comparison(tmp_path):
    """A Parquet file's text columns (categorical) and nullable integers are compared on their codes and
    buffers; a CSV of the same rows is compared as text.  The same repeats are refused or collapsed either way,
    blank against blank being equal and blank against a value not."""
    from analytics.synthetic import synthetic_clinic

    frame = synthetic_clinic(12, seed=5, dates_as_text=False)
    frame["infusion_number"] = frame["infusion_number"].astype("Int16")
    frame.loc[frame.index[:4], "site"] = None  # blank text in the first rows
    frame.loc[frame.index[:6:2], "infusion_number"] = pd.NA
    repeats = frame.iloc[[0, 1, 2, 3, 4, 5, 8]].copy()
    repeats.iloc[1, repeats.columns.get_loc("site")] = "Clinic Z"          # blank -> text: differs
    repeats.iloc[2, repeats.columns.get_loc("infusion_number")] = 7        # blank -> number: differs
    # row 4: blank infusion_number and blank site repeated as they are: an exact duplicate, collapsed
    repeats.iloc[3, repeats.columns.get_loc("infusion_number")] = pd.NA    # number -> blank: differs
    repeats.iloc[6, repeats.columns.get_loc("clinician")] = "someone else"  # text -> other text: differs
    data = pd.concat([frame, repeats], ignore_index=True)
    parquet, csv = tmp_path / "c.parquet", tmp_path / "c.csv"
    data.to_parquet(parquet, index=False)
    data.assign(assessment_date=data["assessment_date"].dt.strftime("%Y-%m-%d"),
                treatment_start_date=data["treatment_start_date"].dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    from_parquet, from_csv = validate_questionnaires(parquet), validate_questionnaires(csv)
    assert isinstance(__import__("analytics").loading.read_table(parquet).frame["site"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(from_parquet.errors, from_csv.errors)
    refused = from_parquet.errors[from_parquet.errors["problem"].str.contains("other columns different")]
    assert sorted(refused["line"]) == sorted(len(frame) + 2 + np.array([1, 2, 3, 6]))
