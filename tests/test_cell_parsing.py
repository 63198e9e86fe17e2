"""Cell parsing of Arrow integer columns block by block, against the NumPy path on the same values.

:func:`analytics.cell_parsing.parse_bounded` reads a registry's score columns from their Arrow buffers a block
of rows at a time (:data:`analytics.cell_parsing._BOUNDED_BLOCK`); block edges, chunk edges, sliced arrays (a
validity bitmap that starts mid-byte), all-blank chunks and values too wide for the result type are where that
can go wrong, so each is here, with the NumPy path (nullable integers) as the second implementation.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analytics import cell_parsing
from analytics.cell_parsing import parse_bounded
from analytics.loading import raw_table_from_frame
from analytics.problems import ProblemCollector


def _both_paths(chunked, lo, hi, dtype):
    """parse_bounded of the Arrow column and of the same values as nullable integers: outputs and problems."""
    values = [None if v is None else int(v) for v in chunked.to_pylist()]
    arrow_col = pd.Series(pd.arrays.ArrowExtensionArray(chunked))
    numpy_col = pd.Series(pd.array(values, dtype="Int64"))
    out = []
    for col in (arrow_col, numpy_col):
        err = ProblemCollector(raw_table_from_frame(pd.DataFrame({"phq9_total": col})))
        parsed = parse_bounded(col, "phq9_total", lo, hi, err, "not whole", "out of range", dtype=dtype)
        out.append((parsed, err.table()))
    return out


def _random_chunks(rng, arrow_type, sizes, lo, hi, blank_share):
    chunks = []
    for size in sizes:
        values = rng.integers(lo, hi + 1, size)
        blank = rng.random(size) < blank_share
        chunks.append(pa.array(values, arrow_type, mask=blank))
    return chunks


@pytest.mark.parametrize("arrow_type,dtype", [(pa.int8(), np.int8), (pa.int16(), np.int8), (pa.int16(), np.int16),
                                              (pa.uint8(), np.int8), (pa.int64(), np.int16)])
@pytest.mark.parametrize("blank_share", [0.0, 0.2, 1.0])
def test_blocks_chunks_and_slices_match_the_numpy_path(monkeypatch, arrow_type, dtype, blank_share):
    monkeypatch.setattr(cell_parsing, "_BOUNDED_BLOCK", 24)  # many blocks, edges inside bitmap bytes
    rng = np.random.default_rng(15)
    chunks = _random_chunks(rng, arrow_type, [0, 1, 23, 24, 25, 100, 7], 0, 27, blank_share)
    chunks.append(pa.array([None] * 9, arrow_type))  # an all-blank chunk
    sliced = pa.chunked_array(chunks).slice(5, 160)  # the first chunk's bitmap starts mid-byte
    for column in (pa.chunked_array(chunks), sliced, pa.chunked_array([pa.concat_arrays(chunks).slice(3)])):
        (a, ea), (b, eb) = _both_paths(column, 0, 27, dtype)
        assert a.dtype == b.dtype == dtype and a.flags.writeable
        np.testing.assert_array_equal(a, b)
        pd.testing.assert_frame_equal(ea, eb)
        assert ea.empty


@pytest.mark.parametrize("bad,where", [(28, 0), (-1, 30), (256, 49), (300, 50), (127, 99)])
def test_a_value_outside_is_reported_in_any_block(monkeypatch, bad, where):
    """A value past the range, including one that a narrower result type would wrap into it (256 as int8 is 0)."""
    monkeypatch.setattr(cell_parsing, "_BOUNDED_BLOCK", 16)
    rng = np.random.default_rng(7)
    values = [None if v < 0 else int(v) for v in rng.integers(-3, 28, 100)]
    values[where] = bad
    column = pa.chunked_array([pa.array(values[:40], pa.int16()), pa.array(values[40:], pa.int16())])
    (a, ea), (b, eb) = _both_paths(column, 0, 27, np.int8)
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(ea, eb)
    assert ea["value"].tolist() == [str(bad)] and ea["line"].tolist() == [where + 2]
    assert a[where] == -1


def test_an_empty_column():
    (a, ea), (b, eb) = _both_paths(pa.chunked_array([], pa.int8()), 0, 3, np.int8)
    assert a.size == b.size == 0 and a.dtype == np.int8 and ea.empty and eb.empty


@pytest.mark.parametrize("lo,hi", [(1, 10_000), (5, 9)])
def test_a_lower_bound_above_zero(monkeypatch, lo, hi):
    """Blanks stand in for ``lo`` while the range is checked, then become -1 (infusion numbers start at 1)."""
    monkeypatch.setattr(cell_parsing, "_BOUNDED_BLOCK", 16)
    rng = np.random.default_rng(3)
    chunks = _random_chunks(rng, pa.int16(), [40, 33], lo, min(hi, 200), 0.4)
    (a, ea), (b, eb) = _both_paths(pa.chunked_array(chunks), lo, hi, np.int16)
    np.testing.assert_array_equal(a, b)
    assert ea.empty and eb.empty and (a == -1).any() and a[a >= 0].min() >= lo
    low = pa.chunked_array(chunks + [pa.array([lo - 1, None], pa.int16())])
    (a, ea), (b, eb) = _both_paths(low, lo, hi, np.int16)
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(ea, eb)
    assert ea["value"].tolist() == [str(lo - 1)]


@pytest.mark.parametrize("bad", [None, 0, 10_001, 70_000])
def test_nullable_integers_in_blocks_match_the_whole_column_check(monkeypatch, bad):
    """A nullable integer column (Parquet read into NumPy) is parsed a block at a time; the result and the cells
    reported are those of the whole-column check (values as text, compared cell by cell)."""
    monkeypatch.setattr(cell_parsing, "_BOUNDED_BLOCK", 16)
    rng = np.random.default_rng(9)
    values = [None if r < 0.3 else int(v) for r, v in zip(rng.random(101), rng.integers(1, 10_001, 101))]
    if bad is not None:
        values[77] = bad
    typed = pd.Series(pd.array(values, dtype="Int64" if bad == 70_000 else "Int16" if bad != 70_000 else None))
    text = pd.Series(["" if v is None else str(v) for v in values], dtype=object)
    out = []
    for col in (typed, text):
        err = ProblemCollector(raw_table_from_frame(pd.DataFrame({"infusion_number": col})))
        parsed = parse_bounded(col, "infusion_number", 1, 10_000, err, "not whole", "out of range", dtype=np.int16)
        out.append((parsed, err.table()))
    (a, ea), (b, eb) = out
    assert a.dtype == np.int16 and a.flags.writeable
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(ea, eb)
    assert ea["line"].tolist() == ([] if bad is None else [79])
