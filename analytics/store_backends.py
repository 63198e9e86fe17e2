"""Where the clinic store lives: an SQLite file (the default, needs nothing) or a PostgreSQL database.

One interface, two implementations.  :mod:`analytics.store` and :mod:`analytics.audit` write their SQL once, in
SQLite's dialect with ``?`` placeholders, and call the few methods below for everything that differs:

============================  ==================================  =============================================
what                          SQLite                              PostgreSQL
============================  ==================================  =============================================
connect                       file, WAL, busy timeout             ``psycopg`` 3, autocommit, explicit BEGIN
one writer at a time          ``BEGIN IMMEDIATE``                 ``BEGIN`` + ``pg_advisory_xact_lock`` per store
                                                                  (released by COMMIT, ROLLBACK or a dead client)
one consistent read           ``BEGIN`` (WAL snapshot)            ``BEGIN ISOLATION LEVEL REPEATABLE READ``
schema version                ``PRAGMA user_version``             table ``store_schema_version``
bulk insert of an Arrow table  ADBC bulk ingest into a staging    ``COPY ... FROM STDIN`` of CSV written by
                              file, then ``INSERT ... SELECT``    Arrow (columns, not Python rows)
                              from it inside the transaction
columnar read                 ``read_sql_query``                  ``COPY (SELECT ...) TO STDOUT`` read by Arrow
audit rows cannot change      triggers                            triggers (and roles: see README, deployment)
backup before a migration     a copy of the file                  none needed: DDL is transactional there; the
                                                                  database's own backups (pg_dump, PITR) apply
============================  ==================================  =============================================

The PostgreSQL connection translates the SQL it is given: ``?`` placeholders, the column ``user`` (a reserved
word there), ``INTEGER PRIMARY KEY`` (an identity column), SQLite's guard triggers and ``json_object``.

A store is named by a path (SQLite) or a ``postgresql://user@host:port/dbname`` URL.  The URL never carries a
password: it is printed in messages, manifests and the audit trail.  libpq takes the password from
``$PGPASSWORD`` or ``~/.pgpass`` (``$PGPASSFILE``).
"""
from __future__ import annotations

import functools
import io
import itertools
import os
import re
import sqlite3
import threading
import time
import uuid
import warnings
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AnalyticsError, StoreBusyError, StoreUnusableError

__all__ = [
    "BUSY_TIMEOUT_S",
    "POSTGRES_WRITE_WAIT_S",
    "StoreBackend",
    "SQLiteBackend",
    "StagedRows",
    "PostgresBackend",
    "store_backend",
    "is_postgres_url",
    "database_errors",
]

#: How long an SQLite writer waits for another before it says the store is busy.
BUSY_TIMEOUT_S = 10.0
#: How long a PostgreSQL writer queues for the store's write lock (imports from several sites wait their turn).
POSTGRES_WRITE_WAIT_S = 600
_URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(db) -> bool:
    return isinstance(db, str) and db.strip().lower().startswith(_URL_SCHEMES)


def store_backend(db) -> "StoreBackend":
    """The backend of a store named by a path or a ``postgresql://`` URL."""
    if isinstance(db, StoreBackend):
        return db
    if is_postgres_url(db):
        return PostgresBackend(db.strip())
    return SQLiteBackend(Path(db))


@functools.cache
def database_errors() -> tuple[type[BaseException], ...]:
    """Exception classes a store's driver raises (psycopg's only when it is installed)."""
    errors: tuple = (sqlite3.DatabaseError, pd.errors.DatabaseError)
    try:
        import psycopg
    except ImportError:
        return errors
    return errors + (psycopg.Error,)


class StoreBackend(ABC):
    """What differs between the two places a store can live; see the module's table."""

    kind: str

    @abstractmethod
    def __str__(self) -> str:
        """How the store is named in messages (never with a password)."""

    #: what the store is, in "this ... is not an outcomes store"
    noun: str = "database"

    @property
    def short_name(self) -> str:
        """The store's name in a report's source line."""
        return str(self)

    @abstractmethod
    def exists(self) -> bool:
        """True when there is a store (of any version) to open."""

    @abstractmethod
    def connect(self, *, create: bool):
        """An open connection with the methods of :class:`_StoreConnection`."""

    @abstractmethod
    def schema_version(self, con) -> int: ...

    @abstractmethod
    def set_schema_version(self, con, version: int) -> None: ...

    @abstractmethod
    def holds_other_tables(self, con) -> bool:
        """True when a store of version 0 already has tables: someone else's database."""

    @abstractmethod
    def backup_before_migration(self, con, version: int) -> None:
        """Keep a copy of a store about to be migrated from ``version`` (outside any transaction)."""

    def reset_row_numbers(self, con, table: str) -> None:
        """After rows were inserted with their own ``id``: new rows are numbered after them (a copied store)."""

    @abstractmethod
    def change_stamp(self) -> tuple:
        """Changes whenever the store's contents change (the dashboard's cache key)."""

    @abstractmethod
    def error(self, exc: BaseException) -> AnalyticsError:
        """A driver error as a message that says what happened and what to do."""


class _StoreConnection(ABC):
    """Methods both connection classes have beyond ``execute``/``executemany``/``in_transaction``/``close``."""

    backend: StoreBackend

    @abstractmethod
    def begin_write(self) -> None:
        """Start a transaction that holds the store's write lock (one writer at a time, readers carry on)."""

    @abstractmethod
    def begin_read(self) -> None:
        """Start a transaction whose queries all see one committed state (takes no lock; writers carry on)."""

    @abstractmethod
    def read_frame(self, sql: str, params=()) -> pd.DataFrame:
        """A query's result as a frame (the types ``pandas.read_sql_query`` gives)."""

    @abstractmethod
    def read_columns(self, sql: str) -> pd.DataFrame:
        """A large query's result column by column: INTEGER columns as ``Int64``, TEXT as ``str``."""

    @abstractmethod
    def insert_rows(self, table: str, columns: list[str], rows) -> None:
        """Insert rows given as tuples of Python values (None for NULL) inside the open transaction (few rows,
        or rows read from another store); bulk data goes through :meth:`insert_table`."""

    def stage_rows(self, batches) -> "StagedRows":
        """Start preparing a bulk insert of ``batches`` (an iterable of Arrow tables whose columns are named as
        the table's; nulls are NULL) while the caller goes on (SQLite: written to a staging file in a thread);
        :meth:`insert_staged` then inserts them.  Nothing is written to the store before that."""
        return StagedRows(batches)

    @abstractmethod
    def insert_staged(self, table: str, staged: "StagedRows") -> int:
        """Insert rows staged by :meth:`stage_rows` inside the open transaction; returns how many."""

    def insert_table(self, table: str, batches) -> int:
        """Insert the rows of Arrow tables (see :meth:`stage_rows`) inside the open transaction."""
        return self.insert_staged(table, self.stage_rows(batches))


class StagedRows:
    """Rows on their way into a table: the batches themselves, or (SQLite) a staging file being written."""

    def __init__(self, batches, thread: threading.Thread | None = None, staging: Path | None = None):
        self.batches = batches
        self.thread = thread
        self.staging = staging
        self.rows = 0
        self.columns: list[str] = []
        self.error: BaseException | None = None

    def cancel(self) -> None:
        """The import stops: wait for the staging thread (it cannot be interrupted) and drop its error."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        self.error = None

    def wait(self) -> None:
        """Until the staging file is written; its error, if any, raised here."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error


# ----------------------------------------------------------------------------- SQLite

class SQLiteConnection(sqlite3.Connection, _StoreConnection):
    """An ``sqlite3.Connection`` (tests and tools can use it as one) with the store interface."""

    backend: "SQLiteBackend"

    def begin_write(self) -> None:
        try:
            self.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise StoreBusyError(f"{self.backend}: the store is busy ({exc}): another import is running. Nothing "
                                 "was written; try again when it has finished.") from None

    def begin_read(self) -> None:
        self.execute("BEGIN")  # WAL: the first read fixes the state this transaction sees

    def read_frame(self, sql: str, params=()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self, params=params)

    def read_columns(self, sql: str) -> pd.DataFrame:
        # fetched in blocks and converted column by column (not cell by cell); a column's kind follows from its
        # first value (the store's columns have TEXT or INTEGER affinity, so one column holds one kind)
        cursor = self.execute(sql)
        names = [d[0] for d in cursor.description]
        parts = []
        while block := cursor.fetchmany(200_000):
            part = {}
            for name, values in zip(names, zip(*block)):
                first = next((v for v in values if v is not None), None)
                if first is None or isinstance(first, str):
                    part[name] = pd.array(values, dtype="str")
                else:  # integers with NULLs: through float64 (exact below 2**53), then nullable integers
                    numbers = np.array(values, dtype="float64")
                    missing = np.isnan(numbers)
                    part[name] = pd.arrays.IntegerArray(np.where(missing, 0, numbers).astype("int64"), missing)
            parts.append(pd.DataFrame(part))
        if not parts:
            return pd.DataFrame({name: pd.Series([], dtype="object") for name in names})
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def insert_rows(self, table: str, columns: list[str], rows) -> None:
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         rows)

    def stage_rows(self, batches) -> StagedRows:
        # Binding Python values one by one (executemany) cost 60% of a large import.  Instead the ADBC SQLite
        # driver writes the Arrow columns into a staging file (in C, no Python object per cell; no journal: it is
        # scratch), in a thread while the import goes on checking; insert_staged then attaches the file and copies
        # from it with one INSERT ... SELECT inside this connection's transaction, so the import stays all or
        # nothing: a killed process leaves the store as it was and at most a staging file, removed by the next
        # import.  The driver has its own copy of SQLite: only one of the two ever opens the staging file at a time
        # (the thread has closed it before this connection attaches it), and the driver never opens the store.
        if not _adbc_available():  # an installation without the driver: slower, the same rows
            return StagedRows(batches)
        staged = StagedRows(None, staging=self.backend.staging_file())
        self._attached.append((None, staged.staging))  # removed at close whatever happens

        def ingest():
            try:
                staged.rows, staged.columns = _ingest_staging(staged.staging, batches)
            except BaseException as exc:  # raised in the importing thread by wait()
                staged.error = exc

        staged.thread = threading.Thread(target=ingest, name="outcomes-staging", daemon=True)
        staged.thread.start()
        return staged

    def insert_staged(self, table: str, staged: StagedRows) -> int:
        if staged.staging is None:  # no driver: bound row by row from the Arrow columns
            written = 0
            for batch in staged.batches:
                if batch.num_rows:
                    columns = batch.to_pydict()
                    self.insert_rows(table, list(columns), zip(*columns.values()))
                    written += batch.num_rows
            return written
        staged.wait()
        if staged.rows == 0:
            return 0
        alias = f"staging{len(self._attached)}"
        self.execute(f"ATTACH DATABASE ? AS {alias}", (str(staged.staging),))
        self._attached.append((alias, staged.staging))
        names = ", ".join(staged.columns)
        # a page cache large enough for the table's and its indexes' growing pages (SQLite's default 2 MB spills
        # them to the WAL and reads them back over and over); memory is taken only as pages are touched
        # (the unique key's index grows with the rows and is written in the file's order, not the key's: when
        # it does not fit, each spill writes its pages to the WAL again; at 22.5 million rows a 256 MB cache
        # grew the WAL past 6 GB in minutes.  So the cache grows with the rows: about a GB per 10 million.)
        cache_kib = max(_BULK_CACHE_KIB, staged.rows * _BULK_CACHE_BYTES_PER_ROW // 1024)
        self.execute(f"PRAGMA main.cache_size = -{cache_kib}")
        self.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM {alias}.rows ORDER BY rowid")
        return staged.rows

    @property
    def _attached(self) -> list:
        if not hasattr(self, "_staging"):
            self._staging = []
        return self._staging

    def close(self) -> None:
        # a staging file can be detached only outside a transaction: after COMMIT or ROLLBACK, i.e. here
        for alias, staging in getattr(self, "_staging", []):
            try:
                if alias is not None and not self.in_transaction:
                    self.execute(f"DETACH DATABASE {alias}")
            except sqlite3.Error:
                pass
            _remove_staging(staging)
        self._staging = []
        super().close()


@functools.cache
def _adbc_available() -> bool:
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


#: KiB of page cache while bulk inserting (see insert_table).
_BULK_CACHE_KIB = 256 * 1024
#: Bytes of page cache per inserted row (at least _BULK_CACHE_KIB): twice the unique key's index entry.
_BULK_CACHE_BYTES_PER_ROW = 100


def _ingest_staging(staging: Path, batches) -> tuple[int, list[str]]:
    """Write Arrow tables into table ``rows`` of a new SQLite file through the ADBC driver, batch by batch.

    Returns the number of rows and the column names."""
    import adbc_driver_sqlite.dbapi as adbc
    from adbc_driver_manager import Error as AdbcError

    _remove_staging(staging)
    written, columns = 0, []
    try:
        with adbc.connect(str(staging), autocommit=True) as stage:
            with stage.cursor() as cur:
                cur.execute("PRAGMA journal_mode = OFF")  # scratch: nothing to recover if it is cut short
                cur.execute("PRAGMA synchronous = OFF")
                for batch in batches:
                    if batch.num_rows:
                        cur.adbc_ingest("rows", batch, mode="create_append")
                        written += batch.num_rows
                        columns = batch.column_names
    except AdbcError as exc:  # e.g. the disk is full: as the sqlite3 error the store's messages understand
        _remove_staging(staging)
        raise sqlite3.OperationalError(str(exc)) from None
    return written, columns


def _remove_staging(staging: Path) -> None:
    for path in (staging, staging.with_name(staging.name + "-journal")):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # housekeeping: the next import tries again
            pass


class SQLiteBackend(StoreBackend):
    """The store as one SQLite file (WAL journal: readers never wait for the writer)."""

    kind = "sqlite"
    noun = "SQLite file"

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def short_name(self) -> str:
        return self.path.name

    def __str__(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def connect(self, *, create: bool) -> SQLiteConnection:
        path = self.path
        if path.is_dir():
            raise self.error(sqlite3.OperationalError("unable to open database file"))
        if path.is_symlink() and not path.exists():
            raise StoreUnusableError(f"{path}: the store path is a link to {os.readlink(path)}, which does not "
                                     "exist. Point --db / OUTCOMES_DB at the store file itself.", "unreadable")
        if not path.exists() and not create:
            raise AnalyticsError(f"{path}: no store here yet. Import a file first: python -m analytics import FILE")
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            con = None
            try:
                con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, factory=SQLiteConnection)
                con.backend = self
                con.execute("PRAGMA journal_mode=WAL")  # needs a moment alone while another process creates the file
                con.execute("PRAGMA foreign_keys=ON")
                con.execute("PRAGMA synchronous=FULL")
                con.execute("PRAGMA user_version").fetchone()
                return con
            except sqlite3.OperationalError as exc:
                if con is not None:
                    con.close()
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if "locked" in str(exc):
                    raise StoreBusyError(f"{path}: the store stayed locked for {BUSY_TIMEOUT_S:.0f} s; another "
                                         "process is using it. Nothing was written; try again.") from None
                raise self.error(exc) from None
            except sqlite3.DatabaseError as exc:
                if con is not None:
                    con.close()
                if "not a database" in str(exc):
                    raise AnalyticsError(f"{path}: not a readable outcomes store ({exc}). Point --db at a store "
                                         "file.") from None
                raise self.error(exc) from None

    def schema_version(self, con) -> int:
        return con.execute("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, con, version: int) -> None:
        con.execute(f"PRAGMA user_version = {int(version)}")

    def holds_other_tables(self, con) -> bool:
        return con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0

    def backup_before_migration(self, con, version: int) -> None:
        backup = self.path.with_name(f"{self.path.name}.v{version}-backup-{datetime.now():%Y%m%dT%H%M%S}")
        target = sqlite3.connect(backup)
        con.backup(target)  # a consistent copy, WAL included
        target.close()

    def staging_file(self) -> Path:
        # beside the store (same disk, same permissions).  Called under the write lock, so any other staging file
        # of this store is left over from a killed import: removed here.
        prefix = f".{self.path.name}.staging-"
        for old in self.path.parent.glob(prefix + "*"):
            if not old.name.startswith(f"{prefix}{os.getpid()}-"):  # not one this process attached
                _remove_staging(old)
        return self.path.with_name(f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}.sqlite")

    def change_stamp(self) -> tuple:
        path = self.path
        return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (path, path.with_name(path.name + "-wal")))

    def error(self, exc: BaseException) -> AnalyticsError:
        text = str(exc).lower()
        where = f"{self.path}: "
        if "locked" in text or "busy" in text:
            return StoreBusyError(f"{where}the store is busy: another process is writing to it. Nothing was "
                                  "written; try again in a moment.")
        if "readonly" in text or "read-only" in text:
            return StoreUnusableError(f"{where}the store is read-only (this account may not write the file or its "
                                      "folder). Nothing was written and the store is as it was; give write access, "
                                      "or point --db / OUTCOMES_DB at a writable copy.", "read-only")
        if "full" in text or getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
            return StoreUnusableError(f"{where}the disk is full. Nothing was written and the store is as it was; "
                                      "free some space and try again.", "disk full")
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            return StoreUnusableError(f"{where}the store file is damaged ({exc}). Nothing was written. Restore it "
                                      "from a backup (imports can also be replayed from the original files).",
                                      "damaged")
        if self.path.is_dir():
            return StoreUnusableError(f"{where}this is a folder, not a store file. Point --db / OUTCOMES_DB at a "
                                      "file such as data/outcomes.sqlite.", "folder")
        return StoreUnusableError(f"{where}the store cannot be used ({exc}). Nothing was written; check the path "
                                  "and its permissions.", "unreadable")


# ----------------------------------------------------------------------------- PostgreSQL

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|%|\buser\b|\bjson_object\(|\bREAL\b|\bINTEGER PRIMARY KEY\b",
                     re.IGNORECASE)
_GUARD_TRIGGER = re.compile(
    r"^CREATE TRIGGER (\w+) BEFORE (UPDATE|DELETE) ON (\w+)\s+BEGIN SELECT RAISE\(ABORT, '([^']*)'\); END;?$",
    re.IGNORECASE | re.DOTALL)
_DROP_TRIGGER = re.compile(r"^DROP TRIGGER IF EXISTS (\w+)$", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _postgres_sql(sql: str, with_params: bool) -> str:
    """SQLite-dialect SQL of this package in PostgreSQL's dialect (outside string literals)."""
    def swap(m: re.Match) -> str:
        token = m.group(0)
        if token[0] in "'\"":
            return token.replace("%", "%%") if with_params else token
        low = token.lower()
        if token == "?":
            return "%s"
        if token == "%":
            return "%%" if with_params else "%"
        if low == "user":
            return '"user"'
        if low == "json_object(":
            return "json_build_object("
        if low == "real":  # SQLite's REAL is 8 bytes; PostgreSQL's is 4 (a dose of 35.7 would not come back)
            return "DOUBLE PRECISION"
        return "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    return _TOKENS.sub(swap, sql)


class PostgresConnection(_StoreConnection):
    """A psycopg 3 connection in autocommit mode (transactions are explicit, as with SQLite here)."""

    def __init__(self, con, backend: "PostgresBackend"):
        self._con = con
        self.backend = backend

    def execute(self, sql: str, params=None):
        statement = sql.strip().rstrip(";").strip()
        trigger = _GUARD_TRIGGER.match(statement)
        if trigger:
            name, event, table, message = trigger.groups()
            return self._guard(name, event, table, message)
        dropped = _DROP_TRIGGER.match(statement)
        if dropped:  # this package's triggers are named <table>_no_<event>
            name = dropped.group(1)
            return self._con.execute(f"DROP TRIGGER IF EXISTS {name} ON {name.rsplit('_no_', 1)[0]}")
        has = params is not None and len(params) > 0
        return self._con.execute(_postgres_sql(sql, has), tuple(params) if has else None)

    def executemany(self, sql: str, rows):
        cur = self._con.cursor()
        cur.executemany(_postgres_sql(sql, True), rows)
        return cur

    def _guard(self, name: str, event: str, table: str, message: str):
        function = f"{name}_refuse"
        self._con.execute(f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                          f"BEGIN RAISE EXCEPTION '{message}'; END $$")
        return self._con.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                                 f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._con.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self._con.close()

    def begin_write(self) -> None:
        import psycopg

        self._con.execute("BEGIN")
        try:
            self._con.execute(f"SET LOCAL lock_timeout = '{int(POSTGRES_WRITE_WAIT_S)}s'")
            # one lock per store (database and schema); a transaction-level lock ends with the transaction,
            # and with the session when the client dies: a killed import releases it and changes nothing
            self._con.execute("SELECT pg_advisory_xact_lock(hashtext(current_database() || '.' || current_schema() "
                              "|| ' outcomes store'))")
        except psycopg.errors.LockNotAvailable:
            self._con.execute("ROLLBACK")
            raise StoreBusyError(f"{self.backend}: another import held the store for {POSTGRES_WRITE_WAIT_S} s. "
                                 "Nothing was written; try again when it has finished.") from None
        except BaseException:
            if self.in_transaction:
                self._con.execute("ROLLBACK")
            raise

    def begin_read(self) -> None:
        self._con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot, no locks taken

    def read_frame(self, sql: str, params=()) -> pd.DataFrame:
        has = params is not None and len(params) > 0
        with warnings.catch_warnings():  # pandas warns that it tests only SQLite among DBAPI drivers
            warnings.simplefilter("ignore", UserWarning)
            return pd.read_sql_query(_postgres_sql(sql, has), self._con, params=tuple(params) if has else None)

    def read_columns(self, sql: str) -> pd.DataFrame:
        import pyarrow as pa
        from pyarrow import csv

        probe = self._con.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
        integer_oids = {20, 21, 23}  # int8, int2, int4
        types = {d.name: pa.int64() if d.type_code in integer_oids else pa.string() for d in probe.description}
        buffer = io.BytesIO()
        with self._con.cursor().copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER true)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        buffer.seek(0)
        # COPY writes NULL unquoted and an empty text quoted: only the unquoted empty field is missing
        table = csv.read_csv(buffer, convert_options=csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False))
        return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    def insert_rows(self, table: str, columns: list[str], rows) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with self._con.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def insert_staged(self, table: str, staged: StagedRows) -> int:
        from pyarrow import csv

        # CSV written by Arrow, column by column; every value quoted and NULL left unquoted, so COPY tells a
        # NULL from an empty text
        options = csv.WriteOptions(include_header=False, quoting_style="all_valid")
        batches = (batch for batch in staged.batches if batch.num_rows)
        first = next(batches, None)
        if first is None:
            return 0
        names = ", ".join(f'"{c}"' for c in first.column_names)
        written = 0
        with self._con.cursor().copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy:
            for batch in itertools.chain([first], batches):
                buffer = io.BytesIO()
                csv.write_csv(batch, buffer, write_options=options)
                copy.write(buffer.getvalue())
                written += batch.num_rows
        return written


class PostgresBackend(StoreBackend):
    """The store as one PostgreSQL database (or schema: ``?options=-csearch_path%3Dclinic``)."""

    kind = "postgresql"

    def __init__(self, url: str):
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(url)
        except Exception as exc:  # psycopg.ProgrammingError: the URL does not parse
            raise AnalyticsError(f"the store URL does not parse ({exc}); write it as "
                                 "postgresql://USER@HOST:PORT/DATABASE") from None
        if params.get("password"):
            raise AnalyticsError("the store URL holds a password; take it out (it would show in messages, "
                                 "manifests and the process list) and give it in $PGPASSWORD or ~/.pgpass instead.")
        self.url = url
        self.params = params

    def __str__(self) -> str:
        p = self.params
        host = p.get("host") or "local socket"
        port = f":{p['port']}" if p.get("port") else ""
        user = f"{p['user']}@" if p.get("user") else ""
        return f"postgresql://{user}{host}{port}/{p.get('dbname', '')}"

    def _connect(self):
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                   application_name="ketamine-outcomes")
        except psycopg.OperationalError as exc:
            raise self.error(exc) from None

    def exists(self) -> bool:
        con = self._connect()
        try:
            return self._has_version_table(con)
        finally:
            con.close()

    @staticmethod
    def _has_version_table(con) -> bool:
        # a catalog scan, not to_regclass: a name looked up before another process created the table stays
        # "missing" in this session's catalog cache until its next relation lock
        return con.execute("SELECT count(*) > 0 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                           "AND tablename = 'store_schema_version'").fetchone()[0]

    def connect(self, *, create: bool) -> PostgresConnection:
        con = self._connect()
        if not create and not self._has_version_table(con):
            con.close()
            raise AnalyticsError(f"{self}: no store here yet. Import a file first: python -m analytics import FILE "
                                 "--db URL")
        return PostgresConnection(con, self)

    def schema_version(self, con) -> int:
        if not self._has_version_table(con._con):
            return 0
        row = con.execute("SELECT version FROM store_schema_version").fetchone()
        return row[0] if row else 0

    def set_schema_version(self, con, version: int) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS store_schema_version (version INTEGER NOT NULL)")
        con.execute("DELETE FROM store_schema_version")
        con.execute("INSERT INTO store_schema_version (version) VALUES (?)", (int(version),))

    def holds_other_tables(self, con) -> bool:
        return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                           "AND table_name <> 'store_schema_version'").fetchone()[0] > 0

    def backup_before_migration(self, con, version: int) -> None:
        """Nothing to copy: a failed migration rolls back whole (DDL is transactional in PostgreSQL)."""

    def reset_row_numbers(self, con, table: str) -> None:
        sequence = con.execute("SELECT pg_get_serial_sequence(?, 'id')", (table,)).fetchone()[0]
        if sequence:  # identity columns draw from a sequence that explicit ids did not advance
            con.execute(f"SELECT setval(?, (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)", (sequence,))

    def change_stamp(self) -> tuple:
        con = self._connect()
        try:
            if not self._has_version_table(con):
                return (0,)
            # every import and revert adds a row to imports; nothing else changes the questionnaires
            return tuple(con.execute("SELECT coalesce(max(id), 0), count(*) FROM imports").fetchone())
        finally:
            con.close()

    def error(self, exc: BaseException) -> AnalyticsError:
        import psycopg

        where = f"{self}: "
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return StoreUnusableError(f"{where}the database refused this role ({str(exc).strip()}). Nothing was "
                                      "written and the store is as it was. Imports need the import role; the "
                                      "dashboard's role only reads (see README, deployment).", "read-only")
        if isinstance(exc, (psycopg.errors.ReadOnlySqlTransaction,)):
            return StoreUnusableError(f"{where}the database is read-only (a standby?). Nothing was written; point "
                                      "--db / OUTCOMES_DB at the primary.", "read-only")
        if isinstance(exc, psycopg.errors.DiskFull):
            return StoreUnusableError(f"{where}the database server's disk is full. Nothing was written and the store "
                                      "is as it was; ask for space and try again.", "disk full")
        if isinstance(exc, (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)):
            return StoreBusyError(f"{where}the store is busy: another process is writing to it. Nothing was "
                                  "written; try again in a moment.")
        if isinstance(exc, psycopg.errors.DataCorrupted):
            return StoreUnusableError(f"{where}the database reports damaged data ({exc}). Nothing was written. "
                                      "Restore from the database's backups.", "damaged")
        text = " ".join(str(exc).split())
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnusableError(f"{where}cannot use the database server ({text}). Nothing was written; check "
                                      "the server is running, the URL, and the password in $PGPASSWORD or "
                                      "~/.pgpass.", "unreachable")
        return StoreUnusableError(f"{where}the store cannot be used ({text}). Nothing was written; check the URL and "
                                  "the role's rights.", "unreadable")
