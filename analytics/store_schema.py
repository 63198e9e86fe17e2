"""The store's schema: its tables, as a list of migration steps, and its version.

Each step takes the schema from version i to i + 1 and is portable SQL where it can be
(INTEGER/TEXT/REAL columns), or a function of the connection when it needs Python.
:func:`analytics.store_connection.open_store` applies the missing steps on open.
"""
from __future__ import annotations

import sqlite3

from .instruments import CSSRS_SCREENER, GAD7, MADRS, PCL5, PHQ9, QIDS_SR16

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "SCORE_COLUMNS", "INSTRUMENT_SCORE_COLUMNS", "DERIVED_SCORE_COLUMNS",
           "VALUE_COLUMNS", "INT_COLUMNS", "sql_statements"]

SCHEMA_VERSION = 9

#: Score columns of the first schema (PHQ-9 and GAD-7 items and totals).
_FIRST_SCORE_COLUMNS = PHQ9.items + [PHQ9.total] + GAD7.items + [GAD7.total]
#: Score columns added by v8 -> v9: the optional instruments of a questionnaire file (items and totals;
#: C-SSRS answers as 1/0).  Their totals are stored as given or scored; the screener's flags are recomputed.
INSTRUMENT_SCORE_COLUMNS = [c for i in (QIDS_SR16, MADRS, PCL5) for c in i.items + [i.total]] + CSSRS_SCREENER.items
#: Score columns of the ``questionnaires`` table (items and totals of every instrument a file may carry).
SCORE_COLUMNS = _FIRST_SCORE_COLUMNS + INSTRUMENT_SCORE_COLUMNS
#: Canonical-frame columns computed from stored scores on every read (the C-SSRS screener's flags): never stored.
DERIVED_SCORE_COLUMNS = [f"{CSSRS_SCREENER.key}_{flag}" for flag in ("recent_ideation", "recent_behaviour",
                                                                      "positive_screen")]
#: The values of one stored questionnaire (what a correction may change).
VALUE_COLUMNS = ["assessment_date", "day", "treatment_start_date", *SCORE_COLUMNS, "infusion_number", "attributes"]
INT_COLUMNS = ["day", *SCORE_COLUMNS, "infusion_number"]


def _chain_audit_and_own_cohorts(con: sqlite3.Connection) -> None:
    """v4 -> v5: hash-chain the audit trail (existing rows too); a cohort's owner is whoever saved it so far."""
    from .audit import backfill_audit_chain  # here: the audit module builds on the connection, which uses this

    backfill_audit_chain(con)
    con.execute("ALTER TABLE cohorts ADD COLUMN owner TEXT")
    con.execute("UPDATE cohorts SET owner = user")


# Each migration takes the schema from version i to i + 1.  Version 1 is the
# first released schema; version 2 adds correction history, reverts and users;
# version 3 adds saved research cohorts; version 4 the append-only audit trail;
# version 5 the study-id keys of research exports (source pseudonym -> study id, kept only here);
# version 6 chains the audit rows by hash and gives saved cohorts an owner;
# version 7 keeps the Safety page's reviews (analytics/reviews.py);
# version 8 adds the sessions table (analytics/session_store.py) and which table an import filled;
# version 9 adds the optional instruments' columns (QIDS-SR16, MADRS, PCL-5, C-SSRS screener) to questionnaires.
# A step is SQL, or a function of the connection when it needs Python (hashing).
MIGRATIONS = [
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
        """ + ",\n        ".join(f"{c} INTEGER" for c in _FIRST_SCORE_COLUMNS) + """,
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
    """
    CREATE TABLE safety_reviews (
        id INTEGER PRIMARY KEY,
        data_source TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        reviewed_at TEXT NOT NULL,
        user TEXT NOT NULL,
        note TEXT NOT NULL,
        through_date TEXT,
        through_episode INTEGER,
        through_day INTEGER
    );
    CREATE INDEX safety_reviews_patient ON safety_reviews(data_source, patient_id);
    """,
    # v7 -> v8: the sessions table (analytics/session_store.py) and which table an import filled
    """
    ALTER TABLE imports ADD COLUMN data_table TEXT NOT NULL DEFAULT 'questionnaires';
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL,
        occasion TEXT NOT NULL,
        session_date TEXT,
        day INTEGER,
        episode TEXT,
        route TEXT NOT NULL,
        dose_mg REAL,
        dose_mg_per_kg REAL,
        systolic_pre INTEGER,
        diastolic_pre INTEGER,
        heart_rate_pre INTEGER,
        systolic_post INTEGER,
        diastolic_post INTEGER,
        heart_rate_post INTEGER,
        systolic_discharge INTEGER,
        diastolic_discharge INTEGER,
        heart_rate_discharge INTEGER,
        spo2_lowest INTEGER,
        dissociation INTEGER,
        dissociation_scale TEXT,
        sedation_moaas INTEGER,
        minutes_monitored INTEGER,
        adverse_events TEXT NOT NULL DEFAULT 'none',
        completed INTEGER NOT NULL,
        attributes TEXT NOT NULL DEFAULT '{}',
        import_id INTEGER NOT NULL REFERENCES imports(id),
        UNIQUE (patient_id, occasion)
    );
    CREATE INDEX sessions_import ON sessions(import_id);
    CREATE TABLE session_corrections (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL,
        patient_id TEXT NOT NULL,
        occasion TEXT NOT NULL,
        import_id INTEGER NOT NULL REFERENCES imports(id),
        old_values TEXT NOT NULL,
        new_values TEXT NOT NULL,
        reverted_by INTEGER REFERENCES imports(id)
    );
    CREATE INDEX session_corrections_import ON session_corrections(import_id);
    """,
    # v8 -> v9: the other instruments' items and totals (analytics/instrument_columns.py), portable ALTERs
    "".join(f"ALTER TABLE questionnaires ADD COLUMN {c} INTEGER;\n" for c in INSTRUMENT_SCORE_COLUMNS),
]


def sql_statements(script: str) -> list[str]:
    """SQL statements of a migration, cut where SQLite says a statement is complete (trigger bodies stay whole)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    return [statement for statement in out if statement.strip(" ;\n")]
