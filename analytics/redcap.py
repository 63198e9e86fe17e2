"""REDCap flat CSV exports into the input contract.

A REDCap export has one row per record and event (and repeat instance), with
``record_id``, ``redcap_event_name`` and, for repeating instruments,
``redcap_repeat_instrument`` and ``redcap_repeat_instance``.  Field names are
the project's own, so a mapping names the PHQ-9 fields and the date field, e.g.
``sample_data/mappings/redcap_phq9.toml``.  Rows of other instruments and rows
with no PHQ-9 answer are left out and counted in the table's ``notes``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .errors import AnalyticsError
from .instruments import PHQ9, SCORE_PREFIXES
from .loading import RawTable, read_table
from .mapping import ColumnMapping, apply_mapping

__all__ = ["is_redcap_export", "read_redcap"]


def is_redcap_export(raw: RawTable) -> bool:
    """True when the table has REDCap's record and event columns."""
    return {"record_id", "redcap_event_name"} <= set(raw.frame.columns)


def read_redcap(path, mapping: ColumnMapping, *, label: str | None = None) -> RawTable:
    """Read a REDCap flat CSV export as questionnaire rows.

    Parameters
    ----------
    path : str or pathlib.Path
    mapping : ColumnMapping
        Maps the project's field names to ``phq9_1`` ... ``phq9_9`` (and
        optionally ``phq9_total``, GAD-7 fields) and its date field to
        ``assessment_date``.  ``[redcap] instrument = "..."`` names the PHQ-9
        instrument when it repeats.
    """
    raw = read_table(path, label=label)
    if not is_redcap_export(raw):
        raise AnalyticsError(f"{raw.source}: not a REDCap export (no record_id and redcap_event_name columns).")
    raw = apply_mapping(raw, mapping)
    frame = raw.frame.rename(columns={"record_id": "patient_id", "redcap_event_name": "redcap_event",
                                      "redcap_repeat_instance": "redcap_repeat_instance"})
    # record-level fields (start date, site) sit on the non-repeating row: give them to every row of the record
    per_record = [c for c in frame.columns if c not in ("patient_id", "redcap_event", "redcap_repeat_instrument",
                  "redcap_repeat_instance", "assessment_date", "infusion_number")
                  and not c.startswith(SCORE_PREFIXES)]
    if per_record:
        frame = frame.copy()
        for c in per_record:
            text = frame[c].astype("str").str.strip()
            filled = text.mask(text == "").groupby(frame["patient_id"]).transform("first")
            frame[c] = text.mask(text == "", filled).fillna("")
    keep = np.ones(len(frame), bool)
    notes = []
    instrument = (mapping.extra.get("redcap") or {}).get("instrument")
    if "redcap_repeat_instrument" in frame:
        rep = frame["redcap_repeat_instrument"].astype("str").str.strip()
        other = (rep != "") & (rep != (instrument or rep))
        if other.any():
            notes.append(f"{int(other.sum())} row(s) of other REDCap instruments left out")
        keep &= ~other.to_numpy()
        frame = frame.drop(columns="redcap_repeat_instrument")
    fields = [c for c in PHQ9.items + [PHQ9.total] if c in frame]
    if fields:
        answered = (frame[fields].astype("str").apply(lambda c: c.str.strip() != "")).any(axis=1).to_numpy()
        empty = keep & ~answered
        if empty.any():
            notes.append(f"{int(empty.sum())} REDCap row(s) with no PHQ-9 answer left out (other events or forms)")
        keep &= answered
    frame = frame.loc[keep].reset_index(drop=True)
    headers = {("patient_id" if k == "record_id" else k): v for k, v in raw.headers.items()}
    return replace(raw, frame=frame, lines=raw.lines[keep], headers=headers, file_format="redcap",
                   notes=tuple(raw.notes) + tuple(notes))
