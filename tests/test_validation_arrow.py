"""The registry-scale path of validation: Parquet scores parsed from Arrow, a narrower frame on request.

Validating a Parquet file reads its PHQ-9/GAD-7 columns Arrow-backed and parses them there
(:func:`analytics.cell_parsing.parse_bounded`); every other source goes through the NumPy path.  These
tests run both paths on the same data, clean and with bad rows, and require the same report.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analytics import validate_questionnaires
from analytics.cell_parsing import parse_bounded
from analytics.loading import read_table
from analytics.problems import ProblemCollector
from analytics.synthetic import synthetic_clinic
from analytics.validation import _SCORE_COLUMNS

SUMMARY_COLUMNS = ("patient_id", "episode", "day", "phq9_9", "phq9_total", "complete", "infusion_number")


def _typed_clinic(n=120, seed=7) -> pd.DataFrame:
    frame = synthetic_clinic(n, seed=seed, dates_as_text=False)
    for c in frame.columns:
        if c.startswith(("phq9_", "gad7_")):
            frame[c] = frame[c].astype("Int16" if c.endswith("total") else "Int8")
    return frame


def _same_report(a, b):
    pd.testing.assert_frame_equal(a.errors, b.errors)
    pd.testing.assert_frame_equal(a.warnings, b.warnings)
    assert a.counts == b.counts
    if a.frame is None or b.frame is None:
        assert a.frame is None and b.frame is None
    else:
        pd.testing.assert_frame_equal(a.frame, b.frame)


def _numpy_path(path):
    """The same file validated through the NumPy path (nullable integer columns, as before)."""
    return validate_questionnaires(read_table(path))


@pytest.mark.parametrize("bad", [False, True])
def test_parquet_arrow_path_matches_numpy_path(tmp_path, bad):
    frame = _typed_clinic()
    if bad:
        frame.loc[3, "phq9_4"] = 7          # item out of range
        frame.loc[10, "phq9_total"] = 99    # total out of range
        frame.loc[11, "gad7_2"] = -1        # negative item
        frame.loc[12, "phq9_total"] = frame.loc[12, "phq9_total"] + 1 if pd.notna(frame.loc[12, "phq9_total"]) \
            else 5
        frame.loc[20, "assessment_date"] = pd.Timestamp("1850-01-01")  # before 1900
        frame.loc[30, "assessment_date"] = frame.loc[30, "assessment_date"] + pd.Timedelta(days=4000)  # too far
        frame.loc[40, "assessment_date"] = pd.NaT  # no time
    path = tmp_path / "clinic.parquet"
    frame.to_parquet(path, index=False, row_group_size=97)  # several row groups: chunked Arrow columns
    assert isinstance(read_table(path, arrow_integers=_SCORE_COLUMNS).frame["phq9_1"].array,
                      pd.arrays.ArrowExtensionArray)
    fast, slow = validate_questionnaires(path), _numpy_path(path)
    assert fast.ok is (not bad)
    _same_report(fast, slow)
    if bad:
        text = fast.errors.to_string()
        assert "PHQ-9 item is out of range" in text and "GAD-7 item is out of range" in text
        assert "1850-01-01" in text and "more than 3650 days" in text


def test_parquet_dates_with_a_time_of_day_take_the_timestamp_path(tmp_path):
    frame = _typed_clinic(40, seed=11)
    frame.loc[2, "assessment_date"] = frame.loc[2, "assessment_date"] + pd.Timedelta(hours=9, minutes=30)
    path = tmp_path / "clinic.parquet"
    frame.to_parquet(path, index=False)
    raw = read_table(path, arrow_integers=_SCORE_COLUMNS)
    assert str(raw.frame["assessment_date"].dtype).startswith("datetime64")  # not truncated to a date
    assert str(raw.frame["treatment_start_date"].dtype).startswith("date32")  # midnights: read as dates
    _same_report(validate_questionnaires(path), _numpy_path(path))


@pytest.mark.parametrize("arrow_type", [pa.int8(), pa.int16(), pa.int64(), pa.uint8()])
def test_parse_bounded_arrow_and_numpy_agree(arrow_type):
    values = [0, 3, None, 4, 1, None, 2] if arrow_type == pa.uint8() else [0, 3, None, 4, -2, None, 2]
    chunked = pa.chunked_array([pa.array(values[:3], arrow_type), pa.array(values[3:], arrow_type)])
    arrow_col = pd.Series(pd.arrays.ArrowExtensionArray(chunked))
    numpy_col = pd.Series(pd.array(values, dtype="Int64"))
    results = []
    for col in (arrow_col, numpy_col):
        raw = read_table.__globals__["raw_table_from_frame"](pd.DataFrame({"phq9_1": col}))
        err = ProblemCollector(raw)
        out = parse_bounded(col, "phq9_1", 0, 3, err, "not whole", "out of range")
        results.append((out, err.table()))
    (a, ea), (b, eb) = results
    assert a.dtype == b.dtype == np.int8 and a.flags.writeable
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(ea, eb)
    expected_bad = [4] + ([-2] if arrow_type != pa.uint8() else [])
    assert sorted(int(v) for v in ea["value"]) == sorted(expected_bad)


def test_narrow_frame_keeps_every_check(tmp_path):
    frame = _typed_clinic(80, seed=3)
    path = tmp_path / "clinic.parquet"
    frame.to_parquet(path, index=False)
    full = validate_questionnaires(path)
    narrow = validate_questionnaires(path, columns=SUMMARY_COLUMNS)
    assert full.ok and narrow.ok
    assert list(narrow.frame.columns) == [c for c in full.frame.columns if c in SUMMARY_COLUMNS]
    pd.testing.assert_frame_equal(narrow.frame, full.frame[list(narrow.frame.columns)])
    pd.testing.assert_frame_equal(narrow.warnings, full.warnings)
    assert narrow.counts == full.counts
    # a column left out of the frame is still checked: an identifying age refuses the file
    frame["age_band"] = frame["age_band"].astype(object)
    frame.loc[5, "age_band"] = "95+"
    frame.to_parquet(path, index=False)
    refused = validate_questionnaires(path, columns=SUMMARY_COLUMNS)
    assert not refused.ok and (refused.errors["column"] == "age_band").any()
    _same_report(refused, validate_questionnaires(path))


def test_third_episode_sorts_after_the_first(tmp_path):
    """Time keys of episode 3 and later used to wrap around in 16-bit arithmetic, sorting a third course
    before the first when the rows were not already in order."""
    starts = ["2024-01-01", "2024-06-01", "2025-01-01"]
    rows = []
    for k, start in enumerate(starts):
        s = pd.Timestamp(start)
        for d in (0, 14, 42):
            rows.append({"patient_id": "P1", "assessment_date": (s + pd.Timedelta(days=d)).date().isoformat(),
                         "treatment_start_date": start, **{f"phq9_{i}": 2 for i in range(1, 10)}})
    frame = pd.DataFrame(rows).iloc[::-1].reset_index(drop=True)  # newest first: a sort is needed
    report = validate_questionnaires(frame)
    assert report.ok, report.errors
    out = report.frame
    assert list(out["episode"]) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert list(out["day"]) == [0, 14, 42] * 3


def test_date32_dates_read_from_buffers_match_timestamps():
    """Dates read as Arrow date32 (chunked, sliced, with blanks) give the same days and masks as the same
    dates as timestamps, in float64 and in float32."""
    from analytics.cell_parsing import parse_date

    stamps = pd.Series(pd.to_datetime(["2024-03-01", None, "1969-12-31", "1850-01-01", "2024-03-05", None,
                                       "2101-01-01", "2020-02-29", "1900-01-01"]))
    days32 = pa.array(stamps.to_numpy(dtype="datetime64[ms]"), mask=stamps.isna().to_numpy()).cast(pa.date32())
    chunked = pa.chunked_array([days32.slice(0, 1), days32.slice(1, 4), days32.slice(5)])  # offsets into one buffer
    arrow = pd.Series(pd.arrays.ArrowExtensionArray(chunked))
    expected = parse_date(stamps)
    for dtype in (np.float64, np.float32):
        got = parse_date(arrow, dtype=dtype)
        assert got[0].dtype == dtype
        np.testing.assert_array_equal(got[0], expected[0].astype(dtype))
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_array_equal(got[2], expected[2])
    assert expected[1].tolist() == [False, True, False, False, False, True, False, False, False]
    assert expected[2].tolist() == [False, False, False, True, False, False, True, False, False]
