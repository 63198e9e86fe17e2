"""Study-id keys of research exports: which study id stands for which of the clinic's pseudonyms.

A research export is re-keyed to study ids; the key stays in the clinic store only, never in the
export folder, so only the clinic can link a study id back to a patient.
"""
from __future__ import annotations

import pandas as pd

from .errors import AnalyticsError
from .store_connection import open_store, reports_store_errors, utc_now

__all__ = ["save_study_key", "load_study_key"]


@reports_store_errors
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
                        "VALUES (?, ?, ?, ?, ?)", (export_id, cohort, utc_now(), user, len(key)))
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
