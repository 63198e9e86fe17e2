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

Headers are matched like the contract's: trimmed and case-insensitive.
Columns the mapping does not name keep their header (and so become attributes,
or are refused if they look like direct identifiers).  A mapping cannot rename
an identifier into the data: a line whose export header or target column looks
like a direct identifier (``"Patient Name" = "site"``) refuses the mapping.
"""
from __future__ import annotations

import tomllib
from datetime import date
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .deidentification import DEIDENTIFIED_ONLY, identifier_column_reason
from .definitions import MAX_JSON_DEPTH, MAX_MAPPING_CHARS
from .errors import AnalyticsError
from .loading import RawTable, normalise_header

__all__ = ["ColumnMapping", "load_mapping", "apply_mapping"]

_DATE_COLUMNS = ("assessment_date", "treatment_start_date", "session_date")


@dataclass(frozen=True)
class ColumnMapping:
    """Source header (normalised) -> contract column, and how dates are written."""

    columns: dict = field(default_factory=dict)
    date_format: str | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)
    sheet: str | None = None


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
    extra = {k: v for k, v in data.items() if k not in ("columns", "dates", "workbook")}
    return ColumnMapping(out, date_format, str(path), extra, sheet)


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

    Raises
    ------
    AnalyticsError
        When a header named in the mapping is not in the file.
    """
    missing = [src for src in mapping.columns if src not in raw.frame.columns]
    if missing:
        raise AnalyticsError(
            f"{raw.source}: the mapping {Path(mapping.source).name} names header(s) not in the file: "
            f"{', '.join(missing)}. Headers found: {', '.join(raw.headers.values())}.")
    frame = raw.frame.rename(columns=mapping.columns)
    headers = {mapping.columns.get(k, k): v for k, v in raw.headers.items()}
    if mapping.date_format:
        frame = frame.copy()
        for col in _DATE_COLUMNS:
            if col in frame:
                frame[col] = _iso_dates(frame[col], mapping.date_format)
    return replace(raw, frame=frame, headers=headers)


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
