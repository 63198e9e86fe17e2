"""Safe tabular exports: spreadsheet formulas neutralised, numbers kept as numbers.

OWASP CSV injection: a text cell that begins with ``=``, ``+``, ``-``, ``@``,
``|``, their full-width forms (``＝``, ``＋``, ``－``, ``＠``, ``｜``: some
spreadsheet software folds them to ASCII before parsing), or with tab,
carriage return or line feed, or with spaces before any of these, is prefixed
with a single quote, so spreadsheet software shows it as text and never runs
it.  Numbers (numeric cells, also in mixed columns) stay numbers.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise_formulas", "to_safe_csv"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "|", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\uff5c", "\t", "\r", "\n")


def _risky(text: pd.Series) -> pd.Series:
    """Text that a spreadsheet could read as a formula (leading spaces are skipped by some)."""
    return text.str.startswith(FORMULA_PREFIXES) | text.str.lstrip(" \u3000").str.startswith(FORMULA_PREFIXES)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` whose text cells cannot start a spreadsheet formula.

    Only text columns change; numeric, boolean and date columns are untouched.
    """
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values) \
                or pd.api.types.is_bool_dtype(values):
            continue
        # mixed columns (numbers and 'suppressed', say): only text cells are text; numbers stay numbers
        is_text = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).astype(bool)
        text = values.astype("str")
        risky = is_text & _risky(text)
        if risky.any():
            out[col] = values.astype(object).where(~risky, "'" + text)
    # header cells are text too
    names = pd.Series(list(map(str, out.columns)), dtype=object)
    out.columns = list(names.where(~_risky(names.astype("str")), "'" + names))
    return out


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheet software reads accents) of the neutralised frame.

    CRLF line ends (RFC 4180), so a carriage return inside a cell is quoted and cannot start a new row.
    """
    return neutralise_formulas(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
