"""Column mappings for real exports whose headers differ from the input contract.

A mapping is a small TOML file::

    [columns]                       # header in the export = column of the contract
    "Patient ID" = "patient_id"
    "Date of Service" = "assessment_date"
    "PHQ-9 Total Score" = "phq9_total"
    "Q9" = "phq9_9"

    [dates]
    format = "%m/%d/%Y"             # how the export writes dates (strftime codes); default ISO

    [workbook]
    sheet = "PHQ-9"                 # XLSX only: the sheet to read; default the active, visible sheet

    [layout]
    header_row = 3                  # CSV and XLSX: the line naming the columns (a title block above it)

    [leave_out]
    columns = ["#1", "Form Version"] # columns not imported: "#1" is the first column when it has no header

Headers are matched like the contract's: trimmed and case-insensitive.  A mapping may name optional
columns (item 9, GAD-7, site, start date, infusion number, ...) that a file lacks: they are left out, and
said so.  The patient, the time and the PHQ-9 score columns it names must be in the file.
Columns the mapping does not name keep their header (and so become attributes,
or are refused if they look like direct identifiers).  A mapping cannot rename
an identifier into the data: a line whose export header or target column looks
like a direct identifier (``"Patient Name" = "site"``) refuses the mapping.
``[leave_out]`` drops columns the data does not need (an index column without a header, a form version),
never an identifier or free text: a file holding one is refused whatever the mapping says, because it
should not be on this machine at all.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import tomllib
import unicodedata
from datetime import date, datetime, timezone
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .deidentification import DEIDENTIFIED_ONLY, identifier_column_reason
from .definitions import MAX_JSON_DEPTH, MAX_MAPPING_CHARS, MAX_MAPPING_NAME_CHARS
from .errors import AnalyticsError
from .loading import RawTable, normalise_header

__all__ = ["ColumnMapping", "REQUIRED_WHEN_MAPPED", "load_mapping", "apply_mapping", "mapping_from_choices",
           "mapping_to_toml", "mapping_name", "mapping_folder", "save_mapping", "list_saved_mappings",
           "load_saved_mapping"]

_DATE_COLUMNS = ("assessment_date", "treatment_start_date", "session_date")
#: Columns a mapping must find in the file when it names them: without them no questionnaire can be read.
REQUIRED_WHEN_MAPPED = frozenset({"patient_id", "assessment_date", "day", "phq9_total",
                                  *(f"phq9_{i}" for i in range(1, 9))})


@dataclass(frozen=True)
class ColumnMapping:
    """Source header (normalised) -> contract column, and how dates are written."""

    columns: dict = field(default_factory=dict)
    date_format: str | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)
    sheet: str | None = None
    header_row: int = 1
    name: str = ""
    #: export headers (normalised) or ``#N`` (the N-th column, when it has no header) not to import
    leave_out: tuple = ()


def load_mapping(path, *, label: str | None = None) -> ColumnMapping:
    """Read and check a mapping file.

    Raises
    ------
    AnalyticsError
        Unreadable TOML, no ``[columns]`` table, non-text values, two
        source headers mapped to the same column, a line that renames a
        direct identifier (or renames a column to an identifier's name), or a
        date format that is not one.
    """
    path = Path(path)
    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnalyticsError(f"{name}: no such mapping file.") from None
    except IsADirectoryError:
        raise AnalyticsError(f"{name}: this is a folder; give the path of a mapping .toml file.") from None
    except UnicodeDecodeError as exc:
        raise AnalyticsError(f"{name}: byte {exc.start} is not UTF-8 text; save the mapping as UTF-8.") from None
    except OSError as exc:
        raise AnalyticsError(f"{name}: the mapping cannot be read ({exc.strerror or exc}).") from None
    if len(text) > MAX_MAPPING_CHARS:
        raise AnalyticsError(f"{name}: the mapping is {len(text):,} characters long; a mapping is a few lines "
                             f"(at most {MAX_MAPPING_CHARS:,} characters are read).")
    depth = _nesting(text)
    if depth > MAX_JSON_DEPTH:
        raise AnalyticsError(f"{name}: the mapping nests lists or tables {depth:,} levels deep; at most "
                             f"{MAX_JSON_DEPTH} are read (a mapping needs two).")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnalyticsError(f"{name}: not a valid TOML mapping ({exc}).") from None
    except RecursionError:
        raise AnalyticsError(f"{name}: the mapping nests too deeply to read; a mapping needs two levels.") from None
    path = Path(name) if label else path
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise AnalyticsError(f"{path}: a mapping needs a [columns] table of \"export header\" = \"column\" lines.")
    out = _checked_columns(columns, path)
    dates = data.get("dates") or {}
    if not isinstance(dates, dict):
        raise AnalyticsError(f"{path}: [dates] must be a table with format = \"%m/%d/%Y\" (or similar).")
    date_format = dates.get("format")
    if date_format is not None:
        _check_date_format(date_format, path)
    workbook = data.get("workbook") or {}
    sheet = workbook.get("sheet") if isinstance(workbook, dict) else None
    if sheet is not None and (not isinstance(sheet, str) or not sheet.strip()):
        raise AnalyticsError(f"{path}: [workbook] sheet must be the sheet's name as text, such as \"PHQ-9\".")
    layout = data.get("layout") or {}
    header_row = layout.get("header_row", 1) if isinstance(layout, dict) else None
    if not isinstance(header_row, int) or isinstance(header_row, bool) or header_row < 1:
        raise AnalyticsError(f"{path}: [layout] header_row must be the number of the line that names the columns "
                             "(1 for the first line, 3 when two title lines sit above it).")
    given_name = data.get("name", "")
    given_name = given_name if isinstance(given_name, str) else ""
    section = data.get("leave_out") or {}
    listed = section.get("columns", []) if isinstance(section, dict) else None
    if not isinstance(listed, list):
        raise AnalyticsError(f"{path}: [leave_out] must be a table with columns = [\"#1\", \"Form Version\"] (headers, "
                             "or #N for the N-th column when it has no header).")
    leave_out = _checked_leave_out(listed, out, path)
    extra = {k: v for k, v in data.items()
             if k not in ("columns", "dates", "workbook", "layout", "leave_out", "name", "saved_at")}
    return ColumnMapping(out, date_format, str(path), extra, sheet, header_row, given_name, leave_out)


_POSITION = re.compile(r"#(\d{1,4})")


def _checked_leave_out(listed, columns: dict, path) -> tuple:
    """Headers (normalised) and ``#N`` positions to leave out; never an identifier, never a mapped column."""
    out = []
    for item in listed:
        if not isinstance(item, str) or not item.strip():
            raise AnalyticsError(f"{path}: [leave_out] columns must be headers as text, or \"#1\" for the first "
                                 "column when it has no header.")
        what = identifier_column_reason(item)
        if what:
            raise AnalyticsError(
                f"{path}: [leave_out] \"{item}\" looks like {what}; {DEIDENTIFIED_ONLY}. "
                "Leaving it out is not enough: remove the column from the export before it reaches this machine.")
        position = _POSITION.fullmatch(item.strip())
        key = f"#{int(position.group(1))}" if position else normalise_header(item)
        if key in columns:
            raise AnalyticsError(f"{path}: \"{item}\" is both mapped to {columns[key]} and left out; choose one.")
        if key not in out:
            out.append(key)
    return tuple(out)


def _checked_columns(columns: dict, path) -> dict:
    """Export header (normalised) -> contract column, refusing identifiers and two headers for one column."""
    out, seen = {}, {}
    for src, dst in columns.items():
        if not isinstance(dst, str) or not dst.strip():
            raise AnalyticsError(f"{path}: [columns] \"{src}\" must map to a column name (text).")
        for header in (src, dst):
            what = identifier_column_reason(header)
            if what:
                raise AnalyticsError(
                    f"{path}: [columns] \"{src}\" = \"{dst}\": \"{header}\" looks like {what}, a direct identifier; "
                    f"{DEIDENTIFIED_ONLY}, and a mapping cannot rename an identifier into the data. Remove the column "
                    "from the export and this line from the mapping.")
        dst = normalise_header(dst)
        if dst in seen:
            raise AnalyticsError(f"{path}: \"{src}\" and \"{seen[dst]}\" both map to {dst}; map one header per column.")
        seen[dst] = src
        out[normalise_header(src)] = dst
    return out


def _nesting(text: str) -> int:
    """Deepest bracket nesting of the TOML text (an over-estimate: brackets in strings count too)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


_DATE_EXAMPLE = date(2024, 3, 25)
_FORMAT_HELP = ("use strftime codes for day, month and year, such as \"%m/%d/%Y\" (03/25/2024) or "
                "\"%d.%m.%Y\" (25.03.2024)")


def _check_date_format(fmt, path) -> None:
    """A date format must be text, name day, month and year, and read back the date it writes."""
    if not isinstance(fmt, str) or not fmt.strip():
        raise AnalyticsError(f"{path}: [dates] format must be text; {_FORMAT_HELP}.")
    has = {code: f"%{code}" in fmt for code in "dmYybBjx"}
    if not ((has["d"] or has["j"] or has["x"]) and (has["m"] or has["b"] or has["B"] or has["j"] or has["x"])
            and (has["Y"] or has["y"] or has["x"])):
        raise AnalyticsError(f"{path}: [dates] format \"{fmt}\" does not give day, month and year; {_FORMAT_HELP}.")
    try:
        written = _DATE_EXAMPLE.strftime(fmt)
        parsed = pd.to_datetime(pd.Series([written]), format=fmt, errors="raise")
    except (ValueError, TypeError) as exc:
        raise AnalyticsError(f"{path}: [dates] format \"{fmt}\" is not a date format ({exc}); {_FORMAT_HELP}.") \
            from None
    if parsed.iloc[0].date() != _DATE_EXAMPLE:
        raise AnalyticsError(f"{path}: [dates] format \"{fmt}\" does not read back the dates it writes; "
                             f"{_FORMAT_HELP}.")


def apply_mapping(raw: RawTable, mapping: ColumnMapping) -> RawTable:
    """Rename the export's columns to the contract and rewrite its dates as ISO.

    A header the mapping names for an optional column (item 9, GAD-7, site, ...) that the file lacks is
    left out, with a note saying so.

    Raises
    ------
    AnalyticsError
        When a header the mapping names for the patient, the time or the PHQ-9 score is not in the file.
    """
    raw = _without_left_out(raw, mapping)
    missing = [src for src in mapping.columns if src not in raw.frame.columns]
    needed = [src for src in missing if mapping.columns[src] in REQUIRED_WHEN_MAPPED]
    which = f"mapping {mapping.name!r}" if mapping.name else f"mapping {Path(mapping.source).name}"
    if needed:
        raise AnalyticsError(
            f"{raw.source}: the {which} names header(s) not in the file: "
            f"{', '.join(needed)}. Headers found: {', '.join(raw.headers.values())}.")
    notes = raw.notes
    if missing:
        notes += (f"the {which} names optional column(s) not in this file, left out: "
                  + ", ".join(f"{src} ({mapping.columns[src]})" for src in missing),)
    present = {k: v for k, v in mapping.columns.items() if k in raw.frame.columns}
    frame = raw.frame.rename(columns=present)
    headers = {present.get(k, k): v for k, v in raw.headers.items()}
    if mapping.date_format:
        frame = frame.copy()
        for col in _DATE_COLUMNS:
            if col in frame:
                frame[col] = _iso_dates(frame[col], mapping.date_format)
    return replace(raw, frame=frame, headers=headers, notes=notes)


def _without_left_out(raw: RawTable, mapping: ColumnMapping) -> RawTable:
    """The table without the columns the mapping leaves out (their "no header" problems go with them)."""
    if not mapping.leave_out:
        return raw
    problems = raw.problems
    no_header = problems["column"].astype(str).str.fullmatch(r"#\d+ \(no header\)") & (problems["line"] == 1)
    unnamed = [c for c in raw.frame.columns if c == "" or str(c).startswith("unnamed:")]
    # the reader keeps unnamed columns in file order, as the problems name them; pair them only when they agree
    by_position = {}
    if len(unnamed) == int(no_header.sum()):
        by_position = {label.split(" ")[0]: column for label, column in zip(problems.loc[no_header, "column"], unnamed)}
    drop, gone, absent = [], [], []
    for key in mapping.leave_out:
        column = by_position.get(key) if key.startswith("#") else key
        if column is not None and column in raw.frame.columns:
            drop.append(column)
            gone.append(f"{key} (no header)" if key.startswith("#") else raw.headers.get(key, key))
        else:
            absent.append(key)
    keep = ~problems["column"].isin([f"{k} (no header)" for k in mapping.leave_out if k in by_position])
    notes = raw.notes
    if gone:
        notes += ("left out as the mapping says, not imported: " + ", ".join(gone),)
    if absent:
        notes += ("the mapping leaves out column(s) this file does not have: "
                  + ", ".join(f"{k} (no column without a header there)" if k.startswith("#") else k for k in absent),)
    return replace(raw, frame=raw.frame.drop(columns=drop),
                   headers={k: v for k, v in raw.headers.items() if k not in drop},
                   problems=problems.loc[keep].reset_index(drop=True), notes=notes)


def _iso_dates(col: pd.Series, fmt: str) -> pd.Series:
    """Dates written as ``fmt`` rewritten as ISO; cells that do not parse stay as written (the validator
    reports them with their line)."""
    text = col.astype("str").where(col.notna(), "").str.strip()
    uniques = pd.Series(text.unique())
    try:
        parsed = pd.to_datetime(uniques, format=fmt, errors="coerce")
    except (ValueError, TypeError) as exc:  # a format load_mapping let through but pandas cannot use
        raise AnalyticsError(f"the mapping's [dates] format \"{fmt}\" cannot read dates ({exc}); "
                             f"{_FORMAT_HELP}.") from None
    iso = pd.Series(np.where(parsed.notna(), parsed.dt.strftime("%Y-%m-%d"), uniques), index=uniques)
    return text.map(iso)


# ----------------------------------------------------------------------------- built on the Data page, saved by name

def mapping_from_choices(choices: dict, *, date_format: str | None = None, header_row: int = 1, sheet=None,
                         name: str = "", leave_out=()) -> ColumnMapping:
    """A mapping from the mapping screen's choices: ``{contract column: export header as written}``.

    Columns chosen as None or "" are not in the file.  ``leave_out`` lists export headers (or ``#N`` for the
    N-th column when it has no header) not to import.  The same checks as a mapping file: no identifier
    renamed into the data, one header per column, a date format that reads back its dates.

    Raises
    ------
    AnalyticsError
        As :func:`load_mapping`, naming the mapping screen.
    """
    where = "the mapping screen"
    choices = {c: str(h) for c, h in choices.items() if isinstance(h, str) and h.strip()}
    picked = {header: column for column, header in choices.items()}
    twice = [h for h in picked if sum(1 for v in choices.values() if v == h) > 1]
    if twice:
        cols = [c for c, h in choices.items() if h == twice[0]]
        raise AnalyticsError(f"{where}: the header \"{twice[0]}\" is chosen for {' and '.join(cols)}; choose one "
                             "header per column.")
    if not picked:
        raise AnalyticsError(f"{where}: no column is chosen; choose at least the patient, the date and the PHQ-9.")
    columns = _checked_columns(picked, where)
    if date_format:
        _check_date_format(date_format, where)
    if not isinstance(header_row, int) or header_row < 1:
        raise AnalyticsError(f"{where}: the header row must be a line number, 1 or more.")
    return ColumnMapping(columns, date_format or None, where, {}, sheet, header_row, name,
                         _checked_leave_out(list(leave_out), columns, where))


def _toml_text(value: str) -> str:
    """A TOML basic string for any text: quotes, backslashes and control characters escaped."""
    out = []
    for ch in str(value):
        if ch in "\"\\":
            out.append("\\" + ch)
        elif unicodedata.category(ch) == "Cc":  # control characters, written as escapes
            out.append(f"\\u{ord(ch):04x}")
        elif unicodedata.category(ch) == "Cs":
            continue  # a lone surrogate cannot be written as UTF-8
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def mapping_to_toml(mapping: ColumnMapping, *, headers: dict | None = None) -> str:
    """The mapping as a TOML file :func:`load_mapping` reads back to the same mapping.

    ``headers`` (normalised -> as written) keeps each export header as the file spells it.
    """
    headers = headers or {}
    lines = []
    if mapping.name:
        lines.append(f"name = {_toml_text(mapping.name)}")
    lines.append(f"saved_at = {_toml_text(datetime.now(timezone.utc).isoformat(timespec='seconds'))}")
    lines += ["", "[columns]"]
    lines += [f"{_toml_text(headers.get(src, src))} = {_toml_text(dst)}" for src, dst in mapping.columns.items()]
    if mapping.date_format:
        lines += ["", "[dates]", f"format = {_toml_text(mapping.date_format)}"]
    if mapping.sheet:
        lines += ["", "[workbook]", f"sheet = {_toml_text(mapping.sheet)}"]
    if mapping.header_row != 1:
        lines += ["", "[layout]", f"header_row = {int(mapping.header_row)}"]
    if mapping.leave_out:
        lines += ["", "[leave_out]",
                  "columns = [" + ", ".join(_toml_text(headers.get(c, c)) for c in mapping.leave_out) + "]"]
    return "\n".join(lines) + "\n"


def mapping_name(name) -> str:
    """A mapping's name as typed, cleaned for display: no control characters, single spaces, bounded length.

    Raises
    ------
    AnalyticsError
        When nothing usable is left.
    """
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(name or ""))
    text = " ".join(text.split())[:MAX_MAPPING_NAME_CHARS]
    if not text:
        raise AnalyticsError("give the mapping a name, such as \"EHR flowsheet export\".")
    return text


def mapping_folder(store) -> Path:
    """Where saved mappings are kept: ``$OUTCOMES_MAPPINGS``, else a ``mappings`` folder beside the store file."""
    return Path(os.environ.get("OUTCOMES_MAPPINGS") or Path(store).parent / "mappings")


def _mapping_file(folder: Path, name: str) -> Path:
    # the name is a label: the file is named by its hash, so no typed name ever becomes a path
    return Path(folder) / f"mapping-{hashlib.sha256(name.casefold().encode('utf-8')).hexdigest()[:24]}.toml"


def save_mapping(mapping: ColumnMapping, name, *, folder, headers: dict | None = None) -> Path:
    """Save a mapping under a name for the next export of the same layout; the same name replaces it.

    Written to a new file and moved into place, so a crash leaves the old mapping or the new one, never half.
    """
    name = mapping_name(name)
    folder = Path(folder)
    text = mapping_to_toml(replace(mapping, name=name), headers=headers)
    target = _mapping_file(folder, name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mapping-", suffix=".toml", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        load_mapping(tmp, label=name)  # it reads back, or nothing is replaced
        os.replace(tmp, target)
    except OSError as exc:
        raise AnalyticsError(f"the mapping {name!r} could not be saved in {folder} ({exc.strerror or exc}); check "
                             "that the folder is writable.") from None
    finally:
        if "tmp" in locals() and os.path.exists(tmp):
            os.unlink(tmp)
    return target


def list_saved_mappings(folder) -> list[ColumnMapping]:
    """The saved mappings in ``folder``, by name (a file that no longer reads is skipped: it is not a mapping)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("mapping-*.toml")):
        try:
            mapping = load_mapping(path)
        except AnalyticsError:
            continue
        if mapping.name:
            found.append(mapping)
    return sorted(found, key=lambda m: m.name.casefold())


def load_saved_mapping(name, folder) -> ColumnMapping:
    """The mapping saved under ``name`` in ``folder``.

    Raises
    ------
    AnalyticsError
        When none is saved under that name.
    """
    name = mapping_name(name)
    path = _mapping_file(Path(folder), name)
    if not path.is_file():
        raise AnalyticsError(f"no mapping is saved under the name {name!r}; save one on the Data page first.")
    return load_mapping(path, label=name)
