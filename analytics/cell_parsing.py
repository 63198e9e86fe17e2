"""Parsing cells: text, whole numbers and dates, vectorised over a column.

Text cells are factorised first: each distinct value is parsed once and mapped
back by its code.  A 20-million-row file has a few thousand distinct dates and
four distinct item scores, so this is what keeps validation fast and small.
Typed columns (Parquet) skip the text round trip.  Each parser returns arrays
plus blank/refused masks; what a refused cell means is said by the caller.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .problems import ProblemCollector

__all__ = ["ISO_DATE", "text_codes", "parse_integer", "parse_date", "parse_bounded", "checked_date", "epoch_day"]

ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
_EARLIEST, _LATEST = "1900-01-01", "2100-12-31"


def epoch_day(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return int(np.datetime64(iso, "D").astype("int64"))


def text_codes(col: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes into the column's distinct stripped values; -1 where the cell is blank."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, cats = col.cat.codes.to_numpy(), col.cat.categories
    else:
        codes, cats = pd.factorize(col)
    text = pd.Series(np.asarray(cats, dtype=object)).astype("str").str.strip()
    if isinstance(col.dtype, pd.CategoricalDtype) and (text != "").all() and \
            (text.to_numpy() == np.asarray(cats, dtype=object)).all():
        # already clean text: keep the codes, and the categories themselves when they are text (their
        # uniqueness is then known, not checked again for a million patient ids)
        return codes, cats if cats.dtype == "str" else pd.Index(text, dtype="str")
    new_codes, uniques = pd.factorize(text.mask(text == ""))
    return np.append(new_codes, -1).astype(np.int32)[codes], pd.Index(uniques, dtype="str")


def _is_text(col: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))


def parse_integer(col: pd.Series):
    """Numbers as float64 (NaN = blank) plus masks for blank and not-a-whole-number."""
    if _is_text(col):
        codes, uniques = text_codes(col)
        parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype="float64")
        vals = np.append(parsed, np.nan)[codes]
        blank = codes < 0
    else:
        vals = col.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        blank = np.isnan(vals)
    with np.errstate(invalid="ignore"):
        bad = ~blank & (~np.isfinite(vals) | (vals != np.floor(vals)))
    return vals, blank, bad


def parse_date(col: pd.Series, *, dtype=np.float64):
    """Dates as days since 1970-01-01 (``dtype``, float64 by default; NaN = blank) plus blank/bad masks.
    (float32 holds every whole day from 1900 to 2100 exactly, in half the memory.)"""
    if isinstance(col.array, pd.arrays.ArrowExtensionArray) and str(col.dtype).startswith("date32"):
        # Parquet dates read as date32: already days since 1970, read from the Arrow buffers (Arrow's own
        # conversion of a column with blanks goes through float64 cell by cell)
        values, blank = _date32_days(col.array.__arrow_array__())
        days = values.astype(dtype)
        del values
        days[blank] = np.nan
        bad = np.zeros(len(col), bool)
    elif pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_localize(None)
        stamps = col.to_numpy()
        blank = np.isnat(stamps)
        unit, _ = np.datetime_data(stamps.dtype)
        per_day = np.timedelta64(1, "D") // np.timedelta64(1, unit) if unit != "D" else 1
        days = (stamps.view("int64") // per_day).astype("float64")  # floor: days before 1970 stay whole days
        days[blank] = np.nan
        bad = np.zeros(len(col), bool)
    else:
        codes, uniques = text_codes(col)
        text = pd.Series(uniques, dtype="str")
        shaped = text.str.match(ISO_DATE).to_numpy(dtype=bool, na_value=False)
        parsed = pd.to_datetime(text.str.slice(0, 10).where(shaped), format="%Y-%m-%d", errors="coerce")
        u_days = np.full(len(text), np.nan)
        ok = parsed.notna().to_numpy()
        u_days[ok] = parsed[ok].to_numpy(dtype="datetime64[D]").astype("int64")
        days = np.append(u_days, np.nan)[codes]
        blank = codes < 0
        bad = ~blank & np.isnan(days)
    with np.errstate(invalid="ignore"):
        bad |= (days < epoch_day(_EARLIEST)) | (days > epoch_day(_LATEST))
    return days.astype(dtype, copy=False), blank, bad


def _date32_days(chunked) -> tuple[np.ndarray, np.ndarray]:
    """An Arrow ``date32`` column's values (int32 days; meaningless under a blank) and its blank mask."""
    values, blanks = [], []
    for chunk in chunked.chunks:
        n, off = len(chunk), chunk.offset
        values.append(np.frombuffer(chunk.buffers()[1], dtype=np.int32, count=n + off)[off:])
        if chunk.null_count:
            bits = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
            blanks.append(~np.unpackbits(bits, count=n + off, bitorder="little")[off:].astype(bool))
        else:
            blanks.append(np.zeros(n, bool))
    if not values:
        return np.zeros(0, np.int32), np.zeros(0, bool)
    return np.concatenate(values), np.concatenate(blanks)


def parse_bounded(col, name, lo, hi, err: ProblemCollector, not_whole, out_of_range, dtype=np.int8) -> np.ndarray:
    """Whole numbers in [lo, hi] as ``dtype`` with -1 for blank or refused cells (refusals go to ``err``)."""
    if isinstance(col.array, pd.arrays.ArrowExtensionArray) and pd.api.types.is_integer_dtype(col):
        return _bounded_from_arrow(col.array.__arrow_array__(), name, lo, hi, err, out_of_range, dtype)
    if pd.api.types.is_integer_dtype(col):  # typed (Parquet): no text or float round trip
        vals, blank = _integers_and_blanks(col)
        inside = _bounded_numpy(vals, blank, lo, hi, dtype)
        if inside is not None:  # every known value inside [lo, hi]: nothing to report
            return inside
        outside = (vals < lo) | (vals > hi)
        outside &= ~blank  # the values under a blank are meaningless
        err.add(outside, name, out_of_range)
        outside |= blank
        return np.where(outside, -1, vals).astype(dtype, copy=False)
    vals, blank, bad = parse_integer(col)
    with np.errstate(invalid="ignore"):
        outside = ~bad & ~blank & ((vals < lo) | (vals > hi))
    err.add(bad, name, not_whole)
    err.add(outside, name, out_of_range)
    ok = ~(blank | bad | outside)
    return np.where(ok, np.nan_to_num(vals), -1).astype(dtype)


def _bounded_from_arrow(chunked, name, lo, hi, err: ProblemCollector, out_of_range, dtype) -> np.ndarray:
    """:func:`parse_bounded` of an Arrow integer column (Parquet read Arrow-backed): the same checks on the
    Arrow buffers, with one pass for the range (``min_max``) and a per-cell mask only when it finds a
    value outside.  Blank cells become -1 without a float or mask copy."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _bounded_values(chunked, lo, hi, dtype)
    if values is not None:  # every known value inside [lo, hi]: nothing to report
        return values
    n = len(chunked)
    bounds = pc.min_max(chunked).as_py() if n else {"min": None, "max": None}
    inside = bounds["min"] is None or (bounds["min"] >= lo and bounds["max"] <= hi)
    if inside:
        outside = None
    else:
        outside = pc.fill_null(pc.or_(pc.less(chunked, lo), pc.greater(chunked, hi)), False)
        outside = np.asarray(outside.combine_chunks() if outside.num_chunks != 1 else outside.chunk(0),
                             dtype=bool) if n else np.zeros(0, bool)
        err.add(outside, name, out_of_range)
    if chunked.null_count == 0 and inside and np.dtype(chunked.type.to_pandas_dtype()) == np.dtype(dtype):
        values = _arrow_values(chunked)
    else:
        fill = pa.scalar(-1, type=chunked.type) if not pa.types.is_unsigned_integer(chunked.type) else None
        if fill is None:  # an unsigned column: no -1 in its type, so widen first (values are checked above)
            chunked = chunked.cast(pa.int64())
            fill = pa.scalar(-1, type=pa.int64())
        values = _arrow_values(pc.fill_null(chunked, fill))
    if outside is not None:
        values = np.where(outside, -1, values)
    values = values.astype(dtype, copy=False)
    return values if values.flags.writeable else values.copy()  # never a read-only view of Arrow memory


_BOUNDED_BLOCK = 1 << 16  # rows at a time: a block's values and blank mask stay in the CPU's cache


def _bounded_values(chunked, lo, hi, dtype):
    """The values of an Arrow integer column as ``dtype`` with -1 for a blank, when every known value is in
    [lo, hi]; else None (the caller then finds and reports the cells outside).

    One pass over the Arrow buffers, a block of rows at a time: each block is copied, its blanks set to ``lo``
    for the range (so they count as inside), then to -1.  Several times less memory traffic than Arrow's
    ``min_max``, ``fill_null`` and a concatenation, each over the whole column."""
    source = np.dtype(chunked.type.to_pandas_dtype())
    out = np.empty(len(chunked), dtype)
    low, high, at = lo, hi, 0
    for chunk in chunked.chunks:
        n, off = len(chunk), chunk.offset
        buffers = chunk.buffers()
        if n == 0:
            continue
        if buffers[1] is None or chunk.null_count == n:
            out[at:at + n] = -1
            at += n
            continue
        vals = np.frombuffer(buffers[1], dtype=source, count=n + off)[off:]
        bits = np.frombuffer(buffers[0], dtype=np.uint8) if chunk.null_count else None
        for a in range(0, n, _BOUNDED_BLOCK):  # blocks of rows, not rows
            b = min(n, a + _BOUNDED_BLOCK)
            # the file's own type: a value too wide for ``dtype`` is seen as it is
            known = None
            if bits is None:
                block = vals[a:b].copy()
            else:
                s = off + a  # the block's first bit in the validity bitmap
                known = np.unpackbits(bits[s >> 3:(off + b + 7) >> 3], count=b - a + (s & 7),
                                      bitorder="little")[s & 7:]  # 1 known, 0 blank
                # arithmetic, not a masked copy: blanks are often a third to a half of a column, where a
                # per-cell branch is mispredicted half the time (several times slower)
                block = np.empty(b - a, source)
                np.multiply(vals[a:b], known, out=block, casting="unsafe")  # blanks 0 ...
                if lo:
                    np.add(block, (1 - known) * lo, out=block, casting="unsafe")  # ... then ``lo``: inside
            low, high = min(low, block.min()), max(high, block.max())
            if low < lo or high > hi:
                return None
            dst = out[at + a:at + b]
            np.copyto(dst, block, casting="unsafe")  # inside [lo, hi]: fits ``dtype``
            if known is not None:  # blanks from ``lo`` to -1
                np.add(dst, (known.view(np.int8) - np.int8(1)) * np.int8(lo + 1), out=dst, casting="unsafe")
        at += n
    return out


def _bounded_numpy(vals: np.ndarray, blank: np.ndarray, lo, hi, dtype):
    """:func:`_bounded_values` of a NumPy column and its blank mask (a nullable integer column's own arrays):
    a block of rows at a time, no mask or copy the size of the column; None when a known value is outside."""
    out = np.empty(vals.size, dtype)
    low, high = lo, hi
    for a in range(0, vals.size, _BOUNDED_BLOCK):  # blocks of rows, not rows
        b = min(vals.size, a + _BOUNDED_BLOCK)
        gap = blank[a:b]
        block = np.where(gap, lo, vals[a:b])  # the column's own type (or wider): no value wraps
        low, high = min(low, block.min()), max(high, block.max())
        if low < lo or high > hi:
            return None
        np.copyto(out[a:b], np.where(gap, -1, block), casting="unsafe")  # inside [lo, hi]: fits ``dtype``
    return out


def _arrow_values(chunked) -> np.ndarray:
    """A null-free Arrow integer column as one NumPy array (a view when it is one chunk)."""
    if chunked.num_chunks == 1:
        return chunked.chunk(0).to_numpy(zero_copy_only=False)
    if chunked.num_chunks == 0:
        return np.zeros(0, chunked.type.to_pandas_dtype())
    return np.concatenate([c.to_numpy(zero_copy_only=False) for c in chunked.chunks])


def _integers_and_blanks(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values and blank mask of an integer column, without copies for a nullable one (its own buffers)."""
    arr = col.array
    if isinstance(arr, pd.arrays.IntegerArray):
        return arr._data, arr._mask  # read only here; pandas' masked arrays have kept these two since 1.0
    return col.to_numpy(), np.zeros(len(col), bool)


def checked_date(df: pd.DataFrame, col: str, err: ProblemCollector):
    """Parsed dates of ``col`` as days since 1970 (float32: whole days 1900-2100 are exact; NaN where blank
    or refused) and the blank mask; all NaN when absent."""
    if col not in df:
        return np.full(len(df), np.nan, dtype=np.float32), np.ones(len(df), bool)
    days, blank, bad = parse_date(df[col], dtype=np.float32)
    err.add(bad, col, f"{col} is not a valid date; allowed: an ISO date YYYY-MM-DD between 1900 and 2100")
    days[bad] = np.nan
    return days, blank
