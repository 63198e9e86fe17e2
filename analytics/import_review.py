"""What an import changes and what it warns about, in the words a person checks them by.

One job: turn the store's conflict rows (one per changed value) into one line per questionnaire
("PHQ-9 total: 10 → 12"), and a validation warning's file line into the patient pseudonym and the date
of the questionnaire it is about, so a director can review an import without opening the file.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .header_suggestion import CONTRACT_FIELDS

__all__ = ["column_label", "correction_preview", "locate_warnings"]

_LABELS = {f.column: f.label.split(" (")[0] for f in CONTRACT_FIELDS} | {
    "attributes": "Other columns (site, clinician, ...)", "day": "Study day",
    "assessment_date": "Date", "treatment_start_date": "Treatment start date",
}
_BLANK = {"", "<NA>", "None", "nan", "NaN", "NaT"}


def column_label(column: str) -> str:
    """A contract column as people say it: ``phq9_9`` -> "PHQ-9 item 9"."""
    return _LABELS.get(column, column.replace("_", " "))


def _shown(value) -> str:
    text = "" if value is None else str(value)
    return "blank" if text in _BLANK else text


def _occasion_text(occasion: str) -> str:
    text = str(occasion)
    return text.replace("episode:", "episode ").replace("day:", "day ")


def _attribute_changes(stored, new) -> str:
    """The other columns (site, clinician, ...) that differ, one "site: North → South" each."""
    try:
        before, after = json.loads(str(stored)), json.loads(str(new))
    except ValueError:
        return f"{column_label('attributes')}: {_shown(stored)} → {_shown(new)}"
    before, after = (d if isinstance(d, dict) else {} for d in (before, after))
    keys = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return "; ".join(f"{k}: {_shown(before.get(k))} → {_shown(after.get(k))}" for k in keys)


def correction_preview(conflicts: pd.DataFrame) -> pd.DataFrame:
    """One row per questionnaire the import would change: ``Patient``, ``Questionnaire`` (its date or study
    day), ``Line`` (of the new file) and ``Changes`` ("PHQ-9 item 4: 1 → 2; PHQ-9 total: 10 → 11").

    ``conflicts`` is :attr:`analytics.store.ImportConflictError.conflicts` (line, patient_id, occasion,
    column, stored, new).
    """
    columns = ["Patient", "Questionnaire", "Line", "Changes"]
    if conflicts is None or conflicts.empty:
        return pd.DataFrame(columns=columns)
    order = {f.column: i for i, f in enumerate(CONTRACT_FIELDS)}
    rows = conflicts.assign(
        _order=conflicts["column"].map(order).fillna(len(order)),
        _change=[_attribute_changes(s, n) if c == "attributes" else f"{column_label(c)}: {_shown(s)} → {_shown(n)}"
                 for c, s, n in zip(conflicts["column"], conflicts["stored"], conflicts["new"])])
    rows = rows.sort_values(["patient_id", "occasion", "_order"], kind="stable")
    out = rows.groupby(["patient_id", "occasion"], sort=False).agg(
        Line=("line", "min"), Changes=("_change", "; ".join)).reset_index()
    out["Questionnaire"] = out["occasion"].map(_occasion_text)
    return out.rename(columns={"patient_id": "Patient"})[columns].reset_index(drop=True)


def locate_warnings(warnings: pd.DataFrame, rows: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Warnings with the questionnaire they are about: ``File``, ``Line``, ``Patient``, ``Date`` (or study
    day), ``Column``, ``Problem``.

    ``rows`` holds the rows read, with ``line``, ``patient_id`` and ``assessment_date`` and/or ``day``
    (a validation report's canonical frame; a raw table's frame with its lines also does).  A warning whose
    line is in no row keeps its line and shows no patient.
    """
    columns = ["File", "Line", "Patient", "Date", "Column", "Problem"]
    if warnings is None or warnings.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.drop_duplicates("line") if "line" in rows else pd.DataFrame({"line": []})
    when = pd.Series("", index=rows.index, dtype="str")
    if "day" in rows:
        day = pd.to_numeric(rows["day"], errors="coerce")
        when = when.mask(day.notna(), "day " + day.astype("Int64").astype("str"))
    if "assessment_date" in rows:
        dates = rows["assessment_date"]
        text = dates.dt.strftime("%Y-%m-%d") if pd.api.types.is_datetime64_any_dtype(dates) else dates.astype("str")
        when = when.mask(dates.notna() & (text.str.strip() != ""), text)
    by_line = pd.DataFrame({"patient": rows["patient_id"].astype("str").to_numpy() if "patient_id" in rows else "",
                            "when": when.to_numpy()}, index=rows["line"].to_numpy(dtype=np.int64))
    line = pd.to_numeric(warnings["line"], errors="coerce").astype("Int64")
    # a collapsed duplicate's own line is in no row: the line it duplicates ("duplicate of line 332") is
    at = line.mask(~line.isin(by_line.index), pd.to_numeric(
        warnings["problem"].astype("str").str.extract(r"line (\d+)", expand=False), errors="coerce").astype("Int64"))
    found = by_line.reindex(at.fillna(-1).astype("int64").to_numpy())
    return pd.DataFrame({
        "File": source,
        "Line": line.to_numpy(),
        "Patient": found["patient"].fillna("").to_numpy(),
        "Date": found["when"].fillna("").to_numpy(),
        "Column": warnings["column"].astype("str").to_numpy(),
        "Problem": warnings["problem"].astype("str").to_numpy(),
    }, columns=columns)
