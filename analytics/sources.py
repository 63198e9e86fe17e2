"""One entry point for every kind of export: plain files, mapped EHR exports, REDCap, FHIR."""
from __future__ import annotations

from pathlib import Path

from .fhir import read_fhir
from .loading import RawTable, read_table
from .mapping import ColumnMapping, apply_mapping, load_mapping
from .observations import is_observation_export, pivot_observations
from .redcap import is_redcap_export, read_redcap

__all__ = ["FHIR_SUFFIXES", "read_source", "read_session_source"]

FHIR_SUFFIXES = (".json", ".ndjson")


def read_source(path, *, mapping=None, label: str | None = None) -> RawTable:
    """Read any supported export as a raw table in the input contract's columns.

    ``.json`` / ``.ndjson`` are FHIR; a CSV with ``record_id`` and
    ``redcap_event_name`` is a REDCap export; anything else is read as a
    questionnaire file.  ``mapping`` (a path or :class:`ColumnMapping`)
    renames headers and rewrites dates first (and may name the XLSX sheet to read).  A table with
    one row per score (patient, date, code, value) is then pivoted into questionnaires.  ``label`` is
    the name used in messages and the import record (an upload's sanitised name; default the file's).
    """
    path = Path(path)
    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(mapping)
    if path.suffix.lower() in FHIR_SUFFIXES:
        return read_fhir(path, label=label)
    raw = read_table(path, label=label, sheet=mapping.sheet if mapping else None,
                     header_row=mapping.header_row if mapping else 1)
    if is_redcap_export(raw):
        return read_redcap(path, mapping or ColumnMapping(), label=label)
    raw = apply_mapping(raw, mapping) if mapping else raw
    return pivot_observations(raw) if is_observation_export(raw) else raw


def read_session_source(path, *, mapping=None, label: str | None = None) -> RawTable:
    """Read a sessions table (CSV, XLSX, Parquet) as a raw table in the sessions contract's columns.

    ``mapping`` (a path or :class:`ColumnMapping`) renames headers and rewrites
    ``session_date`` from the export's date format, as for questionnaires.  FHIR
    and REDCap session exports are not read: the message says to export a table.

    Raises
    ------
    UnreadableFileError
        A FHIR file, or a file that cannot be read at all.
    """
    from .errors import UnreadableFileError

    path = Path(path)
    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(mapping)
    if path.suffix.lower() in FHIR_SUFFIXES:
        raise UnreadableFileError(f"{label or path.name}: sessions are read from a table (.csv, .xlsx, .parquet), "
                                  "not from FHIR; export the sessions as a table with one row per session.",
                                  source=label or path.name)
    raw = read_table(path, label=label, sheet=mapping.sheet if mapping else None)
    return apply_mapping(raw, mapping) if mapping else raw
