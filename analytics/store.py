"""The clinic's questionnaire store: an embedded SQLite database that keeps every import.

* Every import is validated first (the same validator as files), then written in
  one transaction: a killed import leaves the store exactly as it was.
* A questionnaire is identified by patient and occasion (assessment date, or the
  study day when only days are given).  Importing the same file twice adds
  nothing; an overlapping export adds only what is new.
* A questionnaire that exists with other values is a *conflict*: the import is
  refused with the rows listed, unless corrections are accepted; then the new
  values win and the old ones are kept in ``corrections``.  Nothing is
  overwritten without a trace.
* Each import is recorded (file, SHA-256, counts, warnings, time, user) and can
  be reverted; the revert is recorded as its own entry.
* The schema is versioned (``PRAGMA user_version``; a table in PostgreSQL) and
  migrated on open, after a backup copy of the file is written.
* The store is an SQLite file or a PostgreSQL database (``--db postgresql://...``):
  the SQL here is written once; :mod:`analytics.store_backends` does what differs.

Reading the store gives the same canonical frame as reading the files directly:
rows are re-validated on the way out, so study days, baselines and everything
downstream are computed exactly as for a file.
"""
from __future__ import annotations

import functools
import inspect
import io
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AnalyticsError, QuestionnaireValidationError, StoreBusyError, StoreUnusableError
from .instruments import GAD7, PHQ9
from .loading import RawTable
from .store_backends import BUSY_TIMEOUT_S, database_errors, is_postgres_url, store_backend
from .validation import ValidationReport, validate_questionnaires

__all__ = [
    "DEFAULT_DB",
    "SCHEMA_VERSION",
    "StoreBusyError",
    "StoreUnusableError",
    "store_error",
    "ImportConflictError",
    "ImportResult",
    "default_db_path",
    "open_store",
    "import_questionnaires",
    "list_imports",
    "revert_import",
    "read_store",
    "store_has_data",
    "store_fingerprint",
    "save_cohort",
    "list_cohorts",
    "load_cohort",
    "record_audit",
    "list_audit",
    "save_study_key",
    "load_study_key",
]

DEFAULT_DB = Path("data") / "outcomes.sqlite"
SCHEMA_VERSION = 6

_SCORE_COLUMNS = PHQ9.items + [PHQ9.total] + GAD7.items + [GAD7.total]
_VALUE_COLUMNS = ["assessment_date", "day", "treatment_start_date", *_SCORE_COLUMNS, "infusion_number", "attributes"]
_INT_COLUMNS = ["day", *_SCORE_COLUMNS, "infusion_number"]


def _chain_audit_and_own_cohorts(con: sqlite3.Connection) -> None:
    """v4 -> v5: hash-chain the audit trail (existing rows too); a cohort's owner is whoever saved it so far."""
    from .audit import backfill_audit_chain

    backfill_audit_chain(con)
    con.execute("ALTER TABLE cohorts ADD COLUMN owner TEXT")
    con.execute("UPDATE cohorts SET owner = user")


# Each migration takes the schema from version i to i + 1.  Version 1 is the
# first released schema; version 2 adds correction history, reverts and users;
# version 3 adds saved research cohorts; version 4 the append-only audit trail;
# version 5 the study-id keys of research exports (source pseudonym -> study id, kept only here);
# version 6 chains the audit rows by hash and gives saved cohorts an owner.
# A step is SQL, or a function of the connection when it needs Python (hashing).
_MIGRATIONS = [
    """
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        file_name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        source_format TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        rows_read INTEGER NOT NULL DEFAULT 0,
        added INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        warnings INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE questionnaires (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL,
        occasion TEXT NOT NULL,
        assessment_date TEXT,
        day INTEGER,
        treatment_start_date TEXT,
        """ + ",\n        ".join(f"{c} INTEGER" for c in _SCORE_COLUMNS) + """,
        infusion_number INTEGER,
        attributes TEXT NOT NULL DEFAULT '{}',
        import_id INTEGER NOT NULL REFERENCES imports(id),
        UNIQUE (patient_id, occasion)
    );
    CREATE INDEX questionnaires_import ON questionnaires(import_id);
    """,
    """
    ALTER TABLE imports ADD COLUMN kind TEXT NOT NULL DEFAULT 'import';
    ALTER TABLE imports ADD COLUMN mapping TEXT;
    ALTER TABLE imports ADD COLUMN user TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE imports ADD COLUMN corrected INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE imports ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE imports ADD COLUMN restored INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE imports ADD COLUMN warning_summary TEXT NOT NULL DEFAULT '';
    ALTER TABLE imports ADD COLUMN reverts INTEGER REFERENCES imports(id);
    ALTER TABLE imports ADD COLUMN reverted_by INTEGER REFERENCES imports(id);
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        questionnaire_id INTEGER NOT NULL,
        patient_id TEXT NOT NULL,
        occasion TEXT NOT NULL,
        import_id INTEGER NOT NULL REFERENCES imports(id),
        old_values TEXT NOT NULL,
        new_values TEXT NOT NULL,
        reverted_by INTEGER REFERENCES imports(id)
    );
    CREATE INDEX corrections_import ON corrections(import_id);
    """,
    """
    CREATE TABLE cohorts (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        user TEXT NOT NULL DEFAULT 'local'
    );
    """,
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        action TEXT NOT NULL,
        details TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail cannot be changed'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail cannot be changed'); END;
    INSERT INTO audit (at, user, action, details)
        SELECT started_at, user, kind || ' (recorded before the audit trail existed)',
               json_object('import_id', id, 'file', file_name, 'sha256', sha256, 'added', added,
                           'corrected', corrected, 'removed', removed)
        FROM imports ORDER BY id;
    """,
    """
    CREATE TABLE research_exports (
        export_id TEXT PRIMARY KEY,
        cohort TEXT NOT NULL,
        created_at TEXT NOT NULL,
        user TEXT NOT NULL DEFAULT 'local',
        patients INTEGER NOT NULL
    );
    CREATE TABLE study_keys (
        export_id TEXT NOT NULL REFERENCES research_exports(export_id),
        study_id TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        PRIMARY KEY (export_id, study_id),
        UNIQUE (export_id, patient_id)
    );
    """,
    _chain_audit_and_own_cohorts,
]


def store_error(path, exc: BaseException) -> AnalyticsError:
    """A database error on the store as a message that says what happened and what to do."""
    return store_backend(path).error(exc)


def _reports_store_errors(function):
    """Turn SQLite errors raised while ``function`` uses the store into :func:`store_error` messages."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except database_errors() as exc:
            db = signature.bind_partial(*args, **kwargs).arguments.get("db")
            raise store_error(db if db is not None else default_db_path(), exc) from None
    return wrapper


class ImportConflictError(AnalyticsError):
    """The file changes questionnaires already in the store; nothing was written.

    Attributes
    ----------
    conflicts : pandas.DataFrame
        One row per changed value: ``line``, ``patient_id``, ``occasion``,
        ``column``, ``stored``, ``new``.
    """

    def __init__(self, conflicts: pd.DataFrame, source: str):
        self.conflicts = conflicts
        n = conflicts[["patient_id", "occasion"]].drop_duplicates().shape[0]
        super().__init__(
            f"{source}: {n} questionnaire(s) already in the store have different values in this file; nothing was "
            "imported. Check the rows listed; if the file holds corrections, import it again with "
            "--accept-corrections (the old values are kept in the correction history)."
        )


@dataclass(frozen=True)
class ImportResult:
    """What one import did."""

    import_id: int | None
    file_name: str
    sha256: str
    rows_read: int
    added: int
    unchanged: int
    corrected: int
    warnings: int
    report: ValidationReport = field(repr=False, default=None)

    @property
    def changed_nothing(self) -> bool:
        return self.added == 0 and self.corrected == 0

    def to_text(self) -> str:
        if self.changed_nothing:
            return (f"{self.file_name}: nothing new; all {self.unchanged} questionnaire(s) are already in the store "
                    "with the same values. The store is unchanged.")
        return (f"{self.file_name}: import {self.import_id} done. {self.rows_read} rows read, {self.added} "
                f"questionnaire(s) added, {self.unchanged} already present, {self.corrected} corrected, "
                f"{self.warnings} warning row(s).")


def default_db_path() -> Path | str:
    """``$OUTCOMES_DB`` when set, else ``data/outcomes.sqlite``: a path, or a ``postgresql://`` URL as given."""
    db = os.environ.get("OUTCOMES_DB") or DEFAULT_DB
    return db.strip() if is_postgres_url(db) else Path(db)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def open_store(path=None, *, create: bool = True):
    """Open (and create or migrate) the store: an SQLite file, or a PostgreSQL database given by URL.

    SQLite: WAL journal (readers never wait for a writer), foreign keys on, and a
    busy timeout so a second writer waits before giving up.  An older schema
    is migrated after a backup copy ``<file>.v<old>-backup-<time>`` is written.
    PostgreSQL: see :mod:`analytics.store_backends`.

    Returns a connection with ``execute`` and the methods of the store interface
    (``begin_write``, ``read_frame``, ``insert_rows``; an ``sqlite3.Connection`` for a file).

    Raises
    ------
    AnalyticsError
        When the file is not a store of this tool, or is newer than this version.
    """
    backend = store_backend(path if path is not None else default_db_path())
    con = backend.connect(create=create)
    try:
        version = backend.schema_version(con)
        if version > SCHEMA_VERSION:
            raise AnalyticsError(f"{backend}: store schema v{version} is newer than this tool (v{SCHEMA_VERSION}); "
                                 "update the tool.")
        if version < SCHEMA_VERSION:
            _migrate(con, backend)
    except database_errors() as exc:
        con.close()
        raise backend.error(exc) from None
    except BaseException:
        con.close()
        raise
    return con


def _migrate(con, backend) -> None:
    """Bring the schema up to date under the write lock (several processes may open a new store at once)."""
    backed_up = False
    while True:
        con.begin_write()
        version = backend.schema_version(con)
        if version >= SCHEMA_VERSION:  # another process migrated first
            con.execute("COMMIT")
            return
        if version == 0 and backend.holds_other_tables(con):
            con.execute("ROLLBACK")
            raise AnalyticsError(f"{backend}: this database is not an outcomes store; use another --db.")
        if version > 0 and not backed_up:
            con.execute("ROLLBACK")
            backend.backup_before_migration(con, version)
            backed_up = True
            continue
        try:
            for step in range(version, SCHEMA_VERSION):
                if callable(_MIGRATIONS[step]):
                    _MIGRATIONS[step](con)
                else:
                    for statement in _statements(_MIGRATIONS[step]):
                        con.execute(statement)
                backend.set_schema_version(con, step + 1)
            con.execute("COMMIT")
            return
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """SQL statements of a migration, cut where SQLite says a statement is complete (trigger bodies stay whole)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    return [statement for statement in out if statement.strip(" ;\n")]


def record_audit(action: str, details: dict, *, db=None, user: str = "local", con=None) -> int:
    """Append one chained entry to the audit trail (see :mod:`analytics.audit`, where the trail lives)."""
    from .audit import record_audit as append

    return append(action, details, db=db, user=user, con=con)


def list_audit(db=None) -> pd.DataFrame:
    """The audit trail, oldest first (see :func:`analytics.audit.list_audit`)."""
    from .audit import list_audit as listing

    return listing(db)


# ----------------------------------------------------------------------------- rows

def _occasion(frame: pd.DataFrame) -> pd.Series:
    """The questionnaire's identity within a patient: its date, else 'day:N'."""
    if "assessment_date" in frame:
        dates = frame["assessment_date"].dt.strftime("%Y-%m-%d")
    else:
        dates = pd.Series(pd.NA, index=frame.index, dtype="str")
    given = frame["_given_day"]
    day = "day:" + given.astype("str")
    if "episode" in frame:  # day layout with several episodes: the day counts from its episode's start
        ep = frame["episode"].astype("int64")
        day = day.where(ep <= 1, "episode:" + ep.astype("str") + " " + day)
    return dates.fillna(day)


def _store_rows(report: ValidationReport, raw: RawTable) -> pd.DataFrame:
    """Rows to store, one per canonical questionnaire, holding the values as given."""
    frame = report.frame
    rows = pd.DataFrame({"patient_id": frame["patient_id"].astype("str")}, index=frame.index)
    # the given day (not the computed study day) is what the file said
    if "day" in raw.frame:
        raw_day = pd.to_numeric(raw.frame["day"].astype("str").str.strip().replace("", None), errors="coerce")
        idx = np.searchsorted(raw.lines, frame["line"].to_numpy())
        rows["_given_day"] = pd.array(raw_day.to_numpy()[idx], dtype="Int64")
    else:
        rows["_given_day"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    rows["occasion"] = _occasion(frame.assign(_given_day=rows["_given_day"]))
    for c in ("assessment_date", "treatment_start_date"):
        rows[c] = frame[c].dt.strftime("%Y-%m-%d") if c in frame else pd.Series(pd.NA, index=frame.index,
                                                                                dtype="str")
    rows["day"] = rows.pop("_given_day")
    for c in _SCORE_COLUMNS + ["infusion_number"]:
        rows[c] = frame[c].astype("Int64") if c in frame else pd.array([pd.NA] * len(frame), dtype="Int64")
    known = {"patient_id", "day", "assessment_date", "treatment_start_date", "complete", "line", "infusion_number",
             "episode", *_SCORE_COLUMNS}
    # the episode is kept only when the file gave it (day layout); otherwise it follows from the start dates
    attrs = sorted(c for c in frame.columns if c not in known or (c == "episode" and "episode" in raw.frame))
    if attrs:
        rows["attributes"] = frame[attrs].astype(object).to_json(orient="records", lines=True).splitlines()
    else:
        rows["attributes"] = "{}"
    rows["line"] = frame["line"].to_numpy()
    return rows.reset_index(drop=True)


def _stored_rows(con) -> pd.DataFrame:
    stored = con.read_columns("SELECT * FROM questionnaires")
    for c in _INT_COLUMNS:
        stored[c] = stored[c].astype("Int64")
    for c in ("patient_id", "occasion", "assessment_date", "treatment_start_date", "attributes"):
        stored[c] = stored[c].astype("str")
    return stored


def _as_raw_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows back into the input contract's columns (validated again on the way out)."""
    out = rows[["patient_id", "assessment_date", "day", "treatment_start_date", *_SCORE_COLUMNS,
                "infusion_number"]].copy()
    for c in list(out.columns):
        if c not in ("patient_id",) and out[c].isna().all():
            del out[c]
    if "assessment_date" not in out and "day" not in out:
        out["day"] = rows["day"]
    attrs = rows["attributes"].fillna("{}")
    if (attrs != "{}").any():
        extra = pd.read_json(io.StringIO("\n".join(attrs)), lines=True, dtype=False)
        extra = extra.astype(object).where(extra.notna(), None).astype("str").replace("None", "")
        out = pd.concat([out.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    return out


# ----------------------------------------------------------------------------- import

@_reports_store_errors
def import_questionnaires(source, *, db=None, file_name: str | None = None, sha256: str = "",
                          source_format: str = "csv", mapping: str | None = None,
                          accept_corrections: bool = False, user: str = "local") -> ImportResult:
    """Validate questionnaire data and add it to the store in one transaction.

    Parameters
    ----------
    source : str, pathlib.Path, RawTable or pandas.DataFrame
        A file, a table already read (mapping, REDCap and FHIR readers give one).
    db : path, optional
        The store; defaults to :func:`default_db_path`.
    accept_corrections : bool
        Let new values replace stored ones; the old values go to ``corrections``.

    Returns
    -------
    ImportResult

    Raises
    ------
    QuestionnaireValidationError
        The data (alone, or together with the store) are refused; nothing written.
    ImportConflictError
        Stored questionnaires would change and corrections were not accepted.
    StoreBusyError
        Another import holds the store for longer than the busy timeout.
    """
    raw = _as_raw_table(source)
    name = file_name or raw.source
    digest = sha256 or raw.sha256
    facts = {"file": name, "sha256": digest, "format": source_format, "mapping": mapping,
             "accept_corrections": accept_corrections}
    report = validate_questionnaires(raw)
    if not report.ok:
        record_audit("import refused", {**facts, "reason": f"{len(report.errors)} validation problem(s)"}, db=db,
                     user=user)
        report.raise_if_invalid()
    new = _store_rows(report, raw)
    con = open_store(db)
    try:
        con.begin_write()  # one writer at a time; readers carry on (WAL; MVCC in PostgreSQL)
        try:
            result = _write_import(con, new, report, name, digest, source_format, mapping, accept_corrections, user,
                                   raw.notes)
            record_audit("import" if not result.changed_nothing else "import (no change)",
                         {**facts, "import_id": result.import_id, "rows_read": result.rows_read,
                          "added": result.added, "unchanged": result.unchanged, "corrected": result.corrected},
                         con=con, user=user)
            con.execute("COMMIT")
            return result
        except (ImportConflictError, QuestionnaireValidationError) as exc:
            con.execute("ROLLBACK")
            record_audit("import refused", {**facts, "reason": type(exc).__name__}, con=con, user=user)
            raise
        except BaseException:
            if con.in_transaction:  # SQLite may already have rolled back (a full disk does)
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def _as_raw_table(source) -> RawTable:
    from .loading import raw_table_from_frame, read_table

    if isinstance(source, RawTable):
        return source
    if isinstance(source, pd.DataFrame):
        return raw_table_from_frame(source)
    return read_table(source)


def _write_import(con, new, report, name, digest, source_format, mapping, accept, user, notes=()) -> ImportResult:
    stored = _stored_rows(con)
    merged = new.merge(stored, on=["patient_id", "occasion"], how="left", suffixes=("", "_stored"),
                       indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    differs = np.zeros(len(merged), bool)
    changes = []
    for c in _VALUE_COLUMNS:
        a, b = merged[c], merged[f"{c}_stored"]
        diff = ~is_new & ~((a == b).fillna(False) | (a.isna() & b.isna())).to_numpy()
        differs |= diff
        if diff.any():
            changes.append(pd.DataFrame({
                "line": merged.loc[diff, "line"].to_numpy(), "patient_id": merged.loc[diff, "patient_id"].to_numpy(),
                "occasion": merged.loc[diff, "occasion"].to_numpy(), "column": c,
                "stored": merged.loc[diff, f"{c}_stored"].astype("str").to_numpy(),
                "new": merged.loc[diff, c].astype("str").to_numpy()}))
    unchanged = int((~is_new & ~differs).sum())
    if differs.any() and not accept:
        table = pd.concat(changes, ignore_index=True).sort_values(["line", "column"], ignore_index=True)
        raise ImportConflictError(table, name)

    # the store and the file together must still be valid (e.g. one start date per patient)
    replaced = set(merged.loc[differs, "id"].astype("int64"))
    combined = pd.concat([stored[~stored["id"].isin(replaced)], new[is_new | differs]], ignore_index=True)
    together = validate_questionnaires(_as_raw_frame(combined))
    if not together.ok:
        raise QuestionnaireValidationError(
            together.errors.assign(line=None, problem="with the questionnaires already in the store: "
                                   + together.errors["problem"]), name)

    warnings = report.warnings
    import_id = con.execute(
        # the next number after the last (as SQLite numbers rows): a refused import leaves no gap on either backend
        "INSERT INTO imports (id, kind, file_name, sha256, source_format, mapping, user, started_at, rows_read, "
        "warnings, warning_summary) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM imports), 'import', ?, ?, ?, ?, ?, "
        "?, ?, ?, ?) RETURNING id",
        (name, digest, source_format, mapping, user, _now(), int(report.counts.get("rows_read", 0)),
         len(warnings), "; ".join([*notes, _warning_summary(warnings)]).strip("; "))).fetchone()[0]
    added = new[is_new]
    if len(added):
        cols = ["patient_id", "occasion", *_VALUE_COLUMNS]
        con.insert_rows(
            "questionnaires", [*cols, "import_id"],
            (tuple(_py(v) for v in row) + (import_id,) for row in added[cols].itertuples(index=False, name=None)))
    corrected = merged[differs]
    for row in corrected.to_dict("records"):  # corrections are few; each keeps its own history row
        old = {c: _py(row[f"{c}_stored"]) for c in _VALUE_COLUMNS}
        new_values = {c: _py(row[c]) for c in _VALUE_COLUMNS}
        con.execute("INSERT INTO corrections (questionnaire_id, patient_id, occasion, import_id, old_values, "
                    "new_values) VALUES (?, ?, ?, ?, ?, ?)",
                    (int(row["id"]), row["patient_id"], row["occasion"], import_id, json.dumps(old),
                     json.dumps(new_values)))
        con.execute(f"UPDATE questionnaires SET {', '.join(f'{c} = ?' for c in _VALUE_COLUMNS)} WHERE id = ?",
                    (*new_values.values(), int(row["id"])))
    counts = dict(added=int(is_new.sum()), unchanged=unchanged, corrected=int(differs.sum()))
    if counts["added"] == 0 and counts["corrected"] == 0:
        # nothing changed: leave no import record, so the history shows only what changed the store
        con.execute("DELETE FROM imports WHERE id = ?", (import_id,))
        import_id = None
    else:
        con.execute("UPDATE imports SET added = ?, unchanged = ?, corrected = ?, finished_at = ? WHERE id = ?",
                    (counts["added"], counts["unchanged"], counts["corrected"], _now(), import_id))
    return ImportResult(import_id, name, digest, int(report.counts.get("rows_read", 0)), counts["added"],
                        counts["unchanged"], counts["corrected"], len(warnings), report)


def _py(value):
    """A value SQLite stores as is (no numpy scalars, no pandas NA)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _warning_summary(warnings: pd.DataFrame) -> str:
    if warnings.empty:
        return ""
    kinds = warnings["problem"].str.replace(r"line \d+", "line N", regex=True).str.slice(0, 80).value_counts()
    return "; ".join(f"{n} x {k}" for k, n in kinds.items())


# ----------------------------------------------------------------------------- history

@_reports_store_errors
def list_imports(db=None) -> pd.DataFrame:
    """The import history, newest last: what each import and revert did."""
    con = open_store(db, create=False)
    try:
        return con.read_frame(
            "SELECT id, kind, file_name, sha256, source_format, mapping, user, started_at, finished_at, rows_read, "
            "added, unchanged, corrected, removed, restored, warnings, warning_summary, reverts, reverted_by "
            "FROM imports ORDER BY id")
    finally:
        con.close()


def revert_import(import_id: int, *, db=None, user: str = "local") -> int:
    """Remove what an import added and restore the values it corrected.

    The revert is recorded as its own history entry (returned).  Refused when
    a later, unreverted import changed the same questionnaires: revert that first.
    """
    con = open_store(db, create=False)
    try:
        con.begin_write()
        try:
            row = con.execute("SELECT kind, reverted_by, file_name FROM imports WHERE id = ?", (import_id,)).fetchone()
            if row is None:
                raise AnalyticsError(f"there is no import {import_id}; list them with: python -m analytics imports")
            kind, reverted_by, file_name = row
            if kind != "import":
                raise AnalyticsError(f"entry {import_id} is itself a revert; import the file again instead.")
            if reverted_by is not None:
                raise AnalyticsError(f"import {import_id} was already reverted (entry {reverted_by}).")
            later = con.execute(
                "SELECT DISTINCT c.import_id FROM corrections c JOIN questionnaires q ON q.id = c.questionnaire_id "
                "WHERE c.import_id > ? AND c.reverted_by IS NULL AND (q.import_id = ? OR c.questionnaire_id IN "
                "(SELECT questionnaire_id FROM corrections WHERE import_id = ?))",
                (import_id, import_id, import_id)).fetchall()
            if later:
                ids = ", ".join(str(r[0]) for r in later)
                raise AnalyticsError(f"import(s) {ids} later corrected questionnaires of import {import_id}; "
                                     f"revert those first.")
            revert_id = con.execute(
                "INSERT INTO imports (id, kind, file_name, sha256, source_format, user, started_at, reverts) "
                "VALUES ((SELECT coalesce(max(id), 0) + 1 FROM imports), 'revert', ?, '', 'revert', ?, ?, ?) "
                "RETURNING id",
                (f"revert of import {import_id} ({file_name})", user, _now(), import_id)).fetchone()[0]
            restored = 0
            for q_id, old in con.execute("SELECT questionnaire_id, old_values FROM corrections WHERE import_id = ? "
                                         "ORDER BY id DESC", (import_id,)).fetchall():
                values = json.loads(old)
                con.execute(f"UPDATE questionnaires SET {', '.join(f'{c} = ?' for c in values)} WHERE id = ?",
                            (*values.values(), q_id))
                restored += 1
            con.execute("UPDATE corrections SET reverted_by = ? WHERE import_id = ?", (revert_id, import_id))
            removed = con.execute("DELETE FROM questionnaires WHERE import_id = ?", (import_id,)).rowcount
            con.execute("UPDATE imports SET removed = ?, restored = ?, finished_at = ? WHERE id = ?",
                        (removed, restored, _now(), revert_id))
            con.execute("UPDATE imports SET reverted_by = ? WHERE id = ?", (revert_id, import_id))
            record_audit("revert", {"import_id": import_id, "revert_id": revert_id, "file": file_name,
                                    "removed": removed, "restored": restored}, con=con, user=user)
            con.execute("COMMIT")
            return revert_id
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()


# ----------------------------------------------------------------------------- reading

@_reports_store_errors
def store_has_data(db=None) -> bool:
    """True when the store exists and holds at least one questionnaire."""
    path = db if db is not None else default_db_path()
    if not store_backend(path).exists():
        return False
    con = open_store(path, create=False)
    try:
        return con.execute("SELECT EXISTS (SELECT 1 FROM questionnaires)").fetchone()[0] == 1
    finally:
        con.close()


@_reports_store_errors
def store_fingerprint(db=None) -> str:
    """Which imports the store's contents come from, e.g. ``"imports 1,2,4"`` (for reports and manifests)."""
    con = open_store(db, create=False)
    try:
        ids = [r[0] for r in con.execute("SELECT DISTINCT import_id FROM questionnaires ORDER BY import_id")]
        return "imports " + ",".join(map(str, ids)) if ids else "empty store"
    finally:
        con.close()


@_reports_store_errors
def read_store(db=None) -> ValidationReport:
    """Everything in the store as a validation report whose ``frame`` is the canonical frame.

    Raises
    ------
    AnalyticsError
        When there is no store, or it holds no questionnaire yet.
    """
    path = db if db is not None else default_db_path()
    con = open_store(path, create=False)
    try:
        rows = _stored_rows(con)
    finally:
        con.close()
    if rows.empty:
        raise AnalyticsError(f"{path}: the store holds no questionnaire yet. Import a file first: "
                             "python -m analytics import FILE")
    rows = rows.sort_values("id", kind="stable", ignore_index=True)
    report = validate_questionnaires(_as_raw_frame(rows))
    name = Path(path).name if not is_postgres_url(path) else str(store_backend(path))
    return ValidationReport(f"store {name} ({store_fingerprint(path)})", report.errors, report.warnings,
                            report.counts, report.frame, "")


# ----------------------------------------------------------------------------- saved cohorts

def save_cohort(name: str, definition: dict, *, fingerprint: str, db=None, user: str = "local") -> None:
    """Save a named cohort definition with the data fingerprint it was saved against.

    The first to save a name owns it: only the owner may replace it (anyone else picks another
    name).  Every save, and every refused save, is on the audit trail.
    """
    from .audit import record_audit
    from .cohorts import check_cohort_definition

    if not name or not name.strip():
        raise AnalyticsError("a cohort needs a name.")
    name = name.strip()
    definition = check_cohort_definition(definition)
    facts = {"cohort": name, "definition": definition, "fingerprint": fingerprint}
    con = open_store(db)
    try:
        con.begin_write()
        try:
            row = con.execute("SELECT owner FROM cohorts WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != user:
                record_audit("cohort save refused", {**facts, "owner": row[0]}, con=con, user=user)
                con.execute("COMMIT")
                raise AnalyticsError(f"cohort {name!r} belongs to {row[0]}; only they can replace it. Save yours "
                                     "under another name.")
            con.execute("INSERT INTO cohorts (name, definition, fingerprint, saved_at, user, owner) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, "
                        "fingerprint = excluded.fingerprint, saved_at = excluded.saved_at, user = excluded.user",
                        (name, json.dumps(definition, sort_keys=True), fingerprint, _now(), user, user))
            record_audit("cohort save", {**facts, "replaced": row is not None}, con=con, user=user)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def list_cohorts(db=None) -> pd.DataFrame:
    """Saved cohorts: name, definition (JSON), fingerprint, saved_at, user (who saved it last), owner."""
    con = open_store(db, create=False)
    try:
        return con.read_frame("SELECT name, definition, fingerprint, saved_at, user, owner FROM cohorts "
                              "ORDER BY name")
    finally:
        con.close()


def load_cohort(name: str, db=None) -> dict:
    """``{"name", "definition", "fingerprint", "saved_at", "user", "owner"}`` of a saved cohort."""
    con = open_store(db, create=False)
    try:
        row = con.execute("SELECT name, definition, fingerprint, saved_at, user, owner FROM cohorts WHERE name = ?",
                          (name,)).fetchone()
    finally:
        con.close()
    if row is None:
        raise AnalyticsError(f"there is no saved cohort {name!r}; list them with: python -m analytics cohort list")
    return {"name": row[0], "definition": json.loads(row[1]), "fingerprint": row[2], "saved_at": row[3],
            "user": row[4], "owner": row[5]}


# ----------------------------------------------------------------------------- study-id keys

def save_study_key(export_id: str, key: pd.DataFrame, *, cohort: str, db=None, user: str = "local") -> None:
    """Keep the key of one research export (``study_id``, ``patient_id`` columns) in the store, in one transaction.

    The key never goes into the export folder: only the clinic, with its
    store, can link a study id back to its own pseudonym.
    """
    con = open_store(db)
    try:
        con.begin_write()
        try:
            con.execute("INSERT INTO research_exports (export_id, cohort, created_at, user, patients) "
                        "VALUES (?, ?, ?, ?, ?)", (export_id, cohort, _now(), user, len(key)))
            con.insert_rows("study_keys", ["export_id", "study_id", "patient_id"],
                            zip([export_id] * len(key), key["study_id"].astype("str"),
                                key["patient_id"].astype("str")))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def load_study_key(export_id: str, db=None) -> pd.DataFrame:
    """The key of one research export: ``study_id``, ``patient_id`` (the clinic's pseudonym), by study id.

    Raises
    ------
    AnalyticsError
        When the store holds no export with this id.
    """
    con = open_store(db, create=False)
    try:
        key = con.read_frame("SELECT study_id, patient_id FROM study_keys WHERE export_id = ? ORDER BY study_id",
                             (export_id,))
    finally:
        con.close()
    if key.empty:
        raise AnalyticsError(f"{export_id}: no research export with this id in the store. The export id is in the "
                             "export's cohort.json.")
    return key
