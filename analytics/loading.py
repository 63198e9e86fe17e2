"""Reading questionnaire files (CSV, XLSX, Parquet) into a raw table.

Reading is kept apart from validation: this module only turns bytes into a
frame of cells with the file line of every row, and refuses files it cannot
read.  What the cells mean is checked in :mod:`analytics.validation`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS, UnreadableFileError

__all__ = ["RawTable", "SUPPORTED_SUFFIXES", "MAX_FILE_BYTES", "MAX_COLUMNS", "MAX_ROWS", "read_table",
           "normalise_header", "raw_table_from_frame"]

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".parquet")
# Limits that keep a mistaken or hostile file from exhausting the machine; each is checked before the
# expensive parse, and the message says what to do.
MAX_FILE_BYTES = 2 * 1024 ** 3
MAX_COLUMNS = 1_000
MAX_ROWS = 50_000_000


@dataclass(frozen=True)
class RawTable:
    """Cells of a file as read, before validation.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns renamed to their normalised header (trimmed, lower case);
        CSV and XLSX cells are text, Parquet keeps its types.  Blank rows removed.
    lines : numpy.ndarray
        File line of each row of ``frame`` (header = line 1).
    headers : dict
        Normalised header -> header as written in the file.
    source : str
        File name used in messages.
    sha256 : str
        SHA-256 of the file's bytes ("" for an in-memory frame).
    problems : pandas.DataFrame
        Header problems found while reading (duplicate column names).
    blank_rows : int
        Number of empty rows skipped.
    notes : tuple of str
        What a reader left out and why (REDCap rows of other instruments, ...).
    """

    frame: pd.DataFrame
    lines: np.ndarray
    headers: dict
    source: str
    sha256: str = ""
    file_format: str = "frame"
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    blank_rows: int = 0
    notes: tuple = ()


def normalise_header(name) -> str:
    """Header as matched: trimmed and lower case (``" PHQ9_1 "`` -> ``"phq9_1"``)."""
    return str(name).strip().lower()


def read_table(path) -> RawTable:
    """Read a ``.csv``, ``.xlsx`` or ``.parquet`` questionnaire file.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    RawTable

    Raises
    ------
    UnreadableFileError
        Missing file, unsupported type, empty file, undecodable text,
        malformed CSV, corrupt spreadsheet or Parquet file.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise UnreadableFileError(f"{path}: no such file. Check the path and try again.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFileError(
            f"{name}: files of type '{suffix or '(none)'}' are not read; "
            f"save the data as {', '.join(SUPPORTED_SUFFIXES)}."
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UnreadableFileError(
            f"{name}: the file is {size / 1024 ** 3:.1f} GiB; files up to {MAX_FILE_BYTES / 1024 ** 3:.0f} GiB are read. "
            "Split it (for example by year) and import the parts.", source=name)
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFileError(f"{name}: the file is empty; it needs a header row and at least one data row.")
    digest = hashlib.sha256(data).hexdigest()
    if suffix == ".csv":
        frame, lines, blank = _read_csv(data, name)
    elif suffix == ".xlsx":
        frame, lines, blank = _read_xlsx(data, name)
    else:
        frame, lines, blank = _read_parquet(data, name)
    return _finish(frame, lines, name, digest, suffix.lstrip("."), blank)


def raw_table_from_frame(frame: pd.DataFrame, *, source: str = "frame") -> RawTable:
    """Wrap an in-memory frame as if it were a file (row i is line i + 2)."""
    frame = frame.reset_index(drop=True)
    return _finish(frame, np.arange(2, len(frame) + 2), source, "", "frame", 0)


def _finish(frame, lines, name, digest, fmt, blank) -> RawTable:
    original = [str(c) for c in frame.columns]
    normalised = [normalise_header(c) for c in original]
    problems = []
    seen: dict[str, str] = {}
    for orig, norm in zip(original, normalised):
        if norm == "" or norm.startswith("unnamed:"):
            problems.append((1, orig, "", "a column has no header; give every column a name or delete it"))
        elif norm in seen:
            problems.append(
                (1, orig, "", f"the column name is used twice (also '{seen[norm]}'); names must be unique, ignoring case and spaces")
            )
        else:
            seen[norm] = orig
    frame = frame.set_axis(normalised, axis=1)  # a new frame sharing the data (copy-on-write)
    if problems:
        # keep the first of each duplicated name so later checks still run
        frame = frame.loc[:, ~pd.Index(normalised).duplicated()]
    headers = {n: o for o, n in zip(original, normalised) if n in seen and seen[n] == o}
    return RawTable(
        frame=frame.reset_index(drop=True),
        lines=np.asarray(lines, dtype=np.int64),
        headers=headers,
        source=name,
        sha256=digest,
        file_format=fmt,
        problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
        blank_rows=int(blank),
    )


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFileError(
            f"{name}: this is not a text CSV file (it looks binary: a spreadsheet or other file "
            "renamed to .csv?). Export it as CSV, or load the .xlsx itself."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableFileError(
            f"{name}: line {line} is not valid UTF-8 text (byte {exc.start}). "
            "Save the file as 'CSV UTF-8' and load it again.", line=line, source=name
        ) from None


_PARSER_LINE = re.compile(r"line (\d+)")


def _check_shape(name: str, columns: int, rows: int) -> None:
    if columns > MAX_COLUMNS:
        raise UnreadableFileError(
            f"{name}: the file has {columns:,} columns; at most {MAX_COLUMNS:,} are read. A questionnaire file needs "
            "about 30; check that it is the right file (not a wide report or a transposed table).", line=1,
            source=name)
    if rows > MAX_ROWS:
        raise UnreadableFileError(
            f"{name}: the file has about {rows:,} rows; at most {MAX_ROWS:,} are read at once. Split it and import "
            "the parts.", source=name)


def _read_csv(data: bytes, name: str):
    text = _decode(data, name)
    first_line = text.split("\n", 1)[0]
    _check_shape(name, first_line.count(",") + 1, text.count("\n"))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # index_col=False: never let a row with one extra cell turn the first column into an index
            frame = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                quoting=csv.QUOTE_MINIMAL,
                index_col=False,
            )
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
            _raise_ragged(text, name)
    except pd.errors.EmptyDataError:
        raise UnreadableFileError(f"{name}: the file has no header row; the first line must name the columns.") from None
    except pd.errors.ParserError as exc:
        m = _PARSER_LINE.search(str(exc))
        where = f"line {m.group(1)}" if m else "a line"
        raise UnreadableFileError(
            f"{name}: {where} does not have the same number of cells as the header "
            f"({exc}). Check for extra commas or unclosed quotes.", line=int(m.group(1)) if m else None, source=name
        ) from None
    # Quoted cells may hold line breaks; shift later rows' line numbers by them.
    header_breaks = sum(str(c).count("\n") for c in frame.columns)
    if "\n" in text and len(frame):
        breaks = np.zeros(len(frame), dtype=np.int64)
        for col in frame.columns:
            breaks += frame[col].str.count("\n").to_numpy(dtype=np.int64)
        offset = np.concatenate(([0], np.cumsum(breaks)[:-1]))
    else:
        offset = 0
    lines = np.arange(2, len(frame) + 2) + header_breaks + offset
    blank = _blank_rows(frame)
    return frame.loc[~blank], lines[~blank], int(blank.sum())


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty text (skipped like blank lines, and counted)."""
    if not len(frame.columns):
        return np.zeros(len(frame), bool)
    return frame.apply(lambda c: c.str.strip() == "").all(axis=1).to_numpy()


def _raise_ragged(text: str, name: str):
    """Name the first line with more cells than the header (error path only, so a plain loop)."""
    reader = csv.reader(io.StringIO(text))
    width = len(next(reader, []))
    for row in reader:
        if len(row) > width:
            raise UnreadableFileError(
                f"{name}: line {reader.line_num} has {len(row)} cells but the header names {width} columns; "
                "remove the extra cells (often a stray comma) or name the column.", line=reader.line_num,
                source=name)
    raise UnreadableFileError(f"{name}: a line has more cells than the header names columns; check for stray commas.",
                              source=name)


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def _read_xlsx(data: bytes, name: str):
    try:
        frame = pd.read_excel(io.BytesIO(data), sheet_name=0, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise UnreadableFileError(
            f"{name}: the spreadsheet cannot be opened ({type(exc).__name__}). "
            "Check that it is an .xlsx workbook (not .xls or a renamed CSV) and not password-protected."
        ) from None
    _check_shape(name, len(frame.columns), len(frame))
    # Spreadsheet cells arrive typed; turn them into text like a CSV would give.
    frame = frame.apply(lambda col: col.map(_cell_text, na_action="ignore").fillna("").astype(str))
    lines = np.arange(2, len(frame) + 2)
    blank = _blank_rows(frame)
    return frame.loc[~blank], lines[~blank], int(blank.sum())


def _read_parquet(data: bytes, name: str):
    try:
        frame = _parquet_to_frame(data)
    except UnreadableFileError as exc:
        raise UnreadableFileError(str(exc).replace("file:", f"{name}:", 1), source=name) from None
    except Exception as exc:
        raise UnreadableFileError(
            f"{name}: the Parquet file cannot be read ({type(exc).__name__}: {exc}). Re-export it and try again."
        ) from None
    return frame, np.arange(2, len(frame) + 2), 0


def _parquet_to_frame(data: bytes) -> pd.DataFrame:
    """Parquet to pandas one column at a time, so only one column is ever held twice.

    Text is read dictionary-encoded (categorical: it repeats row after row);
    integers come straight from their Arrow buffers as nullable integers, which
    is several times faster than pandas' chunk-by-chunk conversion.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(pa.BufferReader(data))
    meta = pq.read_metadata(pa.BufferReader(data))
    _check_shape("file", meta.num_columns, meta.num_rows)
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    pf = pq.ParquetFile(pa.BufferReader(data), read_dictionary=text)
    columns = {}
    for column in schema:
        table = pf.read(columns=[column.name])
        if pa.types.is_integer(column.type):
            columns[column.name] = pd.Series(_arrow_integers(table.column(0)), copy=False)
        else:
            columns[column.name] = table.to_pandas(date_as_object=False, self_destruct=True).iloc[:, 0]
        del table
    return pd.DataFrame(columns, copy=False)


def _arrow_integers(chunked) -> pd.arrays.IntegerArray:
    parts, masks = [], []
    for chunk in chunked.chunks:
        n, off = len(chunk), chunk.offset
        dtype = np.dtype(chunk.type.to_pandas_dtype())
        parts.append(np.frombuffer(chunk.buffers()[1], dtype=dtype, count=n + off)[off:])
        if chunk.null_count:
            bits = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
            masks.append(~np.unpackbits(bits, count=n + off, bitorder="little")[off:].astype(bool))
        else:
            masks.append(np.zeros(n, bool))
    if not parts:
        return pd.array([], dtype=_NULLABLE_INTEGERS[chunked.type])
    return pd.arrays.IntegerArray(np.concatenate(parts), np.concatenate(masks))


def _nullable_integer_types():
    import pyarrow as pa

    return {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
            pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
            pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype()}


_NULLABLE_INTEGERS = _nullable_integer_types()
