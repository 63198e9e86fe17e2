"""One-row-per-score ("long observation") exports pivoted into questionnaires.

Measurement platforms and EHRs often write one row per score: patient, date,
an instrument or LOINC code, and an integer value.  :func:`pivot_observations`
turns them into one row per questionnaire (patient and date) in the input
contract's columns, so the validator then checks them like any other file.
Codes: LOINC 44261-6 (PHQ-9 total), the nine PHQ-9 item codes (44260-8 is item
9), 70274-6 (GAD-7 total), or the contract's own column names (``phq9_3``).
The same code twice for one patient and date is a duplicate: with the same
value it is collapsed (and said so), with different values it refuses the file.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS
from .fhir import GAD7_TOTAL_LOINC, PHQ9_ITEM_LOINC, PHQ9_TOTAL_LOINC
from .instruments import GAD7, PHQ9
from .loading import RawTable

__all__ = ["OBSERVATION_CODES", "is_observation_export", "pivot_observations"]

#: Code (LOINC or contract column name, lower case) -> contract column.
OBSERVATION_CODES = {
    **{code: f"phq9_{i + 1}" for i, code in enumerate(PHQ9_ITEM_LOINC)},
    PHQ9_TOTAL_LOINC: PHQ9.total,
    GAD7_TOTAL_LOINC: GAD7.total,
    **{c: c for c in PHQ9.items + [PHQ9.total] + GAD7.items + [GAD7.total]},
}
_CODE_HEADERS = ("code", "loinc", "loinc_code", "observation_code", "instrument", "measure")
_VALUE_HEADERS = ("value", "score", "result", "value_integer")
_KEY_HEADERS = ("patient_id", "assessment_date", "day")


def _column(raw: RawTable, names) -> str | None:
    return next((c for c in names if c in raw.frame.columns), None)


def is_observation_export(raw: RawTable) -> bool:
    """True when the table has patient_id, a date or day, a code column and a value column, and no score columns."""
    cols = set(raw.frame.columns)
    scores = set(OBSERVATION_CODES.values())
    return ("patient_id" in cols and bool(cols & {"assessment_date", "day"}) and not (cols & scores)
            and _column(raw, _CODE_HEADERS) is not None and _column(raw, _VALUE_HEADERS) is not None)


def pivot_observations(raw: RawTable) -> RawTable:
    """Questionnaires (one row per patient and date) from one row per score.

    Every other column (``treatment_start_date``, ``infusion_number``, site, ...)
    is carried from the questionnaire's first row; a questionnaire whose rows
    disagree on one of them is refused, as is an unknown code or two
    different values of one code.  Each questionnaire's line is its first row's.
    """
    f = raw.frame
    code_col, value_col = _column(raw, _CODE_HEADERS), _column(raw, _VALUE_HEADERS)
    key_cols = [c for c in _KEY_HEADERS if c in f]
    text = {c: f[c].astype("str").where(f[c].notna(), "").str.strip() for c in [*key_cols, code_col, value_col]}
    problems = []
    code = text[code_col].str.lower().map(OBSERVATION_CODES)
    unknown = code.isna().to_numpy()
    if unknown.any():
        allowed = f"LOINC {PHQ9_TOTAL_LOINC} (PHQ-9 total), {PHQ9_ITEM_LOINC[8]} (item 9), the item codes " \
                  f"{', '.join(PHQ9_ITEM_LOINC[:8])}, {GAD7_TOTAL_LOINC} (GAD-7 total), or a column name such as phq9_3"
        problems.append(pd.DataFrame({"line": raw.lines[unknown], "column": raw.headers.get(code_col, code_col),
                                      "value": text[code_col].to_numpy()[unknown],
                                      "problem": f"unknown score code; allowed: {allowed}"}))
    key = pd.MultiIndex.from_arrays([text[c] for c in key_cols])
    q, _ = pd.factorize(key)
    columns = [c for c in dict.fromkeys(OBSERVATION_CODES.values()) if (code == c).any()]
    c_idx = pd.Categorical(code, categories=columns).codes
    ok = c_idx >= 0
    # one code twice for one questionnaire: the same value collapses, different values refuse the file
    pair = q.astype(np.int64) * (len(columns) + 1) + c_idx
    order = np.lexsort((raw.lines, pair))
    ps, vs = pair[order], text[value_col].to_numpy()[order]
    again = np.r_[False, ps[1:] == ps[:-1]] & ok[order]
    first_pos = np.maximum.accumulate(np.where(~again, np.arange(ps.size), 0))
    conflict = again & (vs != vs[first_pos])
    notes = list(raw.notes)
    lines_sorted = raw.lines[order]
    if conflict.any():
        problems.append(pd.DataFrame({
            "line": lines_sorted[conflict], "column": raw.headers.get(value_col, value_col), "value": vs[conflict],
            "problem": [f"the same patient and time already have {columns[c_idx[order][i]]} = {vs[first_pos[i]]!s} "
                        f"(line {lines_sorted[first_pos[i]]}) with a different value; keep only the correct one"
                        for i in np.flatnonzero(conflict)]}))
    collapsed = again & ~conflict
    if collapsed.any():
        notes.append(f"{int(collapsed.sum())} exact duplicate score row(s) collapsed (lines "
                     f"{', '.join(str(v) for v in lines_sorted[collapsed][:10])}"
                     f"{', ...' if collapsed.sum() > 10 else ''})")
    n_q = int(q.max()) + 1 if q.size else 0
    first_row = np.full(n_q, np.iinfo(np.int64).max)
    np.minimum.at(first_row, q, np.arange(q.size))
    out = {c: f[c].iloc[first_row].reset_index(drop=True) for c in key_cols}
    keep_sorted = ~again & ok[order]
    for j, c in enumerate(columns):
        vals = np.full(n_q, "", dtype=object)
        sel = keep_sorted & (c_idx[order] == j)
        vals[q[order][sel]] = vs[sel]
        out[c] = pd.Series(vals, dtype="str")
    carried = [c for c in f.columns if c not in (*key_cols, code_col, value_col)]
    for c in carried:
        col = f[c].astype("str").where(f[c].notna(), "").str.strip()
        firsts = col.to_numpy()[first_row]
        differs = (col.to_numpy() != firsts[q])
        if differs.any():
            problems.append(pd.DataFrame({
                "line": raw.lines[differs], "column": raw.headers.get(c, c), "value": col.to_numpy()[differs],
                "problem": "the rows of one questionnaire (same patient and time) disagree on this column; give "
                           "every row of a questionnaire the same value"}))
        out[c] = pd.Series(firsts, dtype="str")
    frame = pd.DataFrame(out)
    headers = {c: raw.headers.get(c, c) for c in frame.columns}
    for c in columns:
        headers[c] = c
    table = pd.concat([raw.problems, *problems], ignore_index=True) if problems else raw.problems
    notes.append(f"one row per score: {len(f)} rows pivoted into {n_q} questionnaires by patient and "
                 f"{'date' if 'assessment_date' in key_cols else 'day'}")
    return replace(raw, frame=frame, lines=raw.lines[first_row], headers=headers,
                   problems=table[PROBLEM_COLUMNS] if len(table) else raw.problems, notes=tuple(notes))
