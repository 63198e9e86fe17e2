"""Moving a clinic's store to another place (an SQLite file to PostgreSQL, or back), and proving the copy whole.

``python -m analytics store copy --from SOURCE --to TARGET`` copies every table (imports and reverts,
questionnaires, sessions, correction history, safety reviews, saved cohorts, the audit trail, research exports
and their study-id keys) row for row with their ids, in one transaction on the target, which must be empty.  Then it verifies:

* the same number of rows in every table;
* the same content: a SHA-256 of every table's rows in id order, computed on both sides;
* the same data fingerprint (which imports the questionnaires come from);
* the target's audit chain verifies and ends in the source's last hash.

Only then is the copy recorded, as one more row on the target's audit trail.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .audit import record_audit, verify_audit
from .errors import AnalyticsError
from .store import store_fingerprint
from .store_backends import database_errors, store_backend
from .store_connection import open_store

__all__ = ["STORE_TABLES", "StoreCopy", "copy_store", "table_digests"]

#: Every table of the store with the columns that order its rows, parents before children.
STORE_TABLES = {
    "imports": "id",
    "questionnaires": "id",
    "corrections": "id",
    "sessions": "id",
    "session_corrections": "id",
    "safety_reviews": "id",
    "cohorts": "name",
    "audit": "id",
    "research_exports": "export_id",
    "study_keys": "export_id, study_id",
}
_CHUNK = 20_000


@dataclass(frozen=True)
class StoreCopy:
    """What was copied and how it was checked."""

    source: str
    target: str
    rows: dict
    digests: dict
    fingerprint: str
    audit_rows: int

    def to_text(self) -> str:
        counts = ", ".join(f"{n} {t}" for t, n in self.rows.items())
        return (f"copied {self.source} to {self.target}: {counts}. Verified: the same rows and content in every "
                f"table (SHA-256 per table), the same data fingerprint ({self.fingerprint}), and the audit chain "
                f"intact ({self.audit_rows} row(s), plus this copy's own row on the target).")


def _columns(con, table: str) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {table} WHERE 1 = 0").description]


def table_digests(con) -> tuple[dict, dict]:
    """Row counts and a SHA-256 of each table's rows (in key order; values as JSON, the same from both drivers)."""
    counts, digests = {}, {}
    for table, key in STORE_TABLES.items():
        cols = _columns(con, table)
        digest, n = hashlib.sha256(), 0
        if key == "id":
            cur = con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id")
            chunks = iter(lambda: cur.fetchmany(_CHUNK), [])
        else:  # small tables keyed by text: sorted here, as the databases' collations may differ
            at = [cols.index(k.strip()) for k in key.split(",")]
            chunks = [sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(),
                             key=lambda r: [r[i] for i in at])]
        for rows in chunks:
            if not rows:
                continue
            digest.update(json.dumps([list(r) for r in rows], separators=(",", ":")).encode("utf-8"))
            n += len(rows)
        counts[table], digests[table] = n, digest.hexdigest()
    return counts, digests


def copy_store(source, target, *, user: str = "local") -> StoreCopy:
    """Copy the store at ``source`` into the empty store at ``target`` (paths or ``postgresql://`` URLs), verified.

    Raises
    ------
    AnalyticsError
        The source is missing, the target already holds data, or the copy does not verify (then the target
        is left as the copy made it and the message says which check failed).
    """
    try:
        return _copy_store(source, target, user)
    except database_errors() as exc:
        raise store_backend(target).error(exc) from None


def _copy_store(source, target, user: str) -> StoreCopy:
    source_name, target_name = str(store_backend(source)), str(store_backend(target))
    if source_name == target_name:
        raise AnalyticsError(f"{source_name}: the source and the target are the same store.")
    src = open_store(source, create=False)
    try:
        dst = open_store(target)
        try:
            dst.begin_write()
            if store_backend(target).kind == "sqlite":
                dst.execute("PRAGMA defer_foreign_keys = ON")  # as PostgreSQL checks them: at the statement's end
            try:
                held = {t: dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in STORE_TABLES}
                if any(held.values()):
                    raise AnalyticsError(f"{target_name}: the target already holds a store ("
                                         + ", ".join(f"{n} {t}" for t, n in held.items() if n)
                                         + "). Copy into an empty database or a new file; nothing was written.")
                for table in STORE_TABLES:
                    cols = _columns(src, table)
                    cur = src.execute(f"SELECT {', '.join(cols)} FROM {table}")
                    # one insert per table: an import names the later revert that undid it (checked at the end)
                    dst.insert_rows(table, cols, (tuple(r) for rows in iter(lambda: cur.fetchmany(_CHUNK), [])
                                                  for r in rows))
                    if STORE_TABLES[table] == "id":
                        store_backend(target).reset_row_numbers(dst, table)
                dst.execute("COMMIT")
            except BaseException:
                if dst.in_transaction:
                    dst.execute("ROLLBACK")
                raise
            copied = _verify(src, dst, source_name, target_name)
        finally:
            dst.close()
    finally:
        src.close()
    fingerprint = store_fingerprint(source)
    if store_fingerprint(target) != fingerprint:
        raise AnalyticsError(f"{target_name}: the copy's data fingerprint ({store_fingerprint(target)}) differs from "
                             f"the source's ({fingerprint}).")
    chain = verify_audit(target)
    if not chain.ok:
        raise AnalyticsError(f"{target_name}: the copied audit trail does not verify: {chain.to_text()}")
    counts, digests = copied
    record_audit("store copy", {"from": source_name, "to": target_name, "rows": counts, "digests": digests},
                 db=target, user=user)
    return StoreCopy(source_name, target_name, counts, digests, fingerprint, chain.rows)


def _verify(src, dst, source_name: str, target_name: str) -> tuple[dict, dict]:
    counts, digests = table_digests(src)
    copied_counts, copied_digests = table_digests(dst)
    for table in STORE_TABLES:
        if copied_counts[table] != counts[table]:
            raise AnalyticsError(f"{target_name}: the copy has {copied_counts[table]} rows in {table}, the source "
                                 f"{source_name} {counts[table]}.")
        if copied_digests[table] != digests[table]:
            raise AnalyticsError(f"{target_name}: the rows of {table} differ from the source's {source_name} "
                                 "(content hash).")
    return counts, digests
