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
* The schema is versioned (``PRAGMA user_version``) and migrated on open, after
  a backup copy of the file is written.

Reading the store gives the same canonical frame as reading the files directly:
rows are re-validated on the way out, so study days, baselines and everything
downstream are computed exactly as for a file.

This module is imports, history, reverts and reads.  The rest of the store lives
beside it (all names stay importable from here):

* :mod:`analytics.store_schema` -- tables and migrations, ``SCHEMA_VERSION``;
* :mod:`analytics.store_connection` -- the path, ``open_store``, SQLite errors as messages;
* :mod:`analytics.audit` -- the hash-chained audit trail;
* :mod:`analytics.saved_cohorts` -- saved research cohorts;
* :mod:`analytics.study_keys` -- the study-id keys of research exports.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .audit import list_audit, record_audit
from .errors import (
    AnalyticsError,
    ImportConflictError,
    QuestionnaireValidationError,
    StoreBusyError,
    StoreUnusableError,
)
from .loading import RawTable
from .saved_cohorts import list_cohorts, load_cohort, save_cohort
from .store_backends import store_backend
from .store_connection import (
    BUSY_TIMEOUT_S,
    DEFAULT_DB,
    default_db_path,
    open_store,
    reports_store_errors,
    store_error,
    utc_now,
)
from .store_schema import INT_COLUMNS, MIGRATIONS, SCHEMA_VERSION, SCORE_COLUMNS, VALUE_COLUMNS, sql_statements
from .study_keys import load_study_key, save_study_key
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
    # kept here for callers of earlier versions; they live in their own modules
    "save_cohort",
    "list_cohorts",
    "load_cohort",
    "record_audit",
    "list_audit",
    "save_study_key",
    "load_study_key",
]

# earlier private names, still used by tests that build old schemas by hand
_MIGRATIONS = MIGRATIONS
_statements = sql_statements
_now = utc_now
_reports_store_errors = reports_store_errors


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
    for c in SCORE_COLUMNS + ["infusion_number"]:
        rows[c] = frame[c].astype("Int64") if c in frame else pd.array([pd.NA] * len(frame), dtype="Int64")
    known = {"patient_id", "day", "assessment_date", "treatment_start_date", "complete", "line", "infusion_number",
             "episode", *SCORE_COLUMNS}
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
    for c in INT_COLUMNS:
        stored[c] = stored[c].astype("Int64")
    for c in ("patient_id", "occasion", "assessment_date", "treatment_start_date", "attributes"):
        stored[c] = stored[c].astype("str")
    return stored


def _as_raw_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows back into the input contract's columns (validated again on the way out)."""
    out = rows[["patient_id", "assessment_date", "day", "treatment_start_date", *SCORE_COLUMNS,
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

@reports_store_errors
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
    _keep_stored_where_blank(merged, is_new)
    new = new.assign(**{c: merged[c].set_axis(new.index) for c in VALUE_COLUMNS})  # checked with the store below
    differs = np.zeros(len(merged), bool)
    changes = []
    for c in VALUE_COLUMNS:
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
        (name, digest, source_format, mapping, user, utc_now(), int(report.counts.get("rows_read", 0)),
         len(warnings), "; ".join([*notes, _warning_summary(warnings)]).strip("; "))).fetchone()[0]
    added = new[is_new]
    if len(added):
        cols = ["patient_id", "occasion", *VALUE_COLUMNS]
        con.insert_rows(
            "questionnaires", [*cols, "import_id"],
            (tuple(_py(v) for v in row) + (import_id,) for row in added[cols].itertuples(index=False, name=None)))
    corrected = merged[differs]
    for row in corrected.to_dict("records"):  # corrections are few; each keeps its own history row
        old = {c: _py(row[f"{c}_stored"]) for c in VALUE_COLUMNS}
        new_values = {c: _py(row[c]) for c in VALUE_COLUMNS}
        con.execute("INSERT INTO corrections (questionnaire_id, patient_id, occasion, import_id, old_values, "
                    "new_values) VALUES (?, ?, ?, ?, ?, ?)",
                    (int(row["id"]), row["patient_id"], row["occasion"], import_id, json.dumps(old),
                     json.dumps(new_values)))
        con.execute(f"UPDATE questionnaires SET {', '.join(f'{c} = ?' for c in VALUE_COLUMNS)} WHERE id = ?",
                    (*new_values.values(), int(row["id"])))
    counts = dict(added=int(is_new.sum()), unchanged=unchanged, corrected=int(differs.sum()))
    if counts["added"] == 0 and counts["corrected"] == 0:
        # nothing changed: leave no import record, so the history shows only what changed the store
        con.execute("DELETE FROM imports WHERE id = ?", (import_id,))
        import_id = None
    else:
        con.execute("UPDATE imports SET added = ?, unchanged = ?, corrected = ?, finished_at = ? WHERE id = ?",
                    (counts["added"], counts["unchanged"], counts["corrected"], utc_now(), import_id))
    return ImportResult(import_id, name, digest, int(report.counts.get("rows_read", 0)), counts["added"],
                        counts["unchanged"], counts["corrected"], len(warnings), report)


def _keep_stored_where_blank(merged: pd.DataFrame, is_new: np.ndarray) -> None:
    """A value the file leaves blank is not a correction: the stored value stands (in place, on ``merged``).

    So a totals-only export of questionnaires stored with their items never wipes the items: its total
    either agrees with them (nothing changes) or is a conflict on the total alone.  Attributes are
    merged key by key the same way (a file without the site column keeps the stored site).
    """
    old = ~is_new
    for c in VALUE_COLUMNS:
        if c == "attributes":
            continue
        blank = old & merged[c].isna().to_numpy() & merged[f"{c}_stored"].notna().to_numpy()
        if blank.any():
            merged.loc[blank, c] = merged.loc[blank, f"{c}_stored"]
    a, b = merged["attributes"].astype("str"), merged["attributes_stored"].astype("str")
    differ = np.flatnonzero(old & (a != b).to_numpy() & (b != "{}").to_numpy())
    if len(differ):  # few rows: only where the stored attributes are not those of the file
        combined = []
        for new_text, stored_text in zip(a.iloc[differ], b.iloc[differ]):
            stored = json.loads(stored_text)
            given = {k: v for k, v in json.loads(new_text).items() if v not in (None, "")}
            both = {**stored, **given}
            # unchanged keeps the stored text byte for byte, so it compares equal below
            combined.append(stored_text if both == stored else json.dumps(both, sort_keys=True,
                                                                           separators=(",", ":")))
        merged.iloc[differ, merged.columns.get_loc("attributes")] = combined


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

@reports_store_errors
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


@reports_store_errors
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
                (f"revert of import {import_id} ({file_name})", user, utc_now(), import_id)).fetchone()[0]
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
                        (removed, restored, utc_now(), revert_id))
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

@reports_store_errors
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


@reports_store_errors
def store_fingerprint(db=None) -> str:
    """Which imports the store's contents come from, e.g. ``"imports 1,2,4"`` (for reports and manifests)."""
    con = open_store(db, create=False)
    try:
        ids = [r[0] for r in con.execute("SELECT DISTINCT import_id FROM questionnaires ORDER BY import_id")]
        return "imports " + ",".join(map(str, ids)) if ids else "empty store"
    finally:
        con.close()


@reports_store_errors
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
    source = f"store {store_backend(path).short_name} ({store_fingerprint(path)})"
    return ValidationReport(source, report.errors, report.warnings,
                            report.counts, report.frame, "")
