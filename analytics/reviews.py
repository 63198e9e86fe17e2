"""Safety reviews: a director's "reviewed, with a note" on a patient of the safety worklist, kept in the store.

Each review is one appended row of the ``safety_reviews`` table (never updated:
a later review of the same patient is a new row) and one entry on the audit
trail, written in the same transaction.  The audit entry carries the note's
SHA-256, not the note, so a note written with a detail it should not hold is
not fixed forever in the append-only trail.

A review covers the questionnaires up to the patient's last one at the time
(``through_date`` / ``through_episode`` / ``through_day``); it stops counting
when a newer questionnaire arrives (:func:`analytics.safety.apply_reviews`).
Reviews are kept per data source (the store, or one file by its SHA-256), so a
review of a sample or test file never marks a patient of the clinic's store.
"""
from __future__ import annotations

import hashlib

import pandas as pd

from .audit import record_audit
from .definitions import REVIEW_NOTE_MAX_CHARS
from .errors import AnalyticsError
from .store_backends import store_backend
from .store_connection import default_db_path, open_store, utc_now

__all__ = ["REVIEW_COLUMNS", "mark_reviewed", "list_reviews"]

REVIEW_COLUMNS = ["id", "data_source", "patient_id", "reviewed_at", "user", "note", "through_date",
                  "through_episode", "through_day"]


def _check(patient_id, note: str, data_source: str) -> tuple[str, str]:
    patient = str(patient_id if patient_id is not None else "").strip()
    if not patient:
        raise AnalyticsError("a review needs the patient's pseudonym; pick a patient from the worklist.")
    if not str(data_source or "").strip():
        raise AnalyticsError("a review needs the data source it was made on (the store or the file's SHA-256).")
    text = " ".join(str(note if note is not None else "").split())
    if not text:
        raise AnalyticsError("a review needs a note: say in a few words what was checked or done (no names or "
                             "other identifying details).")
    if len(text) > REVIEW_NOTE_MAX_CHARS:
        raise AnalyticsError(f"the note has {len(text)} characters; keep it to {REVIEW_NOTE_MAX_CHARS} (a sentence "
                             "or two: the clinical record belongs in the clinic's record system).")
    return patient, text


def mark_reviewed(patient_id: str, *, note: str, data_source: str, through_date=None, through_episode=None,
                  through_day=None, db=None, user: str = "local") -> int:
    """Record that ``user`` reviewed ``patient_id`` (with ``note``) up to their last questionnaire; return its id.

    ``through_*`` describe that last questionnaire (its date when the data have dates, its episode and
    study day).  The review row and its audit entry are written in one transaction: both or neither.

    Raises
    ------
    AnalyticsError
        When the patient or note is missing, the note is too long, or the store cannot be written.
    """
    patient, text = _check(patient_id, note, data_source)
    date = None if through_date is None or pd.isna(through_date) else pd.Timestamp(through_date).strftime("%Y-%m-%d")
    episode = None if through_episode is None or pd.isna(through_episode) else int(through_episode)
    day = None if through_day is None or pd.isna(through_day) else int(through_day)
    con = open_store(db)
    try:
        con.begin_write()
        try:
            at = utc_now()
            cur = con.execute("INSERT INTO safety_reviews (data_source, patient_id, reviewed_at, user, note, "
                              "through_date, through_episode, through_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                              "RETURNING id", (data_source, patient, at, user, text, date, episode, day))
            review_id = int(cur.fetchone()[0])
            record_audit("safety review", {
                "review_id": review_id, "patient_id": patient, "data_source": data_source,
                "through_date": date, "through_episode": episode, "through_day": day,
                "note_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}, con=con, user=user)
            con.execute("COMMIT")
            return review_id
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def list_reviews(db=None, *, data_source: str | None = None) -> pd.DataFrame:
    """Reviews, oldest first (columns :data:`REVIEW_COLUMNS`); only those of ``data_source`` when given.

    No store yet: an empty table (nobody has reviewed anything).
    """
    path = db if db is not None else default_db_path()
    if not store_backend(path).exists():
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    con = open_store(path, create=False)
    try:
        query = f"SELECT {', '.join(REVIEW_COLUMNS)} FROM safety_reviews"
        params: tuple = ()
        if data_source is not None:
            query += " WHERE data_source = ?"
            params = (data_source,)
        return con.read_frame(query + " ORDER BY id", params)
    finally:
        con.close()
