"""Opening the clinic store: where it is, connecting, migrating, and SQLite errors as plain messages.

Everything that uses the store (imports and reads in :mod:`analytics.store`, the audit trail,
saved cohorts, study-id keys) opens it here.
"""
from __future__ import annotations

import functools
import inspect
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .errors import AnalyticsError, StoreBusyError, StoreUnusableError
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
BUSY_TIMEOUT_S = 10.0


def store_error(path, exc: BaseException) -> AnalyticsError:
    """An SQLite error on the store as a message that says what happened and what to do."""
    text = str(exc).lower()
    where = f"{path}: "
    if "locked" in text or "busy" in text:
        return StoreBusyError(f"{where}the store is busy: another process is writing to it. Nothing was written; "
                              "try again in a moment.")
    if "readonly" in text or "read-only" in text:
        return StoreUnusableError(f"{where}the store is read-only (this account may not write the file or its "
                                  "folder). Nothing was written and the store is as it was; give write access, or "
                                  "point --db / OUTCOMES_DB at a writable copy.", "read-only")
    if "full" in text or getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
        return StoreUnusableError(f"{where}the disk is full. Nothing was written and the store is as it was; free "
                                  "some space and try again.", "disk full")
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return StoreUnusableError(f"{where}the store file is damaged ({exc}). Nothing was written. Restore it from "
                                  "a backup (imports can also be replayed from the original files).", "damaged")
    if Path(path).is_dir():
        return StoreUnusableError(f"{where}this is a folder, not a store file. Point --db / OUTCOMES_DB at a file "
                                  "such as data/outcomes.sqlite.", "folder")
    return StoreUnusableError(f"{where}the store cannot be used ({exc}). Nothing was written; check the path and "
                              "its permissions.", "unreadable")


def reports_store_errors(function):
    """Turn SQLite errors raised while ``function`` uses the store into :func:`store_error` messages."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            db = signature.bind_partial(*args, **kwargs).arguments.get("db")
            raise store_error(db if db is not None else default_db_path(), exc) from None
    return wrapper


def default_db_path() -> Path:
    """``$OUTCOMES_DB`` when set, else ``data/outcomes.sqlite``."""
    return Path(os.environ.get("OUTCOMES_DB") or DEFAULT_DB)


def utc_now() -> str:
    """The time now (UTC, seconds) as ISO 8601 text, as every store table records it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def open_store(path=None, *, create: bool = True) -> sqlite3.Connection:
    """Open (and create or migrate) the store.

    WAL journal (readers never wait for a writer), foreign keys on, and a
    busy timeout so a second writer waits before giving up.  An older schema
    is migrated after a backup copy ``<file>.v<old>-backup-<time>`` is written.

    Raises
    ------
    AnalyticsError
        When the file is not a store of this tool, or is newer than this version.
    """
    path = Path(path) if path is not None else default_db_path()
    if path.is_dir():
        raise store_error(path, sqlite3.OperationalError("unable to open database file"))
    if path.is_symlink() and not path.exists():
        raise StoreUnusableError(f"{path}: the store path is a link to {os.readlink(path)}, which does not exist. "
                                 "Point --db / OUTCOMES_DB at the store file itself.", "unreadable")
    if not path.exists() and not create:
        raise AnalyticsError(f"{path}: no store here yet. Import a file first: python -m analytics import FILE")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        con = None
        try:
            con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")  # needs a moment alone while another process creates the file
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=FULL")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if con is not None:
                con.close()
            if "locked" in str(exc) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            if "locked" in str(exc):
                raise StoreBusyError(f"{path}: the store stayed locked for {BUSY_TIMEOUT_S:.0f} s; another "
                                     "process is using it. Nothing was written; try again.") from None
            raise store_error(path, exc) from None
        except sqlite3.DatabaseError as exc:
            if con is not None:
                con.close()
            if "not a database" in str(exc):
                raise AnalyticsError(f"{path}: not a readable outcomes store ({exc}). Point --db at a store "
                                     "file.") from None
            raise store_error(path, exc) from None
    if version > SCHEMA_VERSION:
        con.close()
        raise AnalyticsError(f"{path}: store schema v{version} is newer than this tool (v{SCHEMA_VERSION}); "
                             "update the tool.")
    if version < SCHEMA_VERSION:
        try:
            _migrate(con, path)
        except BaseException:
            con.close()
            raise
    return con


def _migrate(con: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to date under the write lock (several processes may open a new store at once)."""
    backed_up = False
    while True:
        con.execute("BEGIN IMMEDIATE")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:  # another process migrated first
            con.execute("COMMIT")
            return
        if version == 0 and con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            con.execute("ROLLBACK")
            raise AnalyticsError(f"{path}: this SQLite file is not an outcomes store; use another --db path.")
        if version > 0 and not backed_up:
            con.execute("ROLLBACK")
            backup = path.with_name(f"{path.name}.v{version}-backup-{datetime.now():%Y%m%dT%H%M%S}")
            target = sqlite3.connect(backup)
            con.backup(target)  # a consistent copy, WAL included
            target.close()
            backed_up = True
            continue
        try:
            for step in range(version, SCHEMA_VERSION):
                if callable(MIGRATIONS[step]):
                    MIGRATIONS[step](con)
                else:
                    for statement in sql_statements(MIGRATIONS[step]):
                        con.execute(statement)
                con.execute(f"PRAGMA user_version = {step + 1}")
            con.execute("COMMIT")
            return
        except BaseException:
            con.execute("ROLLBACK")
            raise
