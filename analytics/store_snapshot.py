"""A columnar copy of the store's validated contents, so that reading the store costs what reading a file does.

Why: the store's rows were validated when they were imported.  Fetching them row by row from
SQLite and validating every cell again on each read took 24 s for 100,000 patients (a Parquet
file of the same data: 4 s).  So each import and revert, which validates the whole store
anyway, also writes what it validated, as Parquet files in a folder beside the store:

* ``frame.parquet``: the canonical frame (what :func:`analytics.store.read_store` returns);
* ``errors.parquet`` (empty), ``warnings.parquet`` and ``meta.json``: the rest of the validation report;
* ``rows.parquet``: the ``questionnaires`` table as stored (what the next import compares with).

SQLite stays the system of record; the snapshot is a cache that proves itself current.  It is
named by a *key*: the store's generation (the id of the newest import or revert, which only a
committed change to the questionnaires creates) and a digest of that history row and of this
tool's code.  A reader computes the key from the store in one small query and uses the snapshot
only when one with that key exists and reads back whole (Parquet page checksums); otherwise it
rebuilds from SQLite and writes the snapshot for the next reader.  It is written after the
transaction commits (a killed import leaves at most an unused folder, never a snapshot of a state
that was not committed), into a temporary folder renamed into place, so readers never see half
of one.  Deleting the folder is always safe: it is rebuilt on the next read.

The functions here know nothing of SQLite: a PostgreSQL store keeps the same snapshots under its
own key (in a local cache folder).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .store_backends import SQLiteBackend, StoreBackend, store_backend

__all__ = [
    "SNAPSHOT_FORMAT",
    "Snapshot",
    "SnapshotWriter",
    "code_fingerprint",
    "snapshot_directory",
    "snapshot_key",
    "write_snapshot",
    "read_snapshot",
    "read_snapshot_rows",
    "snapshot_row_groups",
    "snapshot_rows_file",
]

#: Raised when the layout of the snapshot files changes, so older snapshots are rebuilt.
SNAPSHOT_FORMAT = 2  # 2: rows.parquet has each row's content_hash
_PACKAGE = Path(__file__).resolve().parent


@functools.cache
def code_fingerprint() -> str:
    """Digest of this package's source and of the library versions that shape the frame.

    A snapshot is only as valid as the validator that made it: after an update (or any change
    to the code) the key differs and the snapshot is rebuilt from the store.
    """
    digest = hashlib.sha256(f"{SNAPSHOT_FORMAT}|{pd.__version__}|{pa.__version__}".encode())
    for path in sorted(_PACKAGE.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def snapshot_directory(store) -> Path:
    """The folder of snapshots of ``store`` (a file, a PostgreSQL URL, or its backend).

    An SQLite file keeps them beside it (``<file>.snapshots``).  A PostgreSQL store has no file, so each
    dashboard server keeps its own in a local cache folder: ``$OUTCOMES_SNAPSHOTS`` when set, else the
    user's cache folder, one sub-folder per server and database.  Two servers never share a stale one:
    the key of a snapshot includes the store's newest history row.
    """
    backend = store if isinstance(store, StoreBackend) else store_backend(store)
    if isinstance(backend, SQLiteBackend):
        return backend.path.with_name(backend.path.name + ".snapshots")
    root = os.environ.get("OUTCOMES_SNAPSHOTS") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "outcomes-analytics",
        "snapshots")
    # the URL (schema option included; it never holds a password) names the store; a digest keeps its
    # characters out of the path
    return Path(root) / hashlib.sha256(getattr(backend, "url", str(backend)).encode()).hexdigest()[:24]


def snapshot_key(generation: int, state: str) -> str:
    """Key of the store's state: ``g<generation>-<digest of state and code>`` (sortable by generation)."""
    digest = hashlib.sha256(f"{state}|{code_fingerprint()}".encode()).hexdigest()[:20]
    return f"g{int(generation):012d}-{digest}"


def _generation(name: str) -> int | None:
    if not name.startswith("g") or "-" not in name:
        return None
    head = name[1:].split("-", 1)[0]
    return int(head) if head.isdigit() else None


@dataclass(frozen=True)
class Snapshot:
    """A snapshot read back: the canonical frame, its warnings and counts, and the fingerprint text."""

    frame: pd.DataFrame
    errors: pd.DataFrame
    warnings: pd.DataFrame
    counts: dict
    fingerprint: str


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, write_page_checksum=True, compression="lz4")  # reads twice as fast as zstd


def _write_batches(tables, path: Path) -> None:
    """Arrow tables of one schema (the first one's) into one Parquet file, each as it comes."""
    writer = None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, write_page_checksum=True, compression="lz4")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotWriter:
    """A snapshot being written: its files are encoded in a thread (while the import inserts and commits), then
    published under the key of the committed state, or discarded when the import does not commit.  ``rows`` may
    be a function giving the rows as Arrow tables one after the other (they are then never all in memory)."""

    _FILES = ("frame.parquet", "errors.parquet", "warnings.parquet", "rows.parquet")

    def __init__(self, directory, generation: int, *, frame: pd.DataFrame, errors: pd.DataFrame,
                 warnings: pd.DataFrame, rows: pd.DataFrame, background: bool = True):
        self.directory = Path(directory)
        # named by its generation: pruning after a newer snapshot removes it only when it is older
        self.tmp = self.directory / f".tmp-g{int(generation):012d}-{uuid.uuid4().hex[:8]}"
        self.dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
        self.ok = False
        tables = dict(zip(self._FILES, (frame, errors, warnings, rows)))
        self.thread = threading.Thread(target=self._write, args=(tables,), name="outcomes-snapshot", daemon=True)
        if background:
            self.thread.start()
        else:
            self.thread.run()
            self.thread = None

    def _write(self, tables: dict) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # a cache folder may be new
            self.tmp.mkdir(mode=0o700)
            for name, frame in tables.items():
                if callable(frame):  # Arrow tables one after the other (a store larger than memory)
                    _write_batches(frame(), self.tmp / name)
                else:
                    _write_table(frame, self.tmp / name)
                _fsync(self.tmp / name)
            self.ok = True
        except (OSError, pa.ArrowException):  # only a cache: readers rebuild it
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def discard(self) -> None:
        self._wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def publish(self, key: str, *, counts: dict, fingerprint: str) -> bool:
        """Put the files in place as snapshot ``key`` (atomically) and remove those of older generations.

        Returns False, having left nothing, when the folder could not be written (read-only, disk full): the
        snapshot is only a cache, so the caller's work stands and readers rebuild."""
        self._wait()
        final = self.directory / key
        if not self.ok:
            return False
        if final.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)
            return True
        try:
            (self.tmp / "meta.json").write_text(json.dumps({"key": key, "counts": counts, "fingerprint": fingerprint,
                                                            "dtypes": self.dtypes}, default=int))
            _fsync(self.tmp / "meta.json")
            try:
                os.rename(self.tmp, final)
            except OSError:
                if not final.exists():  # another process wrote the same key first: theirs is as good
                    raise
                shutil.rmtree(self.tmp, ignore_errors=True)
            _fsync(self.directory)
        except OSError:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        _prune(self.directory, _generation(key))
        return True


def write_snapshot(directory, key: str, *, frame: pd.DataFrame, errors: pd.DataFrame, warnings: pd.DataFrame,
                   counts: dict, fingerprint: str, rows: pd.DataFrame) -> bool:
    """Write the snapshot ``key`` (atomically) and remove those of older generations.

    Returns False, having written nothing, when the folder cannot be written (read-only, disk
    full): the snapshot is only a cache, so the caller's work stands and readers rebuild.
    """
    if (Path(directory) / key).exists():
        return True
    writer = SnapshotWriter(directory, _generation(key) or 0, frame=frame, errors=errors, warnings=warnings, rows=rows, background=False)
    return writer.publish(key, counts=counts, fingerprint=fingerprint)


def _prune(directory: Path, generation: int | None) -> None:
    """Remove snapshots of older generations (a reader that already opened one keeps its open files)."""
    if generation is None:
        return
    try:
        entries = list(directory.iterdir())
    except OSError:  # pruning is housekeeping; the next write tries again
        return
    for entry in entries:
        older = _generation(entry.name)
        stale_tmp = entry.name.startswith(".tmp-") and (_generation(entry.name[5:]) or 0) < generation
        if (older is not None and older < generation) or stale_tmp:
            shutil.rmtree(entry, ignore_errors=True)


def _read_table(path: Path, filters=None) -> pd.DataFrame:
    return pq.read_table(path, filters=filters, page_checksum_verification=True).to_pandas()


def read_snapshot(directory, key: str) -> Snapshot | None:
    """The snapshot ``key``, or None when there is none or it does not read back whole."""
    final = Path(directory) / key
    try:
        meta = json.loads((final / "meta.json").read_text())
        if meta.get("key") != key:
            return None
        frame = _read_table(final / "frame.parquet")
        errors = _read_table(final / "errors.parquet")
        warnings = _read_table(final / "warnings.parquet")
    except (OSError, ValueError, pa.ArrowException):
        return None
    # Parquet has no seconds-resolution timestamps: give every column back its exact dtype
    for column, dtype in meta["dtypes"].items():
        if column in frame and str(frame[column].dtype) != dtype:
            frame[column] = frame[column].astype(dtype)
    return Snapshot(frame, errors, warnings, meta["counts"], meta["fingerprint"])


def read_snapshot_rows(directory, key: str, *, patients=None) -> pd.DataFrame | None:
    """The stored rows of snapshot ``key`` (only those of ``patients`` when given), or None."""
    final = Path(directory) / key
    filters = None
    if patients is not None:
        filters = [("patient_id", "in", pa.array(list(patients), pa.string()))]
    try:
        if json.loads((final / "meta.json").read_text()).get("key") != key:
            return None
        return _read_table(final / "rows.parquet", filters)
    except (OSError, ValueError, pa.ArrowException):
        return None


def snapshot_rows_file(directory, key: str):
    """The stored rows of snapshot ``key`` as an open ``pyarrow.parquet.ParquetFile`` (read a row group at a time;
    it stays readable when a newer snapshot replaces this one), or None when there is no such snapshot."""
    final = Path(directory) / key
    try:
        if json.loads((final / "meta.json").read_text()).get("key") != key:
            return None
        return pq.ParquetFile(final / "rows.parquet", page_checksum_verification=True)
    except (OSError, ValueError, pa.ArrowException):
        return None


def snapshot_row_groups(directory, key: str, *, columns: list[str] | None = None) -> list | None:
    """The stored rows of snapshot ``key`` as a list of functions, each reading one row group as an Arrow table
    (a store larger than memory is read a group at a time; only ``columns`` when given), or None when there is
    no such snapshot or it lacks one of ``columns``.  A damaged group raises ``pyarrow.ArrowException`` when
    read; the caller falls back to the database."""
    final = Path(directory) / key
    try:
        if json.loads((final / "meta.json").read_text()).get("key") != key:
            return None
        file = pq.ParquetFile(final / "rows.parquet", page_checksum_verification=True)
    except (OSError, ValueError, pa.ArrowException):
        return None
    if columns is not None and not set(columns) <= set(file.schema_arrow.names):
        return None
    return [functools.partial(file.read_row_group, i, columns=columns) for i in range(file.num_row_groups)]
