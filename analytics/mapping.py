"""Column mappings for real exports whose headers differ from the input contract.

A mapping is a small TOML file::

    [columns]                       # header in the export = column of the contract
    "Patient ID" = "patient_id"
    "Date of Service" = "assessment_date"
    "PHQ-9 Total Score" = "phq9_total"
    "Q9" = "phq9_9"

    [dates]
    format = "%m/%d/%Y"             # how the export writes dates (strftime codes); default ISO

Headers are matched like the contract's: trimmed and case-insensitive.
Columns the mapping does not name keep their header (and so become attributes,
or are refused if they look like direct identifiers).  A mapping cannot rename
an identifier into the data: a line whose export header or target column looks
like a direct identifier (``"Patient Name" = "site"``) refuses the mapping.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .deidentification import DEIDENTIFIED_ONLY, identifier_column_reason
from .errors import AnalyticsError
from .loading import RawTable, normalise_header

__all__ = ["ColumnMapping", "load_mapping", "apply_mapping"]

_DATE_COLUMNS = ("assessment_date", "treatment_start_date")


@dataclass(frozen=True)
class ColumnMapping:
    """Source header (normalised) -> contract column, and how dates are written."""

    columns: dict = field(default_factory=dict)
    date_format: str | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def load_mapping(path) -> ColumnMapping:
    """Read and check a mapping file.

    Raises
    ------
    AnalyticsError
        Unreadable TOML, no ``[columns]`` table, non-text values, two
        source headers mapped to the same column, or a line that renames a
        direct identifier (or renames a column to an identifier's name).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnalyticsError(f"{path}: no such mapping file.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AnalyticsError(f"{path}: not a valid TOML mapping ({exc}).") from None
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
    date_format = (data.get("dates") or {}).get("format")
    if date_format is not None and not isinstance(date_format, str):
        raise AnalyticsError(f"{path}: [dates] format must be text such as \"%m/%d/%Y\".")
    extra = {k: v for k, v in data.items() if k not in ("columns", "dates")}
    return ColumnMapping(out, date_format, str(path), extra)


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
    parsed = pd.to_datetime(uniques, format=fmt, errors="coerce")
    iso = pd.Series(np.where(parsed.notna(), parsed.dt.strftime("%Y-%m-%d"), uniques), index=uniques)
    return text.map(iso)
