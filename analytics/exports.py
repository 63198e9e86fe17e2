"""Safe tabular exports: spreadsheet formulas neutralised, numbers kept as numbers.

OWASP CSV injection: a text cell that begins with ``=``, ``+``, ``-``, ``@``,
tab or carriage return is prefixed with a single quote, so spreadsheet
software shows it as text and never runs it.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise_formulas", "to_safe_csv"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
        risky = is_text & text.str.startswith(FORMULA_PREFIXES)
        if risky.any():
            out[col] = values.astype(object).where(~risky, "'" + text)
    # header cells are text too
    out.columns = ["'" + c if str(c).startswith(FORMULA_PREFIXES) else c for c in map(str, out.columns)]
    return out


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheet software reads accents) of the neutralised frame."""
    return neutralise_formulas(frame).to_csv(index=False).encode("utf-8-sig")
