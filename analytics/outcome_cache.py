"""The store's outcome tables kept on disk beside its snapshot, for the dashboard's first visitor after an import.

The dashboard's Overview needs five whole-store outcome tables (0.3-1 s each at 100,000 patients).  They are
written to files beside the store's snapshot, keyed by the store state the frame was read in (the snapshot key:
the store's newest import or revert and a digest of the analytics code and library versions), the definitions
and :data:`OUTCOME_CACHE_FORMAT`, and only for a frame exactly as the store gave it: a new import, revert or code
change gives a new key, so they can never show figures of other data.  A file is written atomically and checked
by reading it back equal (dtypes included); one that does not read back whole is computed again.

:func:`precompute_outcome_tables` computes the tables of the default definitions once an import has committed
(the CLI import and the dashboard's Data page call it), so the first visitor reads them instead of computing them.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import pandas as pd

from .cohorts import patient_start_dates, quarter_of
from .definitions import ANALYSIS_MODES, OutcomeDefinitions
from .errors import AnalyticsError
from .outcomes import patient_outcomes

__all__ = ["OUTCOME_CACHE_FORMAT", "outcome_cache_folder", "cached_table", "outcomes_key", "attributes_key",
           "unit_attributes", "precompute_outcome_tables"]

OUTCOME_CACHE_FORMAT = 1


def outcome_cache_folder(db, frame: pd.DataFrame | None) -> str | None:
    """The cache folder of this store state's outcome tables, or None (a frame without a store state key)."""
    from .store import STORE_STATE_ATTR
    from .store_snapshot import snapshot_directory

    state = frame.attrs.get(STORE_STATE_ATTR) if frame is not None else None
    if not state:
        return None
    # named like a snapshot of this state (g<generation>-...), so the store prunes it with the older snapshots
    return str(snapshot_directory(db) / f"{state}.dashboard-v{OUTCOME_CACHE_FORMAT}")


def outcomes_key(definitions: OutcomeDefinitions) -> str:
    """What names the outcome table (no attribute columns) of ``definitions`` in the cache."""
    d = definitions
    return f"outcomes|{(d.week, d.window_days, d.min_baseline, d.analysis, d.episodes)}"


def attributes_key(episodes: str) -> str:
    """What names the attribute columns of an episode choice's units in the cache."""
    return f"attributes|{episodes}"


def _read(file: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    stored = pq.read_table(file, page_checksum_verification=True)
    frame = stored.to_pandas()
    # Parquet has no seconds-resolution timestamps: every column gets its exact dtype back
    for column, dtype in json.loads(stored.schema.metadata[b"dashboard_dtypes"]).items():
        if str(frame[column].dtype) != dtype:
            frame[column] = frame[column].astype(dtype)
    return frame


def cached_table(folder: str | None, what: str, compute) -> pd.DataFrame:
    """``compute()``, read from ``folder`` when it holds ``what``, else computed and written there (``folder``
    None: computed only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if folder is None:
        return compute()
    path = Path(folder) / (hashlib.sha256(what.encode()).hexdigest()[:24] + ".parquet")
    try:
        if path.exists():
            return _read(path)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        pass  # a damaged or half-written file: computed again, and written anew
    table = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{secrets.token_hex(6)}-{path.name}")
        arrow = pa.Table.from_pandas(table, preserve_index=True)
        dtypes = json.dumps({str(c): str(t) for c, t in table.dtypes.items()}).encode()
        arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), b"dashboard_dtypes": dtypes})
        pq.write_table(arrow, tmp, write_page_checksum=True)
        back = _read(tmp)
        if back.shape == table.shape and (back.dtypes == table.dtypes).all() and back.equals(table) \
                and back.index.equals(table.index):
            os.replace(tmp, path)
        else:  # a table Parquet does not give back exactly is not cached
            tmp.unlink(missing_ok=True)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        pass  # a read-only or full disk: the figures are computed, only not kept
    return table


def unit_attributes(frame: pd.DataFrame, plain: pd.DataFrame, episodes: str, starts: pd.Series) -> pd.DataFrame:
    """Each unit's attribute columns (as :func:`analytics.patient_outcomes` appends them), start date and quarter,
    in the rows of ``plain`` (the outcome table of this episode choice without them); ``starts``:
    :func:`analytics.cohorts.patient_start_dates` of ``frame``."""
    full = patient_outcomes(frame, definitions=OutcomeDefinitions(episodes=episodes))
    attrs = full[[c for c in full.columns if c not in plain.columns]]
    start_date = starts.reindex(full["patient_id"]).to_numpy()
    return attrs.assign(start_date=start_date, start_quarter=quarter_of(pd.Series(start_date)).to_numpy())


def precompute_outcome_tables(db) -> list[str]:
    """Compute and keep the store's outcome tables of the default definitions (what the Overview opens with):
    each analysis mode's table, the every-episode table and the attribute columns.  Returns what was written
    (or found); nothing when the store cannot be read (the dashboard then says why)."""
    from .store import read_store

    try:
        frame = read_store(db).frame
    except (AnalyticsError, OSError):
        return []
    folder = outcome_cache_folder(db, frame)
    if folder is None or frame is None or frame.empty:
        return []
    base = OutcomeDefinitions()
    done = []
    for d in [OutcomeDefinitions(analysis=m) for m in ANALYSIS_MODES] + [OutcomeDefinitions(episodes="all")]:
        table = cached_table(folder, outcomes_key(d), lambda d=d: patient_outcomes(frame, definitions=d,
                                                                                   attributes=False))
        done.append(outcomes_key(d))
        if d == base:
            cached_table(folder, attributes_key(d.episodes),
                         lambda: unit_attributes(frame, table, d.episodes, patient_start_dates(frame)))
            done.append(attributes_key(d.episodes))
    return done
