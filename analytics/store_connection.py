"""Opening the clinic store: where it is, connecting, migrating, and database errors as plain messages.

The store is an SQLite file or a PostgreSQL database; :mod:`analytics.store_backends` does what differs.

Everything that uses the store (imports and reads in :mod:`analytics.store`, the audit trail,
saved cohorts, study-id keys) opens it here.
"""
from __future__ import annotations

import functools
import inspect
import os
from datetime import datetime, timezone
from pathlib import Path

from .errors import AnalyticsError
from .store_backends import BUSY_TIMEOUT_S, database_errors, is_postgres_url, store_backend
from .store_schema import MIGRATIONS, SCHEMA_VERSION, sql_statements

__all__ = [
    "DEFAULT_DB",
    "BUSY_TIMEOUT_S",
    "default_db_path",
    "open_store",
    "store_error",
    "reports_store_errors",
    "utc_now",
]

DEFAULT_DB = Path("data") / "outcomes.sqlite"


def store_error(path, exc: BaseException) -> AnalyticsError:
    """A database error on the store as a message that says what happened and what to do (see the backends)."""
    return store_backend(path).error(exc)


def reports_store_errors(function):
    """Turn database errors raised while ``function`` uses the store into :func:`store_error` messages."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except database_errors() as exc:
            db = signature.bind_partial(*args, **kwargs).arguments.get("db")
            raise store_error(db if db is not None else default_db_path(), exc) from None
    return wrapper


def default_db_path() -> Path | str:
    """``$OUTCOMES_DB`` when set, else ``data/outcomes.sqlite``: a path, or a ``postgresql://`` URL as given."""
    db = os.environ.get("OUTCOMES_DB") or DEFAULT_DB
    return db.strip() if is_postgres_url(db) else Path(db)


def utc_now() -> str:
    """The time now (UTC, seconds) as ISO 8601 text, as every store table records it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def open_store(path=None, *, create: bool = True):
    """Open (and create or migrate) the store: an SQLite file, or a PostgreSQL database given by URL.

    SQLite: WAL journal (readers never wait for a writer), foreign keys on, and a
    busy timeout so a second writer waits before giving up.  An older schema
    is migrated after a backup copy ``<file>.v<old>-backup-<time>`` is written.
    PostgreSQL: see :mod:`analytics.store_backends`.

    Returns a connection with ``execute`` and the methods of the store interface
    (``begin_write``, ``read_frame``, ``read_columns``, ``insert_rows``, ``insert_table``; an
    ``sqlite3.Connection`` for a file).

    Raises
    ------
    AnalyticsError
        When the file is not a store of this tool, or is newer than this version.
    """
    backend = store_backend(path if path is not None else default_db_path())
    con = backend.connect(create=create)
    version = 0
    try:
        version = backend.schema_version(con)
        if version > SCHEMA_VERSION:
            raise AnalyticsError(f"{backend}: store schema v{version} is newer than this tool (v{SCHEMA_VERSION}); "
                                 "update the tool.")
        if version < SCHEMA_VERSION:
            _migrate(con, backend)
    except database_errors() as exc:
        con.close()
        error = backend.error(exc)
        upgrading = backend.kind == "postgresql" and version < SCHEMA_VERSION
        if upgrading and getattr(error, "reason", "") == "read-only":
            raise type(error)(f"{backend}: the store's tables need creating or upgrading to v{SCHEMA_VERSION} and "
                              "this role may not change them. Nothing was written; run python -m analytics store "
                              "init --db URL as the owner role.", "read-only") from None
        raise error from None
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
            raise AnalyticsError(f"{backend}: this {backend.noun} is not an outcomes store; use another --db.")
        if version > 0 and not backed_up:
            con.execute("ROLLBACK")
            backend.backup_before_migration(con, version)
            backed_up = True
            continue
        try:
            for step in range(version, SCHEMA_VERSION):
                if callable(MIGRATIONS[step]):
                    MIGRATIONS[step](con)
                else:
                    for statement in sql_statements(MIGRATIONS[step]):
                        con.execute(statement)
                backend.set_schema_version(con, step + 1)
            con.execute("COMMIT")
            return
        except BaseException:
            con.execute("ROLLBACK")
            raise
