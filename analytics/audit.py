"""The audit trail: who did what to the clinic store, and proof that nobody edited the record.

* Every import, revert, export, research export and cohort save appends one row
  (time, user, action, details as JSON) to the ``audit`` table of the store.
* Triggers refuse UPDATE and DELETE, which stops the tool; someone with the file
  can drop them.  So each row is also chained to the one before: its ``hash`` is
  the SHA-256 of a canonical serialisation of the row (id, time, user, action,
  details) plus the previous row's hash.  Changing, deleting or inserting a row
  breaks the chain at that row, and :func:`verify_audit` (``python -m analytics
  audit --verify``) names it.
* Exports are recorded twice: a "started" row before any file is written and the
  completion row (with the files' hashes) after, so a failure half-way is on record.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from .store_connection import open_store, reports_store_errors, utc_now

__all__ = [
    "GENESIS",
    "AuditVerification",
    "audit_row_hash",
    "record_audit",
    "list_audit",
    "verify_audit",
    "audited",
    "backfill_audit_chain",
]

#: The "previous hash" of the first row.
GENESIS = "0" * 64
_COLUMNS = ("id", "at", "user", "action", "details")


def audit_row_hash(row_id: int, at: str, user: str, action: str, details: str, prev_hash: str) -> str:
    """SHA-256 (hex) of one row's content and the previous row's hash, serialised canonically (sorted-key JSON)."""
    canonical = json.dumps({"id": int(row_id), "at": at, "user": user, "action": action, "details": details,
                            "prev_hash": prev_hash}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _append(con, action: str, details: dict, user: str) -> int:
    """Insert one chained row; the caller holds the write lock."""
    last = con.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    row_id, prev = (last[0] + 1, last[1] or GENESIS) if last else (1, GENESIS)
    at, text = utc_now(), json.dumps(details, default=str, sort_keys=True)
    con.execute("INSERT INTO audit (id, at, user, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row_id, at, user, action, text, prev, audit_row_hash(row_id, at, user, action, text, prev)))
    return row_id


@reports_store_errors
def record_audit(action: str, details: dict, *, db=None, user: str = "local", con=None) -> int:
    """Append one entry to the audit trail and return its id.

    Within ``con``'s open transaction when given (so it commits or rolls back
    with the change it records); otherwise in a transaction of its own.
    """
    if con is not None and con.in_transaction:
        return _append(con, action, details, user)
    own = con if con is not None else open_store(db)
    try:
        own.begin_write()  # reading the last hash and appending must not interleave with another writer
        try:
            row_id = _append(own, action, details, user)
            own.execute("COMMIT")
            return row_id
        except BaseException:
            own.execute("ROLLBACK")
            raise
    finally:
        if con is None:
            own.close()


def list_audit(db=None) -> pd.DataFrame:
    """The audit trail, oldest first: id, at, user, action, details (JSON), prev_hash, hash."""
    con = open_store(db, create=False)
    try:
        return con.read_frame("SELECT id, at, user, action, details, prev_hash, hash FROM audit ORDER BY id")
    finally:
        con.close()


@dataclass(frozen=True)
class AuditVerification:
    """Result of checking the chain: ``ok``, rows verified, and the first broken row when not ok."""

    ok: bool
    rows: int
    broken_id: int | None = None
    problem: str = ""

    def to_text(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.rows} row(s) verified, every hash matches its row and the one before."
        return (f"audit trail BROKEN at row {self.broken_id}: {self.problem} ({self.rows} row(s) before it "
                "verified). The store file was changed outside this tool; restore it from a backup and investigate.")


def verify_audit(db=None) -> AuditVerification:
    """Recompute the chain row by row; the first row whose hash, link or number does not match is reported.

    A changed row fails its own hash; a deleted row leaves a gap in the numbering and a broken link;
    an inserted row has no valid hash (or breaks the link of the row after it).
    """
    con = open_store(db, create=False)
    try:
        rows = con.execute("SELECT id, at, user, action, details, prev_hash, hash FROM audit ORDER BY id").fetchall()
    finally:
        con.close()
    prev, expected_id = GENESIS, 1
    for n, (row_id, at, user, action, details, prev_hash, stored) in enumerate(rows):
        if row_id != expected_id:
            return AuditVerification(False, n, row_id, f"expected row {expected_id} next, found row {row_id} "
                                     "(a row was deleted or inserted)")
        if prev_hash != prev:
            return AuditVerification(False, n, row_id, "its link to the previous row does not match (a row before "
                                     "it was deleted, inserted or changed)")
        if stored != audit_row_hash(row_id, at, user, action, details, prev_hash):
            return AuditVerification(False, n, row_id, "its content does not match its hash (the row was changed "
                                     "or inserted)")
        prev, expected_id = stored, row_id + 1
    return AuditVerification(True, len(rows))


@contextmanager
def audited(action: str, details: dict, *, db=None, user: str = "local"):
    """Record ``"<action> started"`` before the body runs and ``action`` (the completion) after it.

    The body may add to the yielded dict (e.g. the written files' hashes); they go into the
    completion row.  When the body raises, a ``"<action> failed"`` row says why; when the process
    dies, the started row without a completion is the record.
    """
    started = record_audit(f"{action} started", details, db=db, user=user)
    outcome: dict = {}
    try:
        yield outcome
    except BaseException as exc:
        record_audit(f"{action} failed", {**details, "started": started,
                                          "reason": f"{type(exc).__name__}: {exc}"[:500]}, db=db, user=user)
        raise
    record_audit(action, {**details, **outcome, "started": started}, db=db, user=user)


def backfill_audit_chain(con) -> None:
    """Schema migration: add the hash columns and chain the rows already there (in order), within ``con``'s
    transaction.  The no-update trigger is dropped for the backfill and recreated."""
    con.execute("DROP TRIGGER IF EXISTS audit_no_update")
    con.execute("ALTER TABLE audit ADD COLUMN prev_hash TEXT")
    con.execute("ALTER TABLE audit ADD COLUMN hash TEXT")
    prev = GENESIS
    for row_id, at, user, action, details in con.execute(
            "SELECT id, at, user, action, details FROM audit ORDER BY id").fetchall():
        digest = audit_row_hash(row_id, at, user, action, details, prev)
        con.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row_id))
        prev = digest
    con.execute("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
                "BEGIN SELECT RAISE(ABORT, 'the audit trail cannot be changed'); END")
