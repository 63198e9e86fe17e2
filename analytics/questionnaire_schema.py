"""The questionnaire file's header, checked before any cell is read.

A wrong header (a required column missing, an identifying column, a column
named like one the tool computes) makes every cell check noise, so these
problems are reported on their own.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .canonical_frame import TIME_COLUMNS
from .deidentification import DEIDENTIFIED_ONLY, identifier_column_reason
from .errors import PROBLEM_COLUMNS
from .instrument_columns import other_instruments_in
from .instruments import PHQ9
from .loading import RawTable

__all__ = ["check_schema", "reserved_columns"]

_RESERVED = None


def reserved_columns() -> frozenset:
    """Column names the tool computes: a source column of the same name would be confused with them later.

    Taken from the engine itself (the canonical frame's own columns and every column
    :func:`analytics.outcomes.patient_outcomes` adds), plus the labels the store and comparisons add.
    """
    global _RESERVED
    if _RESERVED is None:
        from .outcomes import patient_outcomes  # outcomes sits above validation in the layers: asked once, late

        probe = pd.DataFrame({"patient_id": ["p"], "day": pd.array([0], dtype="Int16"),
                              "phq9_total": pd.array([10], dtype="Int16"), "phq9_9": pd.array([1], dtype="Int8"),
                              "complete": [True], "line": np.array([2], np.int32),
                              # with an infusion count the engine adds its by-infusions columns too
                              "infusion_number": pd.array([1], dtype="Int16")})
        outputs = set(patient_outcomes(probe, attributes=False).columns) | {"complete", "line"}
        inputs = {"patient_id", "day", "infusion_number", *TIME_COLUMNS}
        _RESERVED = frozenset(c for c in outputs - inputs if not c.startswith(("phq9_", "gad7_"))) | \
            {"occasion", "attributes", "cohort", "group"}
    return _RESERVED


def check_schema(raw: RawTable) -> pd.DataFrame:
    """Header problems (line 1), or an empty table: required, identifying and reserved columns."""
    cols = set(raw.frame.columns)
    header = raw.headers
    rows = list(raw.problems.itertuples(index=False, name=None))
    reserved = reserved_columns()
    for col in raw.frame.columns:
        rows.extend(_identifier_column_problems(col, header.get(col, col)))
        if col in reserved:
            rows.append((1, header.get(col, col), "",
                         f"the column name '{col}' is one the tool computes ({', '.join(sorted(reserved))}); a "
                         f"source column of that name would be mistaken for it. Rename it (for example to "
                         f"source_{col}) or leave it out"))
    rows.extend(_required_column_problems(cols))
    if raw.frame.empty and not rows:
        rows.append((2, "", "", "the file has a header but no data rows; add at least one questionnaire"))
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def _required_column_problems(cols: set) -> list[tuple]:
    rows = []
    if "patient_id" not in cols:
        rows.append((1, "patient_id", "", "required column is missing: a de-identified patient pseudonym"))
    if not cols & {"day", "assessment_date"}:
        rows.append((1, "assessment_date", "",
                     "required column is missing: give 'assessment_date' (ISO date, YYYY-MM-DD) or 'day' (study day)"))
    items = set(PHQ9.items)
    has_items = items <= cols
    has_total = PHQ9.total in cols  # spec v2: a total alone is scored; item 9 is optional
    if not (has_items or has_total):
        missing = sorted(items - cols, key=PHQ9.items.index)
        want = ", ".join(missing) if (cols & items) else "phq9_1 ... phq9_9"
        others = other_instruments_in(cols)
        rows.append((1, want if len(want) < 60 else "phq9_*", "",
                     "PHQ-9 columns are missing: give all nine items phq9_1 ... phq9_9, "
                     "or phq9_total (with phq9_9, item 9, when known)"
                     + (f". This file has {', '.join(others)} columns; those are optional beside the PHQ-9, which "
                        "every questionnaire file needs (see docs/instruments.md)" if others else "")))
    return rows


def _identifier_column_problems(name: str, written: str) -> list[tuple]:
    """The header as written in the file and the name it was mapped to are both checked:
    a mapping must not turn "Patient Name" into ``site``."""
    mapped = str(written).strip().lower() != name
    what = identifier_column_reason(written) or (identifier_column_reason(name) if mapped else None)
    if not what:
        return []
    renamed = f" (mapped to '{name}')" if mapped else ""
    return [(1, written, "",
             f"the column{renamed} looks like {what}, a direct identifier; {DEIDENTIFIED_ONLY}. "
             "Remove the column from the file (or replace it with a coded value) and load the file again; "
             "free-text columns are refused too, never loaded in part")]
