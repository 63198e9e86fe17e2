"""The sessions table in the clinic store: imports with history, corrections, revert and audit.

Works on top of :mod:`analytics.store` exactly like questionnaires do:

* A sessions table is validated first (:func:`analytics.sessions.validate_sessions`),
  then written in one transaction; a killed import leaves the store as it was.
* A session is identified by patient, episode and occasion (session date, or the
  study day when only days are given).  Importing the same table twice adds
  nothing; an overlapping export adds only what is new.
* A session stored with other values is a conflict: the import is refused with
  the changed values listed, unless corrections are accepted; then the new values
  win and the old ones are kept in ``session_corrections``.
* Every import is an entry of the shared ``imports`` history (``data_table =
  'sessions'``) and of the audit trail, and can be reverted
  (:func:`analytics.store.revert_import` hands a sessions import to
  :func:`revert_session_import`).

Reading the store re-validates the rows, so the frame is the same canonical frame
as reading the table from a file.
"""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd

from .audit import record_audit
from .errors import AnalyticsError, SessionImportConflictError, SessionValidationError
from .loading import RawTable, raw_table_from_frame
from .sessions import ADVERSE_EVENTS, TIME_POINTS, SessionReport, validate_sessions
from .store import (
    ImportResult,
    _arrow_batches,
    _conflict_table,
    _revert,
    _StoredTable,
    _value_changes,
    _warning_summary,
    _write_corrections,
)
from .store_backends import store_backend
from .store_connection import default_db_path, open_store, reports_store_errors, utc_now as _now

__all__ = [
    "SESSION_VALUE_COLUMNS",
    "SessionImportConflictError",
    "import_sessions",
    "read_session_store",
    "store_has_sessions",
    "revert_session_import",
    "is_session_import",
]

_VITALS = [f"{m}_{t}" for t in TIME_POINTS for m in ("systolic", "diastolic", "heart_rate")]
_INT_COLUMNS = ["day", *_VITALS, "spo2_lowest", "dissociation", "sedation_moaas", "minutes_monitored", "completed"]
_REAL_COLUMNS = ["dose_mg", "dose_mg_per_kg"]
_TEXT_COLUMNS = ["session_date", "episode", "route", "dissociation_scale", "adverse_events", "attributes"]
#: Stored values of a session (besides patient and occasion), compared to find corrections.
SESSION_VALUE_COLUMNS = ["session_date", "day", "episode", "route", *_REAL_COLUMNS, *_VITALS, "spo2_lowest",
                         "dissociation", "dissociation_scale", "sedation_moaas", "minutes_monitored",
                         "adverse_events", "completed", "attributes"]
#: The sessions table for the import, conflict and revert logic shared with questionnaires (analytics/store.py).
_SESSIONS = _StoredTable("sessions", "session_corrections", "session_id", tuple(SESSION_VALUE_COLUMNS), "sessions",
                         "table", {"table": "sessions"})
_CANONICAL_ONLY = {"session_number", "line", *(f"ae_{k}" for k in ADVERSE_EVENTS)}


# ----------------------------------------------------------------------------- rows

def _session_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One stored row per canonical session, holding the values in the input contract's spelling."""
    n = len(frame)
    rows = pd.DataFrame({"patient_id": frame["patient_id"].astype("str").to_numpy()})
    if "session_date" in frame:
        rows["session_date"] = pd.Series(frame["session_date"].dt.strftime("%Y-%m-%d").to_numpy(), dtype="str")
    else:
        rows["session_date"] = pd.Series([None] * n, dtype="str")
    rows["day"] = pd.array(frame["day"].to_numpy(dtype="float64", na_value=np.nan), dtype="Int64") \
        if "day" in frame else pd.array([pd.NA] * n, dtype="Int64")
    episode = frame["episode"].astype("str").where(frame["episode"].notna(), None)
    rows["episode"] = pd.Series(episode.to_numpy(), dtype="str")
    rows["route"] = frame["route"].astype("str").to_numpy()
    for c in _REAL_COLUMNS:
        rows[c] = pd.array(frame[c].to_numpy(dtype="float64", na_value=np.nan), dtype="Float64") \
            if c in frame else pd.array([pd.NA] * n, dtype="Float64")
    for c in [*_VITALS, "spo2_lowest", "dissociation", "sedation_moaas", "minutes_monitored"]:
        rows[c] = pd.array(frame[c].to_numpy(dtype="float64", na_value=np.nan), dtype="Int64") \
            if c in frame else pd.array([pd.NA] * n, dtype="Int64")
    if "dissociation_scale" in frame:
        scale = frame["dissociation_scale"].astype("str").where(frame["dissociation_scale"].notna(), None)
        rows["dissociation_scale"] = pd.Series(scale.to_numpy(), dtype="str")
    else:
        rows["dissociation_scale"] = pd.Series([None] * n, dtype="str")
    # adverse events as the vocabulary's terms joined by ';' (a file would say the same)
    joined = pd.Series("", index=rows.index, dtype="str")
    for k in ADVERSE_EVENTS:  # five terms, not rows
        hit = frame[f"ae_{k}"].to_numpy(dtype=bool)
        joined = joined.where(~hit, joined.where(joined == "", joined + ";") + k)
    rows["adverse_events"] = joined.where(joined != "", "none")
    rows["completed"] = pd.array(frame["completed"].to_numpy(dtype=bool).astype("int64"), dtype="Int64")
    extra = sorted(c for c in frame.columns if c not in SESSION_VALUE_COLUMNS and c not in _CANONICAL_ONLY
                   and c != "patient_id")
    if extra:
        rows["attributes"] = frame[extra].astype(object).reset_index(drop=True) \
            .to_json(orient="records", lines=True).splitlines()
    else:
        rows["attributes"] = "{}"
    when = rows["session_date"].fillna("day:" + rows["day"].astype("str"))
    rows["occasion"] = when.where(rows["episode"].isna(), "episode:" + rows["episode"] + " " + when)
    rows["line"] = frame["line"].to_numpy()
    return rows


#: Patients per query when reading the sessions of some patients (well below SQLite's 999 parameters).
_PATIENTS_PER_QUERY = 500


def _stored_sessions(con, patients=None) -> pd.DataFrame:
    """The stored sessions by id (of ``patients`` only when given: a query per few hundred patients, through the
    table's (patient_id, occasion) index)."""
    if patients is None:
        stored = con.read_frame("SELECT * FROM sessions ORDER BY id")
    else:
        patients = [str(p) for p in patients]
        parts = [con.read_frame("SELECT * FROM sessions WHERE 1 = 0")]
        for start in range(0, len(patients), _PATIENTS_PER_QUERY):
            chunk = patients[start:start + _PATIENTS_PER_QUERY]
            parts.append(con.read_frame(f"SELECT * FROM sessions WHERE patient_id IN ({', '.join('?' * len(chunk))})",
                                        chunk))
        parts = [p for p in parts if len(p)] or parts[:1]
        stored = pd.concat(parts, ignore_index=True).sort_values("id", ignore_index=True)
    for c in _INT_COLUMNS:
        stored[c] = stored[c].astype("Int64")
    for c in _REAL_COLUMNS:
        stored[c] = stored[c].astype("Float64")
    for c in ("patient_id", "occasion", *_TEXT_COLUMNS):
        stored[c] = stored[c].astype("str")
    return stored


def _as_session_frame(rows: pd.DataFrame, *, present=None, attributes: list | None = None) -> pd.DataFrame:
    """Stored rows back into the sessions table's input columns (validated again on the way out).

    ``rows`` may be some of the rows only: ``present`` (the columns holding a value in any row) and
    ``attributes`` (every distinct attribute object, in order of first use) then say what all rows have, so the
    frame has the columns and cells it has among all rows."""
    out = rows[["patient_id", "session_date", "day", "episode", "route", *_REAL_COLUMNS, *_VITALS, "spo2_lowest",
                "dissociation", "dissociation_scale", "sedation_moaas", "minutes_monitored",
                "adverse_events"]].copy()
    out["completed"] = np.where(rows["completed"].astype("int64") == 1, "yes", "no")
    for c in list(out.columns):
        if c not in ("patient_id", "route", "completed", "adverse_events") and \
                (c not in present if present is not None else out[c].isna().all()):
            del out[c]
    if "session_date" not in out and "day" not in out:
        out["day"] = rows["day"]
    if "dose_mg" not in out and "dose_mg_per_kg" not in out:
        out["dose_mg"] = rows["dose_mg"]
    if "dissociation" in out and "dissociation_scale" not in out:
        out["dissociation_scale"] = rows["dissociation_scale"]
    attrs = rows["attributes"].fillna("{}")
    # each distinct object parsed once: a column's type follows from the set of its values, its place from the
    # order in which the objects are first used, as when every row is parsed
    uniques = attributes if attributes is not None else pd.unique(attrs).tolist()
    if any(u != "{}" for u in uniques):
        extra = pd.read_json(io.StringIO("\n".join(uniques)), lines=True, dtype=False)
        extra = extra.astype(object).where(extra.notna(), None).astype("str").replace("None", "")
        extra = extra.take(pd.Index(uniques).get_indexer(attrs))
        out = pd.concat([out.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- import

def _as_raw(source) -> RawTable:
    from .loading import read_table

    if isinstance(source, RawTable):
        return source
    if isinstance(source, pd.DataFrame):
        return raw_table_from_frame(source, source="sessions")
    return read_table(source)


@reports_store_errors
def import_sessions(source, *, db=None, file_name: str | None = None, sha256: str = "",
                    source_format: str = "csv", mapping: str | None = None, dissociation_scale: str | None = None,
                    accept_corrections: bool = False, user: str = "local") -> ImportResult:
    """Validate a sessions table and add it to the store in one transaction.

    Parameters
    ----------
    source : str, pathlib.Path, RawTable or pandas.DataFrame
        A file, or a table already read (:func:`analytics.sources.read_session_source`).
    db : path, optional
        The store; defaults to :func:`analytics.store.default_db_path`.
    dissociation_scale : {"cadss", "0-10"}, optional
        The scale of ``dissociation`` when the table has no ``dissociation_scale`` column.
    accept_corrections : bool
        Let new values replace stored ones; the old values go to ``session_corrections``.

    Returns
    -------
    ImportResult
        Counts are sessions (``added``, ``unchanged``, ``corrected``).

    Raises
    ------
    SessionValidationError
        The table (alone, or together with the store) is refused; nothing written.
    SessionImportConflictError
        Stored sessions would change and corrections were not accepted.
    StoreBusyError
        Another import holds the store for longer than the busy timeout.
    """
    raw = _as_raw(source)
    name = file_name or raw.source
    digest = sha256 or raw.sha256
    facts = {"table": "sessions", "file": name, "sha256": digest, "format": source_format, "mapping": mapping,
             "accept_corrections": accept_corrections}
    report = validate_sessions(raw, dissociation_scale=dissociation_scale)
    if not report.ok:
        record_audit("sessions import refused", {**facts, "reason": f"{len(report.errors)} validation problem(s)"},
                     db=db, user=user)
        report.raise_if_invalid()
    new = _session_rows(report.frame)
    con = open_store(db)
    try:
        con.begin_write()  # one writer at a time (the store's write lock on either backend); readers carry on
        try:
            result = _write_sessions(con, new, report, name, digest, source_format, mapping, accept_corrections,
                                     user)
            record_audit("sessions import" if not result.changed_nothing else "sessions import (no change)",
                         {**facts, "import_id": result.import_id, "rows_read": result.rows_read,
                          "added": result.added, "unchanged": result.unchanged, "corrected": result.corrected},
                         con=con, user=user)
            con.execute("COMMIT")
            return result
        except (SessionImportConflictError, SessionValidationError) as exc:
            con.execute("ROLLBACK")
            record_audit("sessions import refused", {**facts, "reason": type(exc).__name__}, con=con, user=user)
            raise
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def _write_sessions(con, new, report: SessionReport, name, digest, source_format, mapping, accept,
                    user) -> ImportResult:
    # only the sessions of the table's patients can match: memory follows the table, not the store
    stored = _stored_sessions(con, new["patient_id"].unique())
    merged = new.merge(stored, on=["patient_id", "occasion"], how="left", suffixes=("", "_stored"), indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    differs, changes = _value_changes(merged, is_new, SESSION_VALUE_COLUMNS)  # as for questionnaires
    unchanged = int((~is_new & ~differs).sum())
    if differs.any() and not accept:
        raise SessionImportConflictError(_conflict_table(changes), name)

    # the store and the table together must still be valid (one time axis, no two sessions at one time); every
    # such rule is within one patient, so only the patients whose sessions change are checked with their stored
    # ones (every row when a correction replaces stored ones)
    replaced = set(merged.loc[differs, "id"].astype("int64"))
    if replaced:
        stored = _stored_sessions(con)
        combined = pd.concat([stored[~stored["id"].isin(replaced)], new[is_new | differs]], ignore_index=True)
        together = validate_sessions(_as_session_frame(combined))
    elif is_new.any():
        together = _touched_sessions_report(con, stored, new[is_new])
    else:
        together = None  # nothing added or changed: the store stays as it was, valid
    if together is not None and not together.ok:
        raise SessionValidationError(
            together.errors.assign(line=None, problem="with the sessions already in the store: "
                                   + together.errors["problem"]), name)

    warnings = report.warnings
    import_id = con.execute(
        # the next number after the last, as for questionnaire imports (no gap on either backend)
        "INSERT INTO imports (id, kind, data_table, file_name, sha256, source_format, mapping, user, started_at, "
        "rows_read, warnings, warning_summary) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM imports), 'import', "
        "'sessions', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (name, digest, source_format, mapping, user, _now(), int(report.counts.get("rows_read", 0)), len(warnings),
         _warning_summary(warnings))).fetchone()[0]
    cols = ["patient_id", "occasion", *SESSION_VALUE_COLUMNS]
    added = new.loc[is_new, cols].reset_index(drop=True)
    added["import_id"] = import_id
    # the same bulk path as questionnaires: Arrow columns, staged and inserted by the backend
    con.insert_table("sessions", _arrow_batches(added))
    _write_corrections(con, _SESSIONS, merged[differs], import_id)
    counts = dict(added=int(is_new.sum()), unchanged=unchanged, corrected=int(differs.sum()))
    if counts["added"] == 0 and counts["corrected"] == 0:
        con.execute("DELETE FROM imports WHERE id = ?", (import_id,))
        import_id = None
    else:
        con.execute("UPDATE imports SET added = ?, unchanged = ?, corrected = ?, finished_at = ? WHERE id = ?",
                    (counts["added"], counts["unchanged"], counts["corrected"], _now(), import_id))
    return ImportResult(import_id, name, digest, int(report.counts.get("rows_read", 0)), counts["added"],
                        counts["unchanged"], counts["corrected"], len(warnings), report)


def _touched_sessions_report(con, stored: pd.DataFrame, fresh: pd.DataFrame) -> SessionReport:
    """The check of the whole store (stored sessions by id, then the ``fresh`` ones) for the patients of the fresh
    sessions only: their stored sessions (among ``stored``) and the fresh ones, each under the line it has among
    all rows, with the columns and attribute columns all rows give (read from the database in two small queries,
    not row by row)."""
    touched = fresh["patient_id"].unique()
    ids = con.read_columns("SELECT id FROM sessions ORDER BY id")["id"].to_numpy(dtype="int64")
    mine = stored[stored["patient_id"].isin(touched)]
    rows = pd.concat([mine, fresh], ignore_index=True)
    places = np.concatenate([np.searchsorted(ids, mine["id"].to_numpy(dtype="int64")),
                             len(ids) + np.arange(len(fresh))])
    columns = [c for c in SESSION_VALUE_COLUMNS if c != "attributes"]
    counts = con.execute(f"SELECT {', '.join(f'count({c})' for c in columns)} FROM sessions").fetchone()
    present = {c for c, n in zip(columns, counts) if n} | {c for c in columns if fresh[c].notna().any()}
    first_use = [r[0] if r[0] is not None else "{}" for r in con.execute(
        "SELECT attributes, min(id) AS first_id FROM sessions GROUP BY attributes ORDER BY first_id").fetchall()]
    attributes = list(dict.fromkeys([*first_use, *fresh["attributes"].fillna("{}").tolist()]))
    raw = raw_table_from_frame(_as_session_frame(rows, present=present, attributes=attributes), source="sessions")
    return validate_sessions(dataclasses.replace(raw, lines=(places + 2).astype(raw.lines.dtype)))


# ----------------------------------------------------------------------------- revert

def is_session_import(import_id: int, *, db=None) -> bool:
    """True when history entry ``import_id`` imported sessions (False when it does not exist)."""
    con = open_store(db, create=False)
    try:
        row = con.execute("SELECT data_table FROM imports WHERE id = ?", (int(import_id),)).fetchone()
    finally:
        con.close()
    return row is not None and row[0] == "sessions"


def revert_session_import(import_id: int, *, db=None, user: str = "local") -> int:
    """Remove the sessions an import added and restore the values it corrected; returns the revert's entry.

    Refused when a later, unreverted import corrected the same sessions: revert that first.
    """
    return _revert(import_id, _SESSIONS, db=db, user=user)


# ----------------------------------------------------------------------------- reading

@reports_store_errors
def store_has_sessions(db=None) -> bool:
    """True when the store exists and holds at least one session."""
    path = store_backend(db if db is not None else default_db_path())
    if not path.exists():
        return False
    con = open_store(path, create=False)
    try:
        return bool(con.execute("SELECT EXISTS (SELECT 1 FROM sessions)").fetchone()[0])
    finally:
        con.close()


@reports_store_errors
def read_session_store(db=None) -> SessionReport:
    """Every session in the store as a :class:`SessionReport` whose ``frame`` is the canonical frame.

    Raises
    ------
    AnalyticsError
        When there is no store, or it holds no session yet.
    """
    path = store_backend(db if db is not None else default_db_path())
    con = open_store(path, create=False)
    try:
        con.begin_read()  # the rows and their imports from one state
        try:
            rows = _stored_sessions(con)
            ids = [r[0] for r in con.execute("SELECT DISTINCT import_id FROM sessions ORDER BY import_id")]
        finally:
            con.execute("COMMIT")
    finally:
        con.close()
    if rows.empty:
        raise AnalyticsError(f"{path}: the store holds no session yet. Import a sessions table first: "
                             "python -m analytics import-sessions FILE")
    report = validate_sessions(_as_session_frame(rows))
    return SessionReport(f"store {path.short_name} (session imports {','.join(map(str, ids))})", report.errors,
                         report.warnings, report.counts, report.frame, "")
