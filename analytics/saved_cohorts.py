"""Saved research cohorts: a named definition, kept in the clinic store with the data fingerprint it was saved
against and the user who owns the name.  Every save, and every refused save, is on the audit trail."""
from __future__ import annotations

import json

import pandas as pd

from .audit import record_audit
from .cohorts import check_cohort_definition
from .errors import AnalyticsError
from .store_connection import open_store, reports_store_errors, utc_now

__all__ = ["save_cohort", "list_cohorts", "load_cohort"]


@reports_store_errors
def save_cohort(name: str, definition: dict, *, fingerprint: str, db=None, user: str = "local") -> None:
    """Save a named cohort definition with the data fingerprint it was saved against.

    The first to save a name owns it: only the owner may replace it (anyone else picks another
    name).  Every save, and every refused save, is on the audit trail.
    """
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
                        (name, json.dumps(definition, sort_keys=True), fingerprint, utc_now(), user, user))
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
