"""Reading questionnaire files (CSV, XLSX, Parquet) into a raw table.

Reading is kept apart from validation: this module only turns bytes into a
frame of cells with the file line of every row, and refuses files it cannot
read.  What the cells mean is checked in :mod:`analytics.validation`.

Longer than the ~400 lines a module is held to, on purpose: the three readers
(CSV, XLSX, Parquet) share one contract (:class:`RawTable`, line numbers, the
limits of :mod:`analytics.definitions` checked before any expensive parse) and
one set of refusal messages, and keeping them side by side is what keeps those
checks the same for every format.
"""
from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import re
import sys
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .definitions import (
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    MAX_PARQUET_EXPANSION,
    MAX_ROWS,
    MAX_XLSX_CELLS,
    MAX_XLSX_ROWS,
    MAX_ZIP_MEMBERS,
    MAX_ZIP_RATIO,
    MAX_ZIP_UNCOMPRESSED_BYTES,
    PARQUET_EXPANSION_CHECKED_ABOVE,
)
from .errors import PROBLEM_COLUMNS, UnreadableFileError

__all__ = ["RawTable", "SUPPORTED_SUFFIXES", "MAX_FILE_BYTES", "MAX_COLUMNS", "MAX_ROWS", "read_table",
           "normalise_header", "raw_table_from_frame", "check_input_path", "release_freed_memory"]

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".parquet")
# The limits (analytics/definitions.py) keep a mistaken or hostile file from exhausting the machine;
# each is checked before the expensive parse or decompression, and the message says what to do.


@dataclass(frozen=True)
class RawTable:
    """Cells of a file as read, before validation.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns renamed to their normalised header (trimmed, lower case);
        CSV and XLSX cells are text, Parquet keeps its types.  Blank rows removed.
    lines : numpy.ndarray
        File line of each row of ``frame`` (header = line 1); int32 (int64 only past 2**31 lines).
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


def read_table(path, *, label: str | None = None, sheet: str | None = None, header_row: int = 1,
               arrow_integers=()) -> RawTable:
    """Read a ``.csv``, ``.xlsx`` or ``.parquet`` questionnaire file.

    Parameters
    ----------
    path : str or pathlib.Path
    label : str, optional
        Name used in messages and kept as ``RawTable.source`` (an uploaded file's sanitised name);
        defaults to the file's own name.
    sheet : str, optional
        XLSX only: the sheet to read (a mapping can name it); default the active sheet if visible.
    header_row : int
        CSV and XLSX: the line (sheet row) that names the columns; the lines above it (a title block,
        a report date) are skipped.  Line numbers in messages stay those of the file.
    arrow_integers : collection of str
        Parquet only: integer columns with these (normalised) names stay Arrow-backed (``int8[pyarrow]``:
        one byte a cell and a validity bit, where a nullable NumPy column takes two); for a caller whose
        parser reads them from Arrow (:func:`analytics.cell_parsing.parse_bounded` does).

    Returns
    -------
    RawTable

    Raises
    ------
    UnreadableFileError
        Missing file, unsupported type, empty file, undecodable text,
        malformed CSV, corrupt spreadsheet or Parquet file, or a file over a limit.
    """
    path = Path(path)
    name = label or path.name
    check_input_path(path, name)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFileError(
            f"{name}: files of type '{suffix or '(none)'}' are not read; "
            f"save the data as {', '.join(SUPPORTED_SUFFIXES)}.", source=name
        )
    data = read_input_bytes(path, name)
    if not data.strip():
        raise UnreadableFileError(f"{name}: the file is empty; it needs a header row and at least one data row.",
                                  source=name)
    if not isinstance(header_row, int) or header_row < 1:
        raise UnreadableFileError(f"{name}: the header row must be a line number, 1 or more (got {header_row!r}).",
                                  source=name)
    hashing = None
    if suffix == ".parquet" and len(data) > _HASHED_APART_BYTES:
        # the digest in a thread of its own while the columns are read (hashlib releases the GIL): on a registry
        # the tenth of a second it takes fills the moments the column reads leave a core idle
        from concurrent.futures import ThreadPoolExecutor

        hashing = ThreadPoolExecutor(max_workers=1)
        digest_of = hashing.submit(lambda: hashlib.sha256(data).hexdigest())
    else:
        digest = hashlib.sha256(data).hexdigest()
    notes = ()
    if suffix == ".csv":
        frame, lines, blank, notes = _read_csv(data, name, header_row)
    elif suffix == ".xlsx":
        frame, lines, blank, notes = _read_xlsx(data, name, sheet, header_row)
    else:
        try:
            frame, lines, blank = _read_parquet(data, name, arrow_integers)
        finally:
            if hashing is not None:
                hashing.shutdown(wait=True)
        digest = digest_of.result() if hashing is not None else digest
    del data  # the file's bytes are no longer needed once parsed
    release_freed_memory()
    return _finish(frame, lines, name, digest, suffix.lstrip("."), blank, notes)


def check_input_path(path: Path, name: str) -> None:
    """Refuse what is not a regular, readable file of allowed size, saying which it is."""
    if path.is_symlink() and not path.exists():
        raise UnreadableFileError(f"{name}: the file is a link to {os.readlink(path)}, which does not exist. "
                                  "Give the path of the file itself.", source=name)
    if not path.exists():
        raise UnreadableFileError(f"{path}: no such file. Check the path and try again.", source=name)
    if path.is_dir():
        raise UnreadableFileError(f"{name}: this is a folder, not a file. Give the path of one export file.",
                                  source=name)
    if not path.is_file():
        raise UnreadableFileError(f"{name}: this is not a regular file (a device or pipe?). Give the path of one "
                                  "export file.", source=name)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UnreadableFileError(
            f"{name}: the file is {size / 1024 ** 3:.1f} GiB; files up to {MAX_FILE_BYTES / 1024 ** 3:.0f} GiB are "
            "read. Split it (for example by year) and import the parts.", source=name)


def read_input_bytes(path: Path, name: str) -> bytes:
    """The file's bytes; permission and I/O errors become a message naming the file."""
    try:
        return path.read_bytes()
    except PermissionError:
        raise UnreadableFileError(f"{name}: permission denied: this account may not read the file. Ask for read "
                                  "access, or copy the file somewhere readable.", source=name) from None
    except OSError as exc:
        what = "the disk reported a read error" if exc.errno == errno.EIO else exc.strerror or str(exc)
        raise UnreadableFileError(f"{name}: the file cannot be read ({what}). Copy it again and retry.",
                                  source=name) from None


def raw_table_from_frame(frame: pd.DataFrame, *, source: str = "frame") -> RawTable:
    """Wrap an in-memory frame as if it were a file (row i is line i + 2)."""
    frame = frame.reset_index(drop=True)
    return _finish(frame, np.arange(2, len(frame) + 2), source, "", "frame", 0)


def _finish(frame, lines, name, digest, fmt, blank, notes=()) -> RawTable:
    original = [str(c) for c in frame.columns]
    normalised = [normalise_header(c) for c in original]
    problems = []
    seen: dict[str, str] = {}
    for position, (orig, norm) in enumerate(zip(original, normalised), start=1):
        if norm == "" or norm.startswith("unnamed:"):
            # named by position: "Unnamed: 0" is the reader's name, not one the user wrote (e.g. an index column)
            problems.append((1, f"#{position} (no header)", "",
                             "a column has no header; give every column a name or delete it"))
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
        # int32: four bytes a row on a registry of millions (lines stay below 2**31: MAX_FILE_BYTES)
        lines=np.asarray(lines, dtype=np.int32 if len(lines) == 0 or int(np.max(lines)) < 2 ** 31 - 1 else np.int64),
        headers=headers,
        source=name,
        sha256=digest,
        file_format=fmt,
        problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
        blank_rows=int(blank),
        notes=tuple(notes),
    )


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFileError(
            f"{name}: this is not a text CSV file (it looks binary: a spreadsheet or other file "
            "renamed to .csv?). Export it as CSV, or load the .xlsx itself."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(
                f"{name}: the file is UTF-16 text but byte {exc.start} is not ({exc.reason}: the file is cut short "
                "or damaged). Save it again as 'CSV UTF-8' and load it again.", source=name) from None
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


def _read_csv(data: bytes, name: str, header_row: int = 1):
    text = _decode(data, name)
    notes = []
    if "\r" in text and "\n" not in text:
        # classic Mac line endings: without this the whole file is one line of thousands of cells
        text = text.replace("\r", "\n")
        notes.append("the file uses classic Mac line endings (CR only); they were read as line breaks")
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    skipped = header_row - 1
    if skipped:
        # a title block above the header: cut it off, keep counting lines from the top of the file
        parts = text.split("\n", skipped)
        if len(parts) <= skipped or not parts[-1].strip():
            raise UnreadableFileError(f"{name}: the header row is said to be line {header_row}, but the file has "
                                      f"no lines from there on; choose the line that names the columns.",
                                      line=header_row, source=name)
        text = parts[-1]
        notes.append(f"lines 1 to {skipped} (above the header row) were skipped")
    scanned = text.encode("utf-8") if (utf16 or notes) else data
    try:
        frame, lines, blank = _parse_csv_text(text, scanned, name)
    except UnreadableFileError as exc:
        raise _shifted(exc, skipped, name) if skipped else exc
    return frame, lines + skipped, blank, tuple(notes)


def _shifted(exc: UnreadableFileError, skipped: int, name: str) -> UnreadableFileError:
    """A refusal found in the text below a title block, with its line counted from the top of the file."""
    line = exc.problems["line"].iloc[0]
    if line is None or pd.isna(line):
        return exc
    text = re.sub(r"\bline (\d[\d,]*\d|\d)", lambda m: f"line {int(m.group(1).replace(',', '')) + skipped:,}", str(exc))
    return UnreadableFileError(text, line=int(line) + skipped, source=name)


def _parse_csv_text(text: str, scanned: bytes, name: str):
    """The frame of a decoded CSV text whose first line is the header, its rows' lines, and blank rows."""
    rows = _scan_lines(scanned, name)
    _check_shape(name, _header_cells(text), rows)
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


def _header_cells(text: str) -> int:
    """Cells of the header row as the CSV parser will see them (quoted commas stay inside their header)."""
    try:
        return len(next(csv.reader(io.StringIO(text[:MAX_LINE_BYTES], newline="")), []))
    except csv.Error:  # a stray carriage return and the like: pandas will say what is wrong
        return text[:MAX_LINE_BYTES].split("\n", 1)[0].count(",") + 1


_SCAN_CHUNK = 1 << 22  # bytes per step of the line scan: bounded memory whatever the file size


def _scan_lines(buf: bytes, name: str) -> int:
    """Check every line's length and cell count before pandas sees the file; return the number of lines.

    One vectorised pass over the bytes in fixed-size chunks.  Cells are counted as commas + 1; a line
    over the limit by that count is re-read with the csv module (quoted commas are not separators)
    before it is refused.
    """
    arr = np.frombuffer(buf, dtype=np.uint8)
    line_no = 1            # line that the current chunk starts in
    carry_len = carry_commas = 0  # the part of that line in earlier chunks
    line_start = 0         # byte offset where the current line starts
    for start in range(0, len(arr), _SCAN_CHUNK):
        a = arr[start:start + _SCAN_CHUNK]
        ends = np.flatnonzero(a == 10)
        commas = np.cumsum(a == 44, dtype=np.int64)
        before = np.concatenate(([0], commas[ends[:-1]])) if len(ends) else np.zeros(0, np.int64)
        per_line = commas[ends] - before if len(ends) else before
        lengths = np.diff(np.concatenate(([-1], ends))) - 1 if len(ends) else np.zeros(0, np.int64)
        if len(ends):
            per_line[0] += carry_commas
            lengths[0] += carry_len
        too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
        too_wide = np.flatnonzero(per_line + 1 > MAX_COLUMNS)
        first_long = int(too_long[0]) if len(too_long) else len(ends)
        for i in too_wide[too_wide < first_long]:  # problems in file order: the first one is reported
            first = line_start if i == 0 else start + int(ends[i - 1]) + 1
            _refuse_wide_line(buf, first, start + int(ends[i]), name, line_no + int(i))
        if len(too_long):
            _refuse_long_line(name, line_no + first_long, int(lengths[first_long]))
        if len(ends):
            line_no += len(ends)
            line_start = start + int(ends[-1]) + 1
            carry_len = len(a) - int(ends[-1]) - 1
            carry_commas = int(commas[-1] - commas[ends[-1]])
        else:
            carry_len += len(a)
            carry_commas += int(commas[-1]) if len(a) else 0
        if carry_len > MAX_LINE_BYTES:  # a line that never ends is refused as soon as it passes the limit
            _refuse_long_line(name, line_no, carry_len)
    if carry_commas + 1 > MAX_COLUMNS:
        _refuse_wide_line(buf, line_start, len(buf), name, line_no)
    return max(line_no - 2 + (carry_len > 0), 0)  # data lines (the header excluded)


def _refuse_long_line(name: str, line: int, length: int):
    raise UnreadableFileError(
        f"{name}: line {line:,} is {length / 1024 ** 2:.1f} MB long; lines up to {MAX_LINE_BYTES / 1024 ** 2:.0f} MB "
        "are read. Check that this is a CSV export with one questionnaire per line (not a single-line file or a "
        "binary file).", line=line, source=name)


def _refuse_wide_line(buf: bytes, first: int, end: int, name: str, line: int):
    """Refuse a line with more cells than allowed, unless its extra commas are inside quotes."""
    segment = buf[first:end]
    if b'"' in segment:  # rare: count the cells as the CSV parser will
        text = segment.decode("utf-8", errors="replace")
        try:
            cells = max((len(r) for r in csv.reader(io.StringIO(text, newline=""))), default=0)
        except csv.Error:
            cells = segment.count(b",") + 1
        if cells <= MAX_COLUMNS:
            return
    else:
        cells = segment.count(b",") + 1
    if line == 1:
        _check_shape(name, cells, 0)
    raise UnreadableFileError(
        f"{name}: line {line:,} has {cells:,} cells; at most {MAX_COLUMNS:,} columns are read. A questionnaire "
        "file needs about 30; check that it is the right file (not a wide report, a transposed table or a line of "
        "stray commas).", line=line, source=name)


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty text (skipped like blank lines, and counted)."""
    if not len(frame.columns):
        return np.zeros(len(frame), bool)
    return frame.apply(lambda c: c.str.strip() == "").all(axis=1).to_numpy()


def _raise_ragged(text: str, name: str):
    """Name the first line with more cells than the header (error path only, so a plain loop)."""
    reader = csv.reader(io.StringIO(text))
    try:
        width = len(next(reader, []))
        for row in reader:
            if len(row) > width:
                raise UnreadableFileError(
                    f"{name}: line {reader.line_num} has {len(row)} cells but the header names {width} columns; "
                    "remove the extra cells (often a stray comma) or name the column.", line=reader.line_num,
                    source=name)
    except csv.Error:  # a carriage return inside an unquoted cell: the line cannot be split reliably
        line = max(reader.line_num, 1)
        raise UnreadableFileError(
            f"{name}: line {line} has a line break (carriage return) inside a cell that is not in quotes; put the "
            "cell in double quotes or remove the line break, and save the file again as CSV.", line=line,
            source=name) from None
    raise UnreadableFileError(f"{name}: a line has more cells than the header names columns; check for stray commas.",
                              source=name)


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def _read_xlsx(data: bytes, name: str, sheet: str | None = None, header_row: int = 1):
    _check_zip(data, name)
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it does not read
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise UnreadableFileError(
            f"{name}: the spreadsheet cannot be opened ({type(exc).__name__}). "
            "Check that it is an .xlsx workbook (not .xls or a renamed CSV) and not password-protected.",
            source=name) from None
    try:
        ws, note = _choose_sheet(book, name, sheet)
        try:
            header, rows = _sheet_rows(ws, name, header_row)
        except UnreadableFileError:
            raise
        except Exception as exc:
            raise UnreadableFileError(
                f"{name}: sheet '{ws.title}' cannot be read ({type(exc).__name__}); the workbook looks damaged. "
                "Open it in a spreadsheet program, save it again as .xlsx and retry.", source=name) from None
    finally:
        book.close()
    width = max([len(header), *map(len, rows)]) if rows else len(header)
    columns = [("" if v is None else _cell_text(v)) or f"Unnamed: {i}" for i, v in enumerate(header)]
    columns += [f"Unnamed: {i}" for i in range(len(columns), width)]
    padded = [r if len(r) == width else r + (None,) * (width - len(r)) for r in rows]
    del rows
    frame = pd.DataFrame(padded, columns=columns, dtype=object) if padded else pd.DataFrame(columns=columns)
    # Spreadsheet cells arrive typed; turn them into text like a CSV would give.
    frame = frame.apply(lambda col: col.map(_cell_text, na_action="ignore").fillna("").astype(str))
    lines = np.arange(header_row + 1, len(frame) + header_row + 1)
    blank = _blank_rows(frame)
    if header_row > 1:
        note += f"; rows 1 to {header_row - 1} (above the header row) were skipped"
    return frame.loc[~blank], lines[~blank], int(blank.sum()), (note,)


def _check_zip(data: bytes, name: str) -> None:
    """Refuse a zip (XLSX) whose parts would expand too far, from its directory alone (nothing inflated).

    The declared sizes bound what is inflated: Python's zipfile stops at a part's declared size, so a part
    that lies about its size fails its checksum instead of expanding further.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise UnreadableFileError(
            f"{name}: the spreadsheet cannot be opened ({exc}). Check that it is an .xlsx workbook (not .xls or a "
            "renamed CSV) and not password-protected.", source=name) from None
    if len(parts) > MAX_ZIP_MEMBERS:
        raise UnreadableFileError(
            f"{name}: the workbook has {len(parts):,} parts; at most {MAX_ZIP_MEMBERS:,} are read (a workbook of "
            "one sheet has about ten). Save the questionnaire sheet alone as a new .xlsx or CSV.", source=name)
    total = sum(p.file_size for p in parts)
    if total > MAX_ZIP_UNCOMPRESSED_BYTES:
        raise UnreadableFileError(
            f"{name}: the workbook expands to {total / 1024 ** 2:,.0f} MB; at most "
            f"{MAX_ZIP_UNCOMPRESSED_BYTES / 1024 ** 2:,.0f} MB are read. Export the data as CSV or Parquet instead.",
            source=name)
    for p in parts:
        if p.file_size > 1024 ** 2 and p.file_size > MAX_ZIP_RATIO * max(p.compress_size, 1):
            raise UnreadableFileError(
                f"{name}: the part {p.filename} is compressed {p.file_size / max(p.compress_size, 1):,.0f} to 1 "
                f"({p.compress_size:,} bytes expanding to {p.file_size:,}); at most {MAX_ZIP_RATIO} to 1 is read. "
                "Real spreadsheets do not compress this far; export the data as CSV instead.", source=name)


def _choose_sheet(book, name: str, wanted: str | None):
    """The sheet a mapping names, else the active sheet if visible, else the first visible one; never a hidden
    sheet unless it is asked for by name.  Returns the sheet and a note saying which was read."""
    sheets = book.worksheets
    visible = [ws for ws in sheets if getattr(ws, "sheet_state", "visible") == "visible"]
    if wanted is not None:
        match = [ws for ws in sheets if ws.title == wanted] or \
            [ws for ws in sheets if ws.title.strip().lower() == str(wanted).strip().lower()]
        if not match:
            raise UnreadableFileError(
                f"{name}: the mapping asks for sheet '{wanted}', which is not in the workbook. Sheets: "
                f"{', '.join(repr(ws.title) for ws in sheets)}.", source=name)
        ws = match[0]
        state = "" if ws in visible else f" ({getattr(ws, 'sheet_state', 'hidden')}, read because the mapping names it)"
        return ws, f"sheet '{ws.title}' was read{state}, as the mapping names it"
    if not visible:
        raise UnreadableFileError(f"{name}: every sheet of the workbook is hidden; unhide the questionnaire sheet "
                                  "(or name it in a mapping: [workbook] sheet = \"...\").", source=name)
    active = book.active
    ws = active if active in visible else visible[0]
    why = "the active sheet" if ws is active else "the first visible sheet (the active one is hidden)"
    others = len(sheets) - 1
    rest = f"; {others} other sheet(s) not read" if others else ""
    hidden = len(sheets) - len(visible)
    rest += f", {hidden} of them hidden" if hidden else ""
    return ws, f"sheet '{ws.title}' was read ({why}{rest})"


def _sheet_rows(ws, name: str, header_row: int = 1):
    """Header and data rows of a sheet (rows above ``header_row`` skipped), refusing one too wide or too long
    as its rows arrive."""
    header, rows, cells = None, [], 0
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # the stated dimension can be forged (A1:XFD1048576) to pad every row
    for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
        row = _trimmed(row)
        cells += len(row)
        if cells > MAX_XLSX_CELLS:
            raise UnreadableFileError(
                f"{name}: sheet '{ws.title}' holds more than {MAX_XLSX_CELLS:,} cells (by row {number:,}); export it "
                "as CSV or Parquet, or split it.", line=number, source=name)
        if len(row) > MAX_COLUMNS:
            raise UnreadableFileError(
                f"{name}: sheet '{ws.title}' row {number:,} has cells in {len(row):,} columns; at most {MAX_COLUMNS:,} "
                "are read. A questionnaire file needs about 30; check that it is the right sheet.",
                line=number, source=name)
        if number > MAX_XLSX_ROWS or number > MAX_ROWS + 1:
            raise UnreadableFileError(
                f"{name}: sheet '{ws.title}' has more than {min(MAX_XLSX_ROWS, MAX_ROWS):,} rows; split it or export "
                "it as CSV or Parquet.", line=number, source=name)
        if number < header_row:
            continue
        if header is None:
            header = row
        else:
            rows.append(row)
    if header is None and header_row > 1:
        raise UnreadableFileError(f"{name}: the header row is said to be row {header_row}, but sheet '{ws.title}' "
                                  "has no rows from there on; choose the row that names the columns.",
                                  line=header_row, source=name)
    if header is None:
        raise UnreadableFileError(f"{name}: sheet '{ws.title}' is empty; it needs a header row and at least one data "
                                  "row.", source=name)
    while rows and not rows[-1]:
        rows.pop()  # trailing empty rows (formatting) are not data
    return header, rows


def _trimmed(row) -> tuple:
    """The row without its trailing empty cells (formatting keeps them in the file)."""
    end = len(row)
    while end and (row[end - 1] is None or row[end - 1] == ""):
        end -= 1
    return tuple(row[:end])


def _read_parquet(data: bytes, name: str, arrow_integers=()):
    try:
        frame = _parquet_to_frame(data, arrow_integers)
    except UnreadableFileError as exc:
        raise UnreadableFileError(str(exc).replace("file:", f"{name}:", 1), line=exc.problems.iloc[0]["line"],
                                  source=name) from None
    except Exception as exc:
        raise UnreadableFileError(
            f"{name}: the Parquet file cannot be read ({type(exc).__name__}: {exc}). Re-export it and try again.",
            source=name) from None
    return frame, np.arange(2, len(frame) + 2, dtype=np.int32), 0


def _parquet_to_frame(data: bytes, arrow_integers=()) -> pd.DataFrame:
    """Parquet to pandas one column at a time, so only a column or two is ever held twice.

    Text is read dictionary-encoded (categorical: it repeats row after row);
    integers come straight from their Arrow buffers as nullable integers, which
    is several times faster than pandas' chunk-by-chunk conversion, or stay
    Arrow-backed when named in ``arrow_integers``.  Two columns are read at once
    (decoding and decompression release the GIL), one per core of a small server.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _prefer_releasing_arrow_pool()
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
    except Exception as exc:
        raise UnreadableFileError(f"file: the Parquet file cannot be read ({type(exc).__name__}: {exc}). Re-export "
                                  "it and try again.") from None
    meta, schema = pf.metadata, pf.schema_arrow
    _check_shape("file", meta.num_columns, meta.num_rows)
    _check_expansion(schema, meta.num_rows, len(data))
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    arrow_integers = {normalise_header(c) for c in arrow_integers}

    def column(field):
        # a reader per column: ParquetFile is not documented as safe to share between threads
        reader = pq.ParquetFile(pa.BufferReader(data), metadata=meta, read_dictionary=text)
        table = reader.read(columns=[field.name], use_threads=False)
        if pa.types.is_timestamp(field.type) and field.type.tz is None and arrow_integers:
            dates = _whole_days(table.column(0))
            if dates is not None:  # every value a midnight: the same dates in half the memory
                return pd.Series(pd.arrays.ArrowExtensionArray(dates), copy=False)
        if pa.types.is_integer(field.type):
            if normalise_header(field.name) in arrow_integers:
                return pd.Series(pd.arrays.ArrowExtensionArray(table.column(0)), copy=False)
            return pd.Series(_arrow_integers(table.column(0)), copy=False)
        if pa.types.is_dictionary(field.type) or field.name in text:
            return _categorical(table.column(0))
        return table.to_pandas(date_as_object=False, self_destruct=True, use_threads=False).iloc[:, 0]

    fields = list(schema)
    if len(fields) > 1 and meta.num_rows > _THREADED_ROWS:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=_READ_THREADS) as pool:
            series = list(pool.map(column, fields))
    else:
        series = [column(f) for f in fields]
    # names from the schema, not from pandas (a column named like an index level stays as written)
    return pd.DataFrame(dict(zip([f.name for f in fields], series)), copy=False)


def _categorical(chunked) -> pd.Series:
    """A dictionary-encoded Arrow text column as a pandas categorical, as ``to_pandas`` makes it (the same
    categories, in the same order) at about half the cost on a column of a million distinct patient ids:
    the row groups' dictionaries are unified once and the indices become the codes directly."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if chunked.num_chunks == 0 or not pa.types.is_dictionary(chunked.type):
        return chunked.to_pandas(use_threads=False)
    unified = chunked.unify_dictionaries()
    categories = pd.Index(pd.array(unified.chunk(0).dictionary, dtype="str"))
    codes = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False) for c in unified.chunks])
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories)), copy=False)


def release_freed_memory() -> None:
    """Hand memory freed by a finished stage back to the operating system (glibc's heap only; elsewhere a
    no-op).  Large frames are built from many arrays of tens of MB; once freed, glibc keeps their pages
    in its heap, where the next stage's differently sized arrays often cannot reuse them, so the peak
    grows by what an earlier stage left behind.  Costs milliseconds."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)
    if "pyarrow" in sys.modules:  # Arrow's own pool keeps freed memory for a while; hand it back too
        sys.modules["pyarrow"].default_memory_pool().release_unused()


_malloc_trim = None


def _whole_days(stamps):
    """A timestamp column as Arrow ``date32`` (4 bytes a cell, not 8) when every value is a midnight, else None.
    Only for a reader that parses dates from Arrow (:func:`analytics.cell_parsing.parse_date` does); a cell
    reads the same as text ('2024-03-01') either way."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dates = stamps.cast(pa.date32())  # truncates to the day: compared back below
    if stamps.null_count == len(stamps) or pc.all(pc.equal(dates.cast(stamps.type), stamps)).as_py() is not False:
        return dates
    return None


def _prefer_releasing_arrow_pool() -> None:
    """Use Arrow's jemalloc pool rather than mimalloc when the process has not chosen one.

    The Arrow buffers of a large file (scores read Arrow-backed, dates) are freed once parsed; mimalloc keeps
    much of that memory for Arrow's own later use, where NumPy, which does the rest of the work, cannot
    reuse it, while jemalloc hands it back.  On a 20-million-row registry that is a few hundred MB of peak
    memory.  ``ARROW_DEFAULT_MEMORY_POOL`` (Arrow's own setting) still decides when it is set."""
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or pa.default_memory_pool().backend_name != "mimalloc":
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, pa.ArrowException):  # an Arrow built without jemalloc: keep mimalloc
        pass


_HASHED_APART_BYTES = 8 * 1024 ** 2  # below this, a thread costs more than the digest
_READ_THREADS = 2
_THREADED_ROWS = 100_000  # below this, threads cost more than they save


def _check_expansion(schema, rows: int, size: int) -> None:
    """Refuse a Parquet file whose footer promises far more data in memory than its size on disk explains.

    Run-length encoding lets a file of a megabyte declare twenty million rows of one repeated value; the
    estimate (rows x the width of each column's cells) is made from the footer alone, before any page is
    decoded.
    """
    import pyarrow as pa

    widths = 0
    for f in schema:
        t = f.type
        if pa.types.is_dictionary(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
            widths += 8  # dictionary code plus a share of the values: conservative
        elif getattr(t, "bit_width", 0) and t.bit_width >= 8:
            widths += t.bit_width // 8
        else:
            widths += 8
    estimate = rows * widths
    if estimate > PARQUET_EXPANSION_CHECKED_ABOVE and estimate > MAX_PARQUET_EXPANSION * size:
        raise UnreadableFileError(
            f"file: the Parquet file declares {rows:,} rows x {len(schema):,} columns, about "
            f"{estimate / 1024 ** 2:,.0f} MB in memory from {size / 1024 ** 2:,.1f} MB on disk ({estimate / size:,.0f} "
            f"to 1; at most {MAX_PARQUET_EXPANSION} to 1 is read for files this large). Real exports do not repeat "
            "this much; check the file, or export it as CSV.")


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
