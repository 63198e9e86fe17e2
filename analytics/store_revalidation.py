"""The store's validation report after an import, without validating the whole store again.

Why: an import must leave the store valid as a whole and writes, for the readers, the report a
full validation of every stored questionnaire would give (:mod:`analytics.store_snapshot`).
Validating the whole store again on every import made a weekly import of a few hundred
questionnaires cost what importing the whole registry costs (28 s and 11 GB at a million patients).
Every cross-row rule of the validator (one questionnaire per patient and time, episodes, study
days, baselines, infusion numbers) is a rule *within one patient*, so:

* into an **empty store**, the file's own report already is that of the store, up to what is
  global: the row numbers (a stored row's line is its place in the store), the order of the
  categories of text columns (first appearance in the store), the order of the attribute
  columns, and the warnings and counts, which are re-derived from the frame;
* into a **non-empty store**, only the patients the file touches (a questionnaire added or
  corrected) are validated again, with their stored rows, each row under the line number it has
  in the store; the other patients' rows are taken from the snapshot of the current state, which
  was validated when it was written and whose key proves the store has not changed since.

What is *not* per patient is rebuilt over the whole frame with the validator's own functions: the
patient order (first appearance), the categories, the warnings (sorted by line and capped per kind
over all rows) and the counts.  Where the result could differ from a full validation (a duplicate
collapsed anywhere, a column the store did not have before, a snapshot of an older layout), these
functions return None and the caller validates the whole store as before.  Tests compare both
paths on stores with several imports, corrections and a revert, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .canonical_frame import incomplete_questionnaires
from .problems import ProblemCollector, no_problems
from .validation import ValidationReport, add_frame_warnings

__all__ = ["report_of_frame", "empty_store_report", "merged_store_report"]

def report_of_frame(frame: pd.DataFrame, *, source: str = "frame") -> ValidationReport:
    """The report a validation of the store gives whose canonical frame is ``frame`` (no duplicates collapsed):
    its warnings and counts derived from the frame by the validator's own function, in the validator's order."""
    warn = ProblemCollector(None)
    counts = {"rows_read": len(frame), "blank_rows_skipped": 0,
              **add_frame_warnings(warn, frame, incomplete_questionnaires(frame))}
    return ValidationReport(source, no_problems(), warn.table(), counts, frame, "")


def empty_store_report(file_report: ValidationReport, attribute_order: list[str]) -> ValidationReport | None:
    """The store's report after importing ``file_report``'s file into an empty store, whose rows are the file's
    canonical frame in its order (a row's line is then its place plus 2).  ``attribute_order``: the store's
    attribute columns in the order the store's rows give them back.  None when it may differ from validating
    the stored rows (never expected; the caller then validates them)."""
    frame = file_report.frame
    if frame is None or not len(frame):
        return None
    slots = [c for c in frame.columns if c in attribute_order]
    if sorted(slots) != sorted(c for c in attribute_order if c in frame):
        return None
    by_store = [c for c in attribute_order if c in slots]
    # the attribute columns take each other's places in the store's order; every other column stays put
    renamed = iter(by_store)
    columns = [next(renamed) if c in slots else c for c in frame.columns]
    frame = frame[columns].assign(line=np.arange(2, len(frame) + 2, dtype=frame["line"].dtype))
    return report_of_frame(_first_appearance_categories(frame))


def merged_store_report(kept: pd.DataFrame, touched: ValidationReport) -> ValidationReport | None:
    """The store's report from the snapshot's frame of the untouched patients (``kept``) and the validation of
    the touched patients' rows (``touched``, each row under its line in the store), as a validation of the whole
    store gives it: patients in order of their first line, each patient's rows in the order validated, text
    categories by first appearance, warnings and counts over all rows.  None when the two do not have the same
    columns and types (a column the store did not have before): the caller validates the whole store."""
    part = touched.frame
    if part is None or set(kept.columns) != set(part.columns):
        return None
    columns = list(part.columns)
    merged = {}
    for c in columns:
        a, b = kept[c].array, part[c].array
        if isinstance(a.dtype, pd.CategoricalDtype) and isinstance(b.dtype, pd.CategoricalDtype):
            merged[c] = pd.api.types.union_categoricals([a, b], ignore_order=True)
        elif a.dtype == b.dtype:
            merged[c] = pd.concat([pd.Series(a), pd.Series(b)], ignore_index=True).array
        else:
            return None
    frame = pd.DataFrame(merged, copy=False)
    # patients in order of their first line (the validator numbers them by first appearance in the store),
    # each patient's rows kept in the order they come (one block per patient on either side)
    codes = frame["patient_id"].cat.codes.to_numpy()
    lines = frame["line"].to_numpy()
    first = np.full(len(frame["patient_id"].cat.categories), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, codes, lines.astype(np.int64))
    order = np.argsort(first[codes], kind="stable")
    frame = frame.take(order).reset_index(drop=True)
    return report_of_frame(_first_appearance_categories(frame))


def _first_appearance_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Each text column's categories as the validator makes them: the values present, in order of first
    appearance by line (an unused category dropped)."""
    lines = frame["line"].to_numpy()
    # the rows by line (no reordering when they already are: an import into an empty store)
    by_line = None if bool(np.all(lines[1:] > lines[:-1])) else np.argsort(lines, kind="stable")
    out = {}
    for c in frame.columns:
        col = frame[c]
        if not isinstance(col.dtype, pd.CategoricalDtype):
            out[c] = col.array
            continue
        codes = col.cat.codes.to_numpy()
        seen = codes if by_line is None else codes[by_line]
        ordered = pd.unique(seen[seen >= 0])  # by hashing, in order of first appearance (no sort)
        recode = np.full(len(col.cat.categories) + 1, -1, dtype=np.int64)  # the last entry maps code -1
        recode[ordered] = np.arange(len(ordered))
        categories = pd.Index(np.asarray(col.cat.categories)[ordered], dtype="str")
        out[c] = pd.Categorical.from_codes(recode[codes], categories=categories)
    return pd.DataFrame(out, copy=False)
