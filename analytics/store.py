"""The clinic's questionnaire store: an embedded SQLite database that keeps every import.

* Every import is validated first (the same validator as files), then written in
  one transaction: a killed import leaves the store exactly as it was.  The store
  must stay valid as a whole; every cross-row rule is within one patient, so only
  the patients the file touches are validated again with their stored rows
  (:mod:`analytics.store_revalidation`), and memory follows the file.
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

import dataclasses
import functools
import hashlib
import io
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .audit import list_audit, record_audit
from .errors import (
    AnalyticsError,
    ImportConflictError,
    QuestionnaireValidationError,
    StoreBusyError,
    StoreUnusableError,
)
from .loading import RawTable, raw_table_from_frame
from .progress import ProgressCallback, progress_reporter
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
from .store_snapshot import (
    SnapshotWriter,
    read_snapshot,
    read_snapshot_rows,
    snapshot_directory,
    snapshot_key,
    snapshot_row_groups,
    snapshot_rows_file,
    write_snapshot,
)
from .store_schema import (DERIVED_SCORE_COLUMNS, INT_COLUMNS, MIGRATIONS, SCHEMA_VERSION, SCORE_COLUMNS, VALUE_COLUMNS,
                           sql_statements)
from .store_revalidation import empty_store_report, merged_store_report
from .study_keys import load_study_key, save_study_key
from .validation import ValidationReport, validate_questionnaires

__all__ = [
    "DEFAULT_DB",
    "STORE_STATE_ATTR",
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

#: ``read_store(...).frame.attrs`` key of the store state the frame was read in (the snapshot key).
STORE_STATE_ATTR = "outcomes_store_state"

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

def _text_from_codes(codes: np.ndarray, uniques, index, name) -> pd.Series:
    """Text column from codes into distinct values (-1 = missing), built in Arrow rather than one object per row."""
    text = pa.array(np.asarray(uniques, dtype=object), pa.string())
    chunks = []
    # in blocks of rows: one Arrow text array holds at most 2 GB (the attributes of 22 million questionnaires
    # are more), a chunked one has no such limit
    for start in range(0, max(len(codes), 1), _INSERT_BLOCK):
        part = np.asarray(codes[start:start + _INSERT_BLOCK])
        missing = part < 0
        indices = pa.array(np.where(missing, 0, part).astype("int32"), mask=missing if missing.any() else None)
        chunks.append(pa.DictionaryArray.from_arrays(indices, text).cast(pa.string()))
    return pd.Series(pa.chunked_array(chunks, pa.string()), index=index, name=name, dtype="str")


def _iso_dates(col: pd.Series) -> pd.Series:
    """Dates as ``YYYY-MM-DD`` text (missing stays missing); each distinct date is formatted once."""
    codes, uniques = pd.factorize(col)
    return _text_from_codes(codes, pd.DatetimeIndex(uniques).strftime("%Y-%m-%d"), col.index, col.name)


def _as_text(col: pd.Series) -> pd.Series:
    """A column as text; a categorical one through its categories (each formatted once)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return _text_from_codes(col.cat.codes.to_numpy(), col.cat.categories.astype("str"), col.index, col.name)
    return col.astype("str")


def _occasion(frame: pd.DataFrame, dates: pd.Series | None = None) -> pd.Series:
    """The questionnaire's identity within a patient: its date, else 'day:N' (``dates``: the dates as text, when
    already made)."""
    if dates is not None:
        occasion = dates.copy()
    elif "assessment_date" in frame:
        occasion = _iso_dates(frame["assessment_date"])
    else:
        occasion = pd.Series(pd.NA, index=frame.index, dtype="str")
    undated = occasion.isna().to_numpy()
    if undated.any():
        given = frame.loc[undated, "_given_day"]
        day = "day:" + given.astype("str")
        if "episode" in frame:  # day layout with several episodes: the day counts from its episode's start
            ep = frame.loc[undated, "episode"].astype("int64")
            day = day.where(ep <= 1, "episode:" + ep.astype("str") + " " + day)
        occasion[undated] = day
    return occasion


def _attributes_json(frame: pd.DataFrame, attrs: list[str]) -> pd.Series:
    """One JSON object per row of the extra columns; each distinct combination is serialised once."""
    columns = frame[attrs]
    # the combination's number from each column's codes (missing = its own code), renumbered after each column
    # so it stays below the row count; faster than a group-by over the columns
    group = np.zeros(len(columns), dtype="int64")
    for c in attrs:
        codes, uniques = pd.factorize(columns[c])
        group = pd.factorize(group * (len(uniques) + 1) + (codes + 1))[0]
    _, first, group = np.unique(group, return_index=True, return_inverse=True)
    text = columns.iloc[first].astype(object).to_json(orient="records", lines=True).splitlines()
    return _text_from_codes(group, text, frame.index, "attributes")


def _store_rows(report: ValidationReport, raw: RawTable) -> pd.DataFrame:
    """Rows to store, one per canonical questionnaire, holding the values as given."""
    frame = report.frame
    rows = pd.DataFrame({"patient_id": _as_text(frame["patient_id"])}, index=frame.index)
    # the given day (not the computed study day) is what the file said
    if "day" in raw.frame:
        raw_day = pd.to_numeric(raw.frame["day"].astype("str").str.strip().replace("", None), errors="coerce")
        idx = np.searchsorted(raw.lines, frame["line"].to_numpy())
        rows["_given_day"] = pd.array(raw_day.to_numpy()[idx], dtype="Int64")
    else:
        rows["_given_day"] = _all_missing(len(frame))
    dates = {c: _iso_dates(frame[c]) if c in frame else pd.Series(pd.NA, index=frame.index, dtype="str")
             for c in ("assessment_date", "treatment_start_date")}
    rows["occasion"] = _occasion(frame.assign(_given_day=rows["_given_day"]), dates["assessment_date"])
    for c, text in dates.items():
        rows[c] = text
    rows["day"] = rows.pop("_given_day")
    # the store has many score columns (several instruments) and a file gives a few: the absent ones share one
    # read-only all-missing array (not a list of NA objects each, which cost seconds and a GB at 100,000
    # patients); a write to one of them copies it first (copy on write), or fails, never changes the others
    missing = _all_missing(len(frame))
    # a score keeps the frame's own nullable integer type (Int8 for most): shared with the frame, not an Int64
    # copy of it (that copy was the largest part of an import's memory)
    scores = {c: (_nullable_integers(frame[c]) if c in frame else missing) for c in SCORE_COLUMNS + ["infusion_number"]}
    rows = pd.concat([rows, pd.DataFrame(scores, index=rows.index, copy=False)], axis=1)
    known = {"patient_id", "day", "assessment_date", "treatment_start_date", "complete", "line", "infusion_number",
             "episode", *SCORE_COLUMNS, *DERIVED_SCORE_COLUMNS}
    # the episode is kept only when the file gave it (day layout); otherwise it follows from the start dates
    attrs = sorted(c for c in frame.columns if c not in known or (c == "episode" and "episode" in raw.frame))
    if attrs:
        rows["attributes"] = _attributes_json(frame, attrs)
    else:
        rows["attributes"] = "{}"
    rows["line"] = frame["line"].to_numpy()
    return rows.reset_index(drop=True)


def _nullable_integers(col: pd.Series) -> pd.arrays.IntegerArray:
    if isinstance(col.array, pd.arrays.IntegerArray):
        return col.array
    return col.astype("Int64").array


def _all_missing(n: int) -> pd.arrays.IntegerArray:
    data, mask = np.zeros(n, "int64"), np.ones(n, bool)
    data.flags.writeable = False
    mask.flags.writeable = False
    return pd.arrays.IntegerArray(data, mask)


_TEXT_COLUMNS = ("patient_id", "occasion", "assessment_date", "treatment_start_date", "attributes")
_ROW_COLUMNS = ["id", "patient_id", "occasion", *VALUE_COLUMNS, "import_id"]
#: The stored rows as the snapshot keeps them: with each row's digest (see :func:`_content_hash`).
_SNAPSHOT_ROW_COLUMNS = [*_ROW_COLUMNS, "content_hash"]


def _typed_rows(stored: pd.DataFrame) -> pd.DataFrame:
    """Stored rows with the dtypes every comparison expects (Int64 numbers, text)."""
    for c in INT_COLUMNS:
        stored[c] = stored[c].astype("Int64")
    for c in _TEXT_COLUMNS:
        stored[c] = stored[c].astype("str")
    for c in ("id", "import_id"):
        stored[c] = stored[c].astype("int64")
    return stored


def _stored_rows(con) -> pd.DataFrame:
    """Every row of ``questionnaires`` by id, read column by column (not cell by cell) by the backend."""
    return _typed_rows(con.read_columns(f"SELECT {', '.join(_ROW_COLUMNS)} FROM questionnaires ORDER BY id"))


def _as_raw_frame(rows: pd.DataFrame, *, present=None, attributes: list | None = None) -> pd.DataFrame:
    """Stored rows back into the input contract's columns (validated again on the way out).

    ``rows`` may be some of the store's rows only: ``present`` (the value columns holding a value in any row) and
    ``attributes`` (every distinct attribute object, in order of first use) then say what all rows have, so the
    raw frame has the columns and cell text it has among all rows."""
    # only the columns holding a value (a store has dozens of score columns, a file a few); no deep copy:
    # copy on write keeps ``rows`` as it is (copying every score column cost seconds and a GB at 100,000 patients)
    wanted = ["patient_id", "assessment_date", "day", "treatment_start_date", *SCORE_COLUMNS, "infusion_number"]
    out = rows[[c for c in wanted if c == "patient_id" or (c in present if present is not None
                                                           else rows[c].notna().any())]]
    if "assessment_date" not in out and "day" not in out:
        out["day"] = rows["day"]
    table = _attribute_table(rows, attributes)
    if table is not None:
        codes, extra = table
        out = pd.concat([out.reset_index(drop=True), extra.take(codes).reset_index(drop=True)], axis=1)
    return out


def _attribute_table(rows: pd.DataFrame, uniques: list | None = None):
    """(each row's code, the distinct attribute objects as text columns), or None when no object has a value.
    ``uniques``: the distinct objects (in order of first use) when they are more than those of ``rows``."""
    attrs = rows["attributes"].fillna("{}")
    if uniques is None:
        codes, uniques = pd.factorize(attrs)
    else:
        codes = pd.Index(uniques).get_indexer(attrs)
    if all(u == "{}" for u in uniques):
        return None
    # each distinct attribute object is parsed once; its columns' types follow from the same set of values
    extra = pd.read_json(io.StringIO("\n".join(uniques)), lines=True, dtype=False)
    extra = extra.astype(object).where(extra.notna(), None).astype("str").replace("None", "")
    return codes, extra


# ----------------------------------------------------------------------------- the state and its snapshot

def _store_state(con) -> str:
    """Key of the store's contents: its newest import or revert (only a committed change creates one)."""
    row = con.execute("SELECT id, kind, sha256, started_at, finished_at, added, corrected, removed, restored "
                      "FROM imports ORDER BY id DESC LIMIT 1").fetchone()
    return snapshot_key(row[0] if row else 0, json.dumps(row))


def _fingerprint(con) -> str:
    ids = [r[0] for r in con.execute("SELECT DISTINCT import_id FROM questionnaires ORDER BY import_id")]
    return "imports " + ",".join(map(str, ids)) if ids else "empty store"


def _rows_now(con, path, key: str, patients=None) -> pd.DataFrame:
    """The stored rows (of ``patients`` only, when given): from the snapshot of this state, else the database."""
    rows = read_snapshot_rows(snapshot_directory(path), key, patients=patients)
    if rows is None:
        rows = _stored_rows(con)
        if patients is not None:
            rows = rows[rows["patient_id"].isin(patients)].reset_index(drop=True)
        return rows
    return _typed_rows(rows)


def _validate_rows(rows: pd.DataFrame) -> ValidationReport:
    if not rows["id"].is_monotonic_increasing:  # (an import's rows already are: no copy of them all)
        rows = rows.sort_values("id", kind="stable", ignore_index=True)
    return validate_questionnaires(_as_raw_frame(rows.reset_index(drop=True)))


def _save_snapshot(path, key: str, report: ValidationReport, rows: pd.DataFrame, fingerprint: str) -> None:
    if report.ok:
        write_snapshot(snapshot_directory(path), key, frame=report.frame, errors=report.errors,
                       warnings=report.warnings, counts=report.counts, fingerprint=fingerprint,
                       rows=_with_content_hash(rows)[_SNAPSHOT_ROW_COLUMNS])


# ----------------------------------------------------------------------------- import

@reports_store_errors
def import_questionnaires(source, *, db=None, file_name: str | None = None, sha256: str = "",
                          source_format: str = "csv", mapping: str | None = None,
                          accept_corrections: bool = False, user: str = "local",
                          progress: ProgressCallback | None = None) -> ImportResult:
    """Validate questionnaire data and add it to the store in one transaction.

    Parameters
    ----------
    source : str, pathlib.Path, RawTable or pandas.DataFrame
        A file, a table already read (mapping, REDCap and FHIR readers give one).
    db : path, optional
        The store; defaults to :func:`default_db_path`.
    accept_corrections : bool
        Let new values replace stored ones; the old values go to ``corrections``.
    progress : callable, optional
        Called with a :class:`analytics.progress.Progress` at each stage (a large file takes a while).

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
    say = progress_reporter(progress)
    path = store_backend(db if db is not None else default_db_path())
    say("reading the file", 0.0)
    raw = _as_raw_table(source)
    name = file_name or raw.source
    digest = sha256 or raw.sha256
    facts = {"file": name, "sha256": digest, "format": source_format, "mapping": mapping,
             "accept_corrections": accept_corrections}
    say(f"checking {len(raw.frame):,} rows", 0.1)
    report = validate_questionnaires(raw)
    if not report.ok:
        record_audit("import refused", {**facts, "reason": f"{len(report.errors)} validation problem(s)"}, db=db,
                     user=user)
        report.raise_if_invalid()
    new = _store_rows(report, raw)
    notes = raw.notes
    del raw
    con = open_store(db)
    try:
        con.begin_write()  # one writer at a time; readers carry on (WAL; MVCC in PostgreSQL)
        after = None
        try:
            result, after = _write_import(con, path, new, report, name, digest, source_format, mapping,
                                          accept_corrections, user, notes, say)
            record_audit("import" if not result.changed_nothing else "import (no change)",
                         {**facts, "import_id": result.import_id, "rows_read": result.rows_read,
                          "added": result.added, "unchanged": result.unchanged, "corrected": result.corrected},
                         con=con, user=user)
            key = _store_state(con)
            say("committing", 0.93)
            con.execute("COMMIT")
        except (ImportConflictError, QuestionnaireValidationError) as exc:
            con.execute("ROLLBACK")
            record_audit("import refused", {**facts, "reason": type(exc).__name__}, con=con, user=user)
            raise
        except BaseException:
            if after is not None and after[0] is not None:  # written for a state that is not committed
                after[0].discard()
            if con.in_transaction:  # SQLite may already have rolled back (a full disk does)
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    if after is not None:  # what was validated inside the transaction, for the readers of this state
        say("writing the columnar snapshot for fast reads", 0.95)
        snapshot, counts, fingerprint = after
        if snapshot is not None:
            snapshot.publish(key, counts=counts, fingerprint=fingerprint)
    say("done", 1.0)
    return result


def _as_raw_table(source) -> RawTable:
    from .loading import raw_table_from_frame, read_table

    if isinstance(source, RawTable):
        return source
    if isinstance(source, pd.DataFrame):
        return raw_table_from_frame(source)
    return read_table(source)


#: Per stored row, a 64-bit digest of its values (kept in the snapshot beside the rows): a re-import compares
#: one number per questionnaire and reads the values of only the rows whose digest differs.
_HASH = "content_hash"
_KEY_COLUMNS = ["id", "patient_id", "occasion", _HASH]


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, in place on ``x`` (uint64; wraps around by design), returned."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _column_salt(column: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha256(column.encode()).digest()[:8], "little"))


def _content_hash(rows: pd.DataFrame) -> np.ndarray:
    """One int64 digest per row of its stored values (every column of ``VALUE_COLUMNS``), vectorised.

    Each present value adds a mixed digest of (column, value); a missing value adds nothing, so a column
    that no row has costs nothing and the digest does not depend on which columns a frame carries.  Two rows
    with the same values always have the same digest; rows that differ in any column differ in it except
    with probability about 2**-64.  Stable across processes (no per-process hash seed)."""
    total = np.zeros(len(rows), np.uint64)
    for c in VALUE_COLUMNS:
        if c not in rows:
            continue
        values = rows[c].array
        if isinstance(values, pd.arrays.IntegerArray):
            if values._mask.all():
                continue
            # the value (the same for Int8 and Int64) and the column, mixed in place: few passes over the data
            digest = values._data.astype(np.uint64)
            digest += _column_salt(c)
            digest = _splitmix(digest)
            digest[values._mask] = 0
        else:
            codes, uniques = pd.factorize(rows[c])  # text: each distinct value hashed once
            if len(uniques) == 0:
                continue
            mixed = _splitmix(pd.util.hash_array(np.asarray(uniques, dtype=object)) ^ _column_salt(c))
            digest = np.where(codes >= 0, mixed[np.maximum(codes, 0)], np.uint64(0))
        total += digest
    return total.view(np.int64)


def _with_content_hash(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with its digest column (computed when a database read does not have it)."""
    if _HASH in rows:
        return rows
    return rows.assign(**{_HASH: _content_hash(rows)})


def _stored_keys(con, path, key: str, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each of the file's questionnaires (rows of ``new``, whose keys are unique): the id of the stored one
    with its key (patient, occasion), -1 when it is new, and its stored digest.

    Only the snapshot's key and digest columns are read, a row group at a time: a re-import reads four columns,
    not eighty.  A group holding exactly the file's next rows (the same file again) is matched by one
    comparison; otherwise each group's keys are looked up in the file's keys by hash (Arrow's ``index_in``, no
    Python value per row).  Without a usable snapshot, from the database."""
    ids = np.full(len(new), -1, dtype="int64")
    digests = np.zeros(len(new), dtype="int64")
    file_keys = {c: pa.array(new[c].array) for c in ("patient_id", "occasion")}
    lookup = {}

    def file_key(c: str, kind: pa.DataType) -> pa.Array:
        """The file's key column as the snapshot's text type (the file's is cast once, not each group's)."""
        if file_keys[c].type != kind:
            file_keys[c] = file_keys[c].cast(kind)
        return file_keys[c]

    def general(table: pa.Table):
        if not lookup:
            patient_codes, patients = pd.factorize(new["patient_id"])
            occasion_codes, occasions = pd.factorize(new["occasion"])
            width = max(len(occasions), 1)
            lookup.update(patients=pa.array(np.asarray(patients, dtype=object), pa.string()),
                          occasions=pa.array(np.asarray(occasions, dtype=object), pa.string()), width=width,
                          # one integer per questionnaire of the file; its position is its row
                          keys=pa.array(patient_codes.astype("int64") * width + occasion_codes))
        p = pc.index_in(table["patient_id"].cast(pa.string()), value_set=lookup["patients"]).cast(pa.int64())
        o = pc.index_in(table["occasion"].cast(pa.string()), value_set=lookup["occasions"]).cast(pa.int64())
        at = pc.index_in(pc.add(pc.multiply(p, lookup["width"]), o), value_set=lookup["keys"])
        hit = pc.is_valid(at).to_numpy(zero_copy_only=False)
        return np.asarray(at.to_numpy(zero_copy_only=False)[hit], dtype="int64"), hit

    offset = 0

    def place(table: pa.Table) -> None:
        nonlocal offset
        n = table.num_rows
        if n == 0:
            return
        if offset + n <= len(new):
            same = pc.and_(*(pc.equal(table[c], file_key(c, table[c].type).slice(offset, n))
                             for c in ("patient_id", "occasion")))
            if pc.all(same).as_py():
                at = np.arange(offset, offset + n)
                offset += n
                ids[at] = table["id"].to_numpy()
                digests[at] = table[_HASH].to_numpy()
                return
        offset = len(new) + 1  # the order differs: no group after this one can take the fast path
        at, hit = general(table)
        ids[at] = table["id"].to_numpy()[hit]
        digests[at] = table[_HASH].to_numpy()[hit]

    groups = snapshot_row_groups(snapshot_directory(path), key, columns=_KEY_COLUMNS)
    try:
        if groups is None:
            raise LookupError
        for group in groups:
            place(group())
    except (LookupError, OSError, pa.ArrowException, KeyError):  # no (usable) snapshot: the database is the record
        ids[:], digests[:], offset = -1, 0, 0
        rows = _with_content_hash(_stored_rows(con))
        place(pa.Table.from_pandas(rows[_KEY_COLUMNS], preserve_index=False))
    return ids, digests


def _stored_values(con, path, key: str, ids: np.ndarray) -> pa.Table:
    """The stored rows with these ``ids`` (all columns), in the order of ``ids`` (few rows: those whose digest
    differs from the file's)."""
    wanted = pa.array(ids, pa.int64())
    parts = None
    groups = snapshot_row_groups(snapshot_directory(path), key)
    if groups is not None:
        try:
            parts = [t.filter(pc.is_in(t["id"], value_set=wanted)) for t in (g() for g in groups)]
        except (OSError, pa.ArrowException):  # a damaged snapshot: the database is the record
            parts = None
    if parts is None:
        rows = _stored_rows(con)
        parts = [pa.Table.from_pandas(rows[rows["id"].isin(ids)], preserve_index=False)]
    stored = pa.concat_tables([t.select(_ROW_COLUMNS) for t in parts], promote_options="permissive")
    order = pd.Index(stored["id"].to_numpy()).get_indexer(ids)
    return stored.take(pa.array(order))


def _compare(new: pd.DataFrame, stored: pa.Table):
    """Match the file's questionnaires with stored ones: which are new, which differ, and the changed values.

    ``stored`` is aligned with ``new`` (see :func:`_stored_values`): the values are compared column by column.
    """
    merged = new.reset_index(drop=True)  # copy on write: the columns added below do not change ``new``
    is_new = stored["id"].is_null().to_numpy(zero_copy_only=False)

    def types(kind: pa.DataType):
        if pa.types.is_integer(kind):
            return pd.Int64Dtype()
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return pd.StringDtype(na_value=np.nan)
        return None

    # numbers compared and merged as Int64 on both sides (the file's Int8 and Int16 scores included)
    merged = merged.astype({c: "Int64" for c in INT_COLUMNS if c in merged and merged[c].dtype != "Int64"})
    missing = _all_missing(len(merged))
    columns = {}
    for c in ("id", "import_id", *VALUE_COLUMNS):
        target = "Int64" if c in ("id", "import_id") else merged[c].dtype
        column = stored[c]
        if column.null_count == len(column) and target == "Int64":  # a score column no stored row has
            columns[c if c in ("id", "import_id") else f"{c}_stored"] = missing
            continue
        values = column.to_pandas(types_mapper=types).astype(target)
        columns[c if c in ("id", "import_id") else f"{c}_stored"] = values.array
    # the stored values beside the file's, without copying them once more (the shared all-missing array is
    # read-only: a write to such a column copies it first)
    merged = pd.concat([merged, pd.DataFrame(columns, index=merged.index, copy=False)], axis=1)
    _keep_stored_where_blank(merged, is_new)
    differs, changes = _value_changes(merged, is_new, VALUE_COLUMNS)
    return merged, is_new, differs, changes


def _value_changes(merged: pd.DataFrame, is_new: np.ndarray, value_columns: list[str]):
    """Which stored rows the file changes (``<column>`` against ``<column>_stored``, column by column, a missing
    value equal only to a missing one), and one table per changed column: line, patient, occasion, column,
    stored and new value.  Shared by every table of the store (questionnaires, sessions)."""
    differs = np.zeros(len(merged), bool)
    changes = []
    old = ~is_new
    for c in value_columns:
        diff = old & ~_same_values(merged[c], merged[f"{c}_stored"])
        differs |= diff
        if diff.any():
            changes.append(pd.DataFrame({
                "line": merged.loc[diff, "line"].to_numpy(), "patient_id": merged.loc[diff, "patient_id"].to_numpy(),
                "occasion": merged.loc[diff, "occasion"].to_numpy(), "column": c,
                "stored": merged.loc[diff, f"{c}_stored"].astype("str").to_numpy(),
                "new": merged.loc[diff, c].astype("str").to_numpy()}))
    return differs, changes


def _same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element by element: equal values, or both missing.  Nullable numbers straight on their values and masks
    (a store has dozens of score columns; most are missing in a given file)."""
    x, y = a.array, b.array
    if isinstance(x, pd.arrays.IntegerArray | pd.arrays.FloatingArray) and type(x) is type(y):
        mx, my = x._mask, y._mask
        if mx.all() and my.all():
            return np.ones(len(x), bool)
        return (mx & my) | (~mx & ~my & (x._data == y._data))
    return (a == b).fillna(False).to_numpy(dtype=bool) | (a.isna() & b.isna()).to_numpy(dtype=bool)


def _conflict_table(changes: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(changes, ignore_index=True).sort_values(["line", "column"], ignore_index=True)


@dataclass(frozen=True)
class _StoredTable:
    """What differs between the store's tables of imported rows (the import, conflict and revert logic is shared)."""

    table: str
    corrections: str
    corrected_id: str
    value_columns: tuple
    noun: str
    source: str
    audit: dict


def _write_corrections(con, spec: _StoredTable, corrected: pd.DataFrame, import_id: int) -> None:
    """New values over stored ones; each old value kept in the table's corrections (few rows: one by one)."""
    columns = list(spec.value_columns)
    for row in corrected.to_dict("records"):
        old = {c: _py(row[f"{c}_stored"]) for c in columns}
        new_values = {c: _py(row[c]) for c in columns}
        con.execute(f"INSERT INTO {spec.corrections} ({spec.corrected_id}, patient_id, occasion, import_id, "
                    "old_values, new_values) VALUES (?, ?, ?, ?, ?, ?)",
                    (int(row["id"]), row["patient_id"], row["occasion"], import_id, json.dumps(old),
                     json.dumps(new_values)))
        con.execute(f"UPDATE {spec.table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                    (*new_values.values(), int(row["id"])))


def _write_import(con, path, new, report, name, digest, source_format, mapping, accept, user, notes, say):
    """Compare, check together with the store, write.  Returns the result and, when the store changed, what a
    snapshot of the new state needs (report, rows, fingerprint)."""
    key = _store_state(con)
    say("comparing with the store", 0.35)
    # only the file's questionnaires can match: memory follows the file, not the store.  First the keys and
    # digests: a stored questionnaire with the file's digest is unchanged; only the others' values are read and
    # compared column by column (a blank in the file, or other attributes, may still leave them unchanged)
    new = new.assign(**{_HASH: _content_hash(new)})
    stored_ids, stored_digests = _stored_keys(con, path, key, new)
    is_new = stored_ids < 0
    check = np.flatnonzero(~is_new & (stored_digests != new[_HASH].to_numpy()))
    differs = np.zeros(len(new), bool)
    changes, corrected = [], new.iloc[:0]
    if len(check):
        part = new.iloc[check].reset_index(drop=True)
        merged, _, part_differs, changes = _compare(part, _stored_values(con, path, key, stored_ids[check]))
        differs[check] = part_differs
        corrected = merged.loc[part_differs]
        del merged
    unchanged = int((~is_new & ~differs).sum())
    if differs.any() and not accept:
        raise ImportConflictError(_conflict_table(changes), name)
    rows_read = int(report.counts.get("rows_read", 0))
    warnings = report.warnings
    if not is_new.any() and not differs.any():
        # nothing changes: the store stays as it was (and valid); no import record, so the history shows
        # only what changed the store
        return ImportResult(None, name, digest, rows_read, 0, unchanged, 0, len(warnings), report), None

    import_id = con.execute(
        # the next number after the last (as SQLite numbers rows): a refused import leaves no gap on either backend
        "INSERT INTO imports (id, kind, file_name, sha256, source_format, mapping, user, started_at, rows_read, "
        "warnings, warning_summary) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM imports), 'import', ?, ?, ?, ?, ?, "
        "?, ?, ?, ?) RETURNING id",
        (name, digest, source_format, mapping, user, utc_now(), rows_read,
         len(warnings), "; ".join([*notes, _warning_summary(warnings)]).strip("; "))).fetchone()[0]

    # the store and the file together must still be valid (e.g. one start date per patient): every such rule is
    # within one patient, so the touched patients' rows are validated with the file's, each under its line in the
    # store (see _report_after_import); the result is the report of all rows in the order a reader sees them
    # (by id), which is also the new snapshot
    say("checking the file together with the store", 0.45)
    # the file's new questionnaires, numbered after the store's last (copy on write: all new, an empty store or
    # none of the file's questionnaires stored, takes the file's columns as they are); memory follows the file
    added = new[["patient_id", "occasion", *VALUE_COLUMNS, _HASH]] if is_new.all() else \
        new.loc[is_new, ["patient_id", "occasion", *VALUE_COLUMNS, _HASH]].reset_index(drop=True)
    del new
    last_id = con.execute("SELECT max(id) FROM questionnaires").fetchone()[0]
    added.insert(0, "id", np.arange((last_id or 0) + 1, (last_id or 0) + 1 + len(added), dtype="int64"))
    added["import_id"] = import_id
    added = added[_SNAPSHOT_ROW_COLUMNS]
    # the patients whose rows change: only they are validated again together with their stored rows
    touched = pd.unique(pd.concat([added["patient_id"], corrected["patient_id"].astype("str")], ignore_index=True))
    # the new rows are staged (SQLite: written to a staging file in a thread) while the check below runs
    staged = con.stage_rows(_arrow_batches(added[_ROW_COLUMNS]))
    snapshot = None
    try:
        together, rows = None, None
        if last_id is not None:  # the stored rows a patient at a time, from the snapshot of this state
            scan = _scan_stored_rows(path, key, touched, corrected)
            if scan is not None:
                together = _touched_patients_report(path, key, scan, added, touched)
                rows = functools.partial(_snapshot_row_batches, scan, added)
        if together is None:  # every stored row, as the check of the whole store needs them
            combined = _all_rows(con, path, key, corrected, added)
            together = _report_after_import(path, key, combined, report, touched, last_id is None)
            rows = combined[_SNAPSHOT_ROW_COLUMNS]
            del combined
        if not together.ok:
            raise QuestionnaireValidationError(
                together.errors.assign(line=None, problem="with the questionnaires already in the store: "
                                       + together.errors["problem"]), name)
        # what was validated is the next reader's snapshot: its files are written while the rows go in
        snapshot = SnapshotWriter(snapshot_directory(path), import_id, frame=together.frame, errors=together.errors,
                                  warnings=together.warnings, rows=rows)
        del rows
        say(f"writing {len(added):,} questionnaire(s) to the store", 0.6)
        con.insert_staged("questionnaires", staged)
        _write_corrections(con, _questionnaires(), corrected, import_id)
        counts = dict(added=int(is_new.sum()), unchanged=unchanged, corrected=int(differs.sum()))
        con.execute("UPDATE imports SET added = ?, unchanged = ?, corrected = ?, finished_at = ? WHERE id = ?",
                    (counts["added"], counts["unchanged"], counts["corrected"], utc_now(), import_id))
        fingerprint = _fingerprint(con)
    except BaseException:
        staged.cancel()
        if snapshot is not None:
            snapshot.discard()
        raise
    result = ImportResult(import_id, name, digest, rows_read, counts["added"], counts["unchanged"],
                          counts["corrected"], len(warnings), report)
    return result, (snapshot, together.counts, fingerprint)


def _all_rows(con, path, key: str, corrected: pd.DataFrame, added: pd.DataFrame) -> pd.DataFrame:
    """Every row of the store after this import, by id: the stored ones (corrected where the file corrects them)
    and the added ones, with their digests."""
    stored = _with_content_hash(_rows_now(con, path, key))
    if len(corrected):
        at = stored.set_index("id").index.get_indexer(corrected["id"].astype("int64"))
        for c in VALUE_COLUMNS:
            stored[c] = stored[c].copy()
            stored.iloc[at, stored.columns.get_loc(c)] = corrected[c].to_numpy()
        digests = stored[_HASH].to_numpy().copy()
        digests[at] = _content_hash(stored.iloc[at])
        stored[_HASH] = digests
    return pd.concat([stored[_SNAPSHOT_ROW_COLUMNS], added], ignore_index=True) if len(stored) else added


def _report_after_import(path, key: str, combined: pd.DataFrame, file_report: ValidationReport, touched,
                         store_was_empty: bool) -> ValidationReport:
    """The validation report of the store after this import (``combined``: every row, by id), as validating all
    of them gives it: from the file's report into an empty store (see :mod:`analytics.store_revalidation`), else
    by validating only the ``touched`` patients; every row when that cannot be shown to give the same report."""
    if store_was_empty:
        attributes = _attribute_table(combined)
        order = [] if attributes is None else [c for c in attributes[1].columns if c != "episode"]
        report = empty_store_report(file_report, order)
    else:
        report = _touched_rows_report(path, key, combined, touched)
    return report if report is not None else _validate_rows(combined)


@dataclass(frozen=True)
class _StoredScan:
    """What an import needs of the stored rows, read a row group at a time from the snapshot of the current state:
    the touched patients' rows (corrected where the file corrects them) and their places, and what the raw frame
    of all rows would have: the columns holding a value, the distinct attribute objects in order of first use."""

    file: object  # the snapshot's rows.parquet, open (pyarrow.parquet.ParquetFile)
    count: int
    rows: pd.DataFrame
    places: np.ndarray
    present: frozenset
    attributes: list
    corrected: pd.DataFrame


def _scan_stored_rows(path, key: str, touched, corrected: pd.DataFrame) -> _StoredScan | None:
    """The stored rows of the ``touched`` patients and what the raw frame of all rows needs (see
    :class:`_StoredScan`), reading the snapshot's rows a row group at a time; None without a usable snapshot, or
    when a correction changes a row's attributes (their order of first use could change: the caller reads all)."""
    if len(corrected) and not (corrected["attributes"].astype("str")
                               == corrected["attributes_stored"].astype("str")).all():
        return None
    file = snapshot_rows_file(snapshot_directory(path), key)
    if file is None:
        return None
    meta = file.metadata
    names = file.schema_arrow.names
    if not set(_SNAPSHOT_ROW_COLUMNS) <= set(names):
        return None
    present = set()
    for c in [*VALUE_COLUMNS]:
        j = names.index(c)
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(j).statistics
            if stats is None or not stats.has_null_count:
                return None
            if stats.null_count < meta.row_group(i).num_rows:
                present.add(c)
                break
    wanted = pa.array(np.asarray(touched, dtype=object), pa.string())
    parts, places, seen, offset = [], [], {}, 0
    try:
        for i in range(meta.num_row_groups):
            group = file.read_row_group(i, columns=["patient_id", "attributes"])
            for text in pc.unique(pc.fill_null(group["attributes"].cast(pa.string()), "{}")).to_pylist():
                seen.setdefault(text, None)  # in order of first use (a dict keeps insertion order)
            hit = pc.is_in(group["patient_id"].cast(pa.string()), value_set=wanted).to_numpy(zero_copy_only=False)
            if hit.any():
                parts.append(_row_group(file, i).filter(pa.array(hit)))
                places.append(offset + np.flatnonzero(hit))
            offset += group.num_rows
    except (OSError, pa.ArrowException):  # a damaged snapshot: the database is the record
        return None
    rows = _typed_rows(_rows_frame(pa.concat_tables(parts) if parts else file.schema_arrow.empty_table()))
    if len(corrected):
        at = pd.Index(rows["id"]).get_indexer(corrected["id"].astype("int64"))
        for c in VALUE_COLUMNS:
            if corrected[c].isna().all() and rows[c].iloc[at].isna().all():
                continue  # (most score columns: neither side has a value)
            rows[c] = rows[c].copy()
            rows.iloc[at, rows.columns.get_loc(c)] = corrected[c].to_numpy()
        digests = rows[_HASH].to_numpy().copy()
        digests[at] = _content_hash(rows.iloc[at])
        rows[_HASH] = digests
        present |= {c for c in VALUE_COLUMNS if corrected[c].notna().any()}
    return _StoredScan(file, offset, rows[_SNAPSHOT_ROW_COLUMNS],
                       np.concatenate(places) if places else np.zeros(0, np.int64), frozenset(present), list(seen),
                       corrected)


def _rows_frame(table: pa.Table) -> pd.DataFrame:
    """Stored rows from Arrow: a column without a value shares one read-only all-missing array (most of a store's
    score columns), not a column of its own for each."""
    n = table.num_rows
    missing = _all_missing(n)
    columns = {}
    for name in table.column_names:
        col = table[name]
        if name in INT_COLUMNS and col.null_count == n:
            columns[name] = missing
        else:
            columns[name] = col.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get) if name in INT_COLUMNS \
                else col.to_pandas()
    return pd.DataFrame(columns, copy=False)


def _touched_patients_report(path, key: str, scan: _StoredScan, added: pd.DataFrame,
                             touched) -> ValidationReport | None:
    """The ``touched`` patients' rows (stored and new) validated together, each under its line in the store, and
    merged with the other patients' part of the current snapshot; None when that cannot be shown to give what
    validating every row gives (the caller then does)."""
    present = scan.present | {c for c in VALUE_COLUMNS if added[c].notna().any()}
    # only the columns the raw frame has (a store has dozens of score columns, most without a value)
    needed = ["patient_id", "day", "attributes", *[c for c in VALUE_COLUMNS if c in present and c != "day"]]
    needed = list(dict.fromkeys(needed))
    rows = pd.concat([scan.rows[needed], added[needed]], ignore_index=True)
    places = np.concatenate([scan.places, scan.count + np.arange(len(added))])
    uniques = dict.fromkeys(scan.attributes)
    uniques.update(dict.fromkeys(added["attributes"].fillna("{}").unique().tolist()))
    return _validated_with_touched_rows(path, key, rows, places, present, list(uniques), touched)


def _touched_rows_report(path, key: str, combined: pd.DataFrame, touched) -> ValidationReport | None:
    """:func:`_touched_patients_report` when every row is in memory (``combined``, by id)."""
    places = np.flatnonzero(combined["patient_id"].isin(touched).to_numpy())
    present = {c for c in VALUE_COLUMNS if combined[c].notna().any()}
    uniques = pd.unique(combined["attributes"].fillna("{}")).tolist()
    return _validated_with_touched_rows(path, key, combined.iloc[places].reset_index(drop=True), places, present,
                                        uniques, touched)


def _validated_with_touched_rows(path, key: str, rows: pd.DataFrame, places: np.ndarray, present, uniques: list,
                                 touched) -> ValidationReport | None:
    """``rows`` (the touched patients' rows, at ``places`` among all rows; ``present`` and ``uniques``: what all
    rows have, see :func:`_as_raw_frame`) validated and merged with the rest of the current snapshot."""
    snapshot = read_snapshot(snapshot_directory(path), key)
    if snapshot is None or len(snapshot.errors) or snapshot.counts.get("duplicates_collapsed", 0):
        return None
    raw = raw_table_from_frame(_as_raw_frame(rows, present=present, attributes=uniques))
    # each row's line is its place in the store (as when all rows are validated): the same line numbers in
    # every message, warning and frame
    raw = dataclasses.replace(raw, lines=(places + 2).astype(raw.lines.dtype))
    part = validate_questionnaires(raw)
    if not part.ok:
        return part
    if part.counts.get("duplicates_collapsed", 0):
        return None
    old = snapshot.frame
    return merged_store_report(old[~old["patient_id"].isin(touched).to_numpy()], part)


def _row_group(file, i: int) -> pa.Table:
    """Row group ``i`` of the snapshot's rows with every column; a column no row of the group has a value in
    (most of a store's score columns) is not read but made of nulls, one array shared by all such columns of a
    type: reading a group of a million rows costs its few filled columns, not eighty."""
    meta, schema = file.metadata.row_group(i), file.schema_arrow
    empty = set()
    for j in range(meta.num_columns):
        stats = meta.column(j).statistics
        if stats is not None and stats.has_null_count and stats.null_count == meta.num_rows:
            empty.add(meta.column(j).path_in_schema)
    names = [n for n in schema.names if n not in empty]
    table = file.read_row_group(i, columns=names)
    if not empty:
        return table
    nulls = {}
    columns = []
    for field in schema:
        if field.name in empty:
            if field.type not in nulls:
                nulls[field.type] = pa.chunked_array([pa.nulls(meta.num_rows, field.type)], field.type)
            columns.append(nulls[field.type])
        else:
            columns.append(table[field.name])
    return pa.Table.from_arrays(columns, schema=schema)


def _snapshot_row_batches(scan: _StoredScan, added: pd.DataFrame):
    """The stored rows after this import as Arrow tables for the next snapshot: the current snapshot's row groups
    (a corrected row replaced), then the added rows."""
    schema = scan.file.schema_arrow
    fixed = scan.rows.set_index("id") if len(scan.corrected) else None
    ids = set(scan.corrected["id"].astype("int64")) if len(scan.corrected) else set()
    for i in range(scan.file.metadata.num_row_groups):
        group = _row_group(scan.file, i)
        if ids and pc.any(pc.is_in(group["id"], value_set=pa.array(sorted(ids), pa.int64()))).as_py():
            frame = _typed_rows(group.to_pandas())
            at = frame.index[frame["id"].isin(ids)]
            for c in [*VALUE_COLUMNS, _HASH]:
                frame[c] = frame[c].copy()
                frame.loc[at, c] = fixed.loc[frame.loc[at, "id"], c].to_numpy()
            group = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        yield group
    for start in range(0, len(added), _INSERT_BLOCK):
        yield pa.Table.from_pandas(added.iloc[start:start + _INSERT_BLOCK][schema.names], schema=schema,
                                   preserve_index=False)


_INSERT_BLOCK = 500_000


def _arrow_batches(rows: pd.DataFrame):
    """The rows as Arrow tables of at most ``_INSERT_BLOCK`` rows, each made when the backend asks for it (so a
    large import holds one block in Arrow form at a time, beside the frame).  A column without a single value
    is left out (the table's default, NULL, fills it): a file gives a few of the store's many score columns."""
    rows = rows[[c for c in rows.columns if rows[c].notna().any()]]
    for start in range(0, len(rows), _INSERT_BLOCK):
        yield _arrow_rows(rows.iloc[start:start + _INSERT_BLOCK])


def _arrow_rows(rows: pd.DataFrame) -> pa.Table:
    """The rows as an Arrow table: integers as int64, text as string, missing as null."""
    columns = {}
    for c in rows.columns:
        col = rows[c]
        if col.dtype.kind in "iu" or isinstance(col.dtype, pd.Int64Dtype):
            columns[c] = pa.array(col.array, type=pa.int64(), from_pandas=True)
        elif col.dtype.kind == "f" or isinstance(col.dtype, pd.Float64Dtype):
            columns[c] = pa.array(col.array, type=pa.float64(), from_pandas=True)
        else:
            columns[c] = pa.array(col.array, type=pa.large_string(), from_pandas=True)
    return pa.table(columns)


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
            "SELECT id, kind, data_table, file_name, sha256, source_format, mapping, user, started_at, finished_at, rows_read, "
            "added, unchanged, corrected, removed, restored, warnings, warning_summary, reverts, reverted_by "
            "FROM imports ORDER BY id")
    finally:
        con.close()


@reports_store_errors
def revert_import(import_id: int, *, db=None, user: str = "local") -> int:
    """Remove what an import added and restore the values it corrected.

    The revert is recorded as its own history entry (returned).  Refused when
    a later, unreverted import changed the same questionnaires: revert that first.
    A sessions import is reverted by :func:`analytics.session_store.revert_session_import`.
    """
    from .session_store import is_session_import, revert_session_import

    if is_session_import(import_id, db=db):
        return revert_session_import(import_id, db=db, user=user)
    revert_id = _revert(import_id, _questionnaires(), db=db, user=user)
    _refresh_snapshot(db)
    return revert_id


def _questionnaires() -> _StoredTable:
    # built when asked: VALUE_COLUMNS may grow (a schema step adding instruments)
    return _StoredTable("questionnaires", "corrections", "questionnaire_id", tuple(VALUE_COLUMNS), "questionnaires",
                        "file", {})


def _revert(import_id: int, spec: _StoredTable, *, db, user: str) -> int:
    """Revert an import of ``spec.table`` in one transaction; returns the revert's history entry.  Shared by
    questionnaires and sessions: remove the rows the import added, restore the values it corrected (newest
    first), mark its corrections and the import as reverted, record the revert and audit it."""
    con = open_store(db, create=False)
    try:
        con.begin_write()
        try:
            row = con.execute("SELECT kind, reverted_by, file_name, data_table FROM imports WHERE id = ?",
                              (import_id,)).fetchone()
            if row is None:
                raise AnalyticsError(f"there is no import {import_id}; list them with: python -m analytics imports")
            kind, reverted_by, file_name, table = row
            if spec.table == "sessions" and table != "sessions":
                raise AnalyticsError(f"import {import_id} imported questionnaires, not sessions.")
            if kind != "import":
                raise AnalyticsError(f"entry {import_id} is itself a revert; import the {spec.source} again instead.")
            if reverted_by is not None:
                raise AnalyticsError(f"import {import_id} was already reverted (entry {reverted_by}).")
            c_id = spec.corrected_id
            later = con.execute(
                f"SELECT DISTINCT c.import_id FROM {spec.corrections} c JOIN {spec.table} q ON q.id = c.{c_id} "
                f"WHERE c.import_id > ? AND c.reverted_by IS NULL AND (q.import_id = ? OR c.{c_id} IN "
                f"(SELECT {c_id} FROM {spec.corrections} WHERE import_id = ?))",
                (import_id, import_id, import_id)).fetchall()
            if later:
                ids = ", ".join(str(r[0]) for r in later)
                raise AnalyticsError(f"import(s) {ids} later corrected {spec.noun} of import {import_id}; "
                                     f"revert those first.")
            revert_id = con.execute(
                "INSERT INTO imports (id, kind, data_table, file_name, sha256, source_format, user, started_at, "
                "reverts) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM imports), 'revert', ?, ?, '', 'revert', ?, "
                "?, ?) RETURNING id",
                (spec.table, f"revert of import {import_id} ({file_name})", user, utc_now(), import_id)).fetchone()[0]
            restored = 0
            for q_id, old in con.execute(f"SELECT {c_id}, old_values FROM {spec.corrections} WHERE import_id = ? "
                                         "ORDER BY id DESC", (import_id,)).fetchall():
                values = json.loads(old)
                con.execute(f"UPDATE {spec.table} SET {', '.join(f'{c} = ?' for c in values)} WHERE id = ?",
                            (*values.values(), q_id))
                restored += 1
            con.execute(f"UPDATE {spec.corrections} SET reverted_by = ? WHERE import_id = ?", (revert_id, import_id))
            removed = con.execute(f"DELETE FROM {spec.table} WHERE import_id = ?", (import_id,)).rowcount
            con.execute("UPDATE imports SET removed = ?, restored = ?, finished_at = ? WHERE id = ?",
                        (removed, restored, utc_now(), revert_id))
            con.execute("UPDATE imports SET reverted_by = ? WHERE id = ?", (revert_id, import_id))
            record_audit("revert", {**spec.audit, "import_id": import_id, "revert_id": revert_id, "file": file_name,
                                    "removed": removed, "restored": restored}, con=con, user=user)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return revert_id


def _refresh_snapshot(db) -> None:
    """Validate the store as it is now and keep the snapshot, so the next reader does not have to."""
    try:
        read_store(db)
    except AnalyticsError:  # e.g. the revert emptied the store: nothing to keep
        pass


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

    Read from the columnar snapshot of the store's current state (see :mod:`analytics.store_snapshot`):
    the rows were validated when they were imported and the snapshot's key proves the store has not
    changed since.  Without a current snapshot (the first read after an update of the tool, or after
    the folder was deleted) the rows are read from the database and validated, and the snapshot is written
    for the next reader.  This is the one read path, the same on both backends.

    The frame's ``attrs[STORE_STATE_ATTR]`` is the key of the state it was read in (the snapshot's key: the
    store's newest import or revert and this tool's code), read in the same transaction as the rows, so a
    cache of figures computed from this frame can be keyed by it and never outlive the data.

    Raises
    ------
    AnalyticsError
        When there is no store, or it holds no questionnaire yet.
    """
    path = store_backend(db if db is not None else default_db_path())
    con = open_store(path, create=False)
    try:
        con.begin_read()  # one consistent state for the key and the rows (a writer may commit meanwhile)
        try:
            key = _store_state(con)
            snapshot = read_snapshot(snapshot_directory(path), key)
            if snapshot is None:
                rows = _stored_rows(con)
                fingerprint = _fingerprint(con)
        finally:
            con.execute("COMMIT")
    finally:
        con.close()
    if snapshot is not None:
        snapshot.frame.attrs[STORE_STATE_ATTR] = key
        return ValidationReport(f"store {path.short_name} ({snapshot.fingerprint})", snapshot.errors, snapshot.warnings,
                                snapshot.counts, snapshot.frame, "")
    if rows.empty:
        raise AnalyticsError(f"{path}: the store holds no questionnaire yet. Import a file first: "
                             "python -m analytics import FILE")
    report = _validate_rows(rows)
    _save_snapshot(path, key, report, rows, fingerprint)
    report.frame.attrs[STORE_STATE_ATTR] = key
    return ValidationReport(f"store {path.short_name} ({fingerprint})", report.errors, report.warnings,
                            report.counts, report.frame, "")
