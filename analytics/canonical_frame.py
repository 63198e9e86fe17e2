"""The canonical frame: assembled from the parsed arrays, and the warnings only it can tell.

One row per questionnaire, sorted by patient, episode and study day, with
compact dtypes (categorical text, Int8/Int16 scores, datetime64[s] dates).
The warnings (incomplete questionnaires, episodes without a baseline,
infusion numbers falling) are computed on it, column-wise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cell_parsing import text_codes
from .definitions import BASELINE_WINDOW_DAYS
from .instruments import GAD7, PHQ9
from .problems import no_problems

__all__ = ["TIME_COLUMNS", "assemble_canonical_frame", "incomplete_questionnaires",
           "incomplete_questionnaires_of_arrays", "unit_codes",
           "units_without_baseline", "infusion_decreases"]

#: Columns that place a questionnaire in time (never kept as attributes).
TIME_COLUMNS = ("day", "assessment_date", "treatment_start_date", "episode")


def _nullable(values: np.ndarray, missing: np.ndarray, dtype) -> pd.arrays.IntegerArray:
    # values under the mask are ignored by pandas, so the -1 sentinels can stay
    return pd.arrays.IntegerArray(values.astype(dtype, copy=False), missing)


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Days since 1970 (NaN = missing) as datetime64[s]; NaT is int64's minimum."""
    missing = np.isnan(days)
    with np.errstate(invalid="ignore"):
        whole = days.astype(np.int64)  # whole days (float32 or float64); NaN rows are overwritten next
    whole[missing] = np.iinfo(np.int64).min
    return whole.view("datetime64[D]").astype("datetime64[s]")


def assemble_canonical_frame(df: pd.DataFrame, keep, pnames, work: dict, *, columns=None) -> pd.DataFrame:
    """The canonical frame, gathering each column once in the final row order (``keep``; None = as is).

    ``work`` holds the parsed arrays; each is popped as it is gathered so the
    working copy and the canonical copy of a column do not both stay alive.
    Columns of ``df`` that are neither time, scores nor known become text attributes.
    ``columns``: the canonical columns to build (default: all); the others are never gathered.
    """
    def take(name):
        a = work.pop(name)
        return a if keep is None else a[keep]

    if columns is not None:
        for name in [c for c in work if c not in columns]:
            del work[name]  # freed before anything is gathered

    cols = {"patient_id": pd.Categorical.from_codes(take("patient_id"), categories=pnames)}
    if "episode" in work:
        cols["episode"] = take("episode").astype(np.int16, copy=False)
    if "day" in work:
        d = take("day")
        missing_day = np.isnan(d)
        cols["day"] = _nullable(np.where(missing_day, 0, d), missing_day, np.int16)
        del d
    for name in ("assessment_date", "treatment_start_date"):
        if name in work:
            cols[name] = _to_datetime(take(name))
    for inst in (PHQ9, GAD7):
        for c in inst.items + [inst.total]:
            if c in work:
                v = take(c)
                cols[c] = _nullable(v, v < 0, np.int16 if c == inst.total else np.int8)
    if "complete" in work:
        cols["complete"] = take("complete")
    if "infusion_number" in work:
        v = take("infusion_number")
        cols["infusion_number"] = _nullable(v, v < 0, np.int16)
    skip = set(TIME_COLUMNS) | {"patient_id", "infusion_number", "line", "episode"}
    for c in df.columns:
        if c not in skip and not c.startswith(("phq9_", "gad7_")) and (columns is None or c in columns):
            codes, uniques = text_codes(df[c])
            cols[c] = pd.Categorical.from_codes(codes if keep is None else codes[keep], categories=uniques)
    if "line" in work:
        cols["line"] = take("line").astype(np.int32)
    return pd.DataFrame(cols, copy=False)


def _numbers_and_known(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Whole numbers of a column (meaningless where unknown) and where they are known, without a float copy
    for the canonical frame's nullable integers (their own buffers)."""
    arr = col.array
    if isinstance(arr, pd.arrays.IntegerArray):
        return arr._data, ~arr._mask  # read only here; pandas' masked arrays have kept these two since 1.0
    values = col.to_numpy(dtype="float64", na_value=np.nan)
    return values, ~np.isnan(values)


def incomplete_questionnaires(frame: pd.DataFrame) -> pd.DataFrame:
    """One warning per questionnaire left unscored (a blank answer and no total), naming the blank items."""
    incomplete = ~frame["complete"].to_numpy()
    if not incomplete.any():
        return no_problems()
    rows = frame.loc[incomplete, [c for c in PHQ9.items + [PHQ9.total] if c in frame]]
    return _incomplete_warnings(frame["line"].to_numpy()[incomplete],
                                {c: rows[c].isna().to_numpy() for c in rows.columns})


def incomplete_questionnaires_of_arrays(complete: np.ndarray, lines: np.ndarray, scores: dict, keep
                                        ) -> pd.DataFrame:
    """:func:`incomplete_questionnaires` of the canonical frame that :func:`assemble_canonical_frame` builds
    from these parsed arrays (file order; scores -1 where blank) and ``keep``, without gathering the item
    columns of every row: only the incomplete rows' items are read (the same rows, in the same order)."""
    if keep is None:
        rows = np.flatnonzero(~complete)
    elif keep.dtype == bool:  # the rows kept, in file order
        rows = np.flatnonzero(keep & ~complete)
    else:  # the rows kept, in the frame's order
        rows = keep[~complete[keep]]
    if rows.size == 0:
        return no_problems()
    return _incomplete_warnings(lines[rows], {c: scores[c][rows] < 0 for c in PHQ9.items + [PHQ9.total]
                                              if c in scores})


def _incomplete_warnings(lines: np.ndarray, blank: dict) -> pd.DataFrame:
    return pd.DataFrame({
        "line": lines,
        "column": _blank_item_names(blank, len(lines)),
        "value": "",
        "problem": "incomplete PHQ-9 (blank answer and no total): not scored (no prorating); left out of "
                   "outcomes",
        "kind": "incomplete PHQ-9",
    })


def _blank_item_names(blank: dict, n: int) -> np.ndarray:
    """'phq9_2' or 'phq9_2, phq9_7' for each incomplete questionnaire (``blank``: each column's blank mask).

    Column-wise: each row's blank columns become one bit pattern, and each distinct
    pattern (a handful) is named once."""
    named = [c for c in PHQ9.items + [PHQ9.total] if c in blank and (c != PHQ9.total or PHQ9.items[0] not in blank)]
    pattern = np.zeros(n, np.int64)
    for bit, c in enumerate(named):  # ten columns, not rows
        pattern |= blank[c].astype(np.int64) << bit
    distinct, back = np.unique(pattern, return_inverse=True)
    names = [", ".join(c for bit, c in enumerate(named) if p >> bit & 1) for p in distinct.tolist()]
    return np.asarray(names, dtype=object)[back.reshape(-1)]


def unit_codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(patient, episode) unit of each row of the canonical frame (sorted by both) and each unit's first row."""
    codes = frame["patient_id"].cat.codes.to_numpy()
    episode = frame["episode"].to_numpy()
    new = np.r_[True, (codes[1:] != codes[:-1]) | (episode[1:] != episode[:-1])] if codes.size else np.zeros(0, bool)
    units = np.cumsum(new, dtype=np.int32)  # fewer units than rows, and rows fit in int32 (MAX_ROWS)
    units -= 1
    return units, np.flatnonzero(new)


def units_without_baseline(frame: pd.DataFrame, units=None) -> pd.DataFrame:
    """One warning per episode (per patient in spec v1 data) with no scored baseline questionnaire.

    ``units``: :func:`unit_codes` of ``frame`` when already known."""
    lo, hi = BASELINE_WINDOW_DAYS
    units, firsts = units if units is not None else unit_codes(frame)
    day = frame["day"].to_numpy(dtype="float32", na_value=np.nan)  # whole days: exact in float32
    with np.errstate(invalid="ignore"):
        has = frame["complete"].to_numpy() & (day >= lo) & (day <= hi)
    del day
    with_base = np.bincount(units[has], minlength=firsts.size) > 0
    rows = firsts[~with_base]
    if rows.size == 0:
        return no_problems()
    episode = frame["episode"].to_numpy()[rows]
    return pd.DataFrame({
        "line": frame["line"].to_numpy()[rows],
        "column": "patient_id",
        "value": frame["patient_id"].cat.categories[frame["patient_id"].cat.codes.to_numpy()[rows]].to_numpy(),
        "problem": np.where(episode > 1, pd.Series(episode).astype("str").radd("episode ").add(": ").to_numpy(), "")
        + f"no scored questionnaire on study days {lo} to {hi}: no baseline, so the "
        + np.where(episode > 1, "episode", "patient") + " is in no outcome denominator",
    })


def infusion_decreases(frame: pd.DataFrame, units=None) -> pd.DataFrame:
    """Warnings for an infusion_number lower than an earlier one in the same episode (naming both lines).

    ``units``: :func:`unit_codes` of ``frame`` when already known."""
    units, _ = units if units is not None else unit_codes(frame)
    inf, known = _numbers_and_known(frame["infusion_number"])
    if np.count_nonzero(known) < 2:
        return no_problems()
    u, v = units[known], inf[known]  # by boolean mask: no int64 row index unless there is something to say
    drop = np.flatnonzero((u[1:] == u[:-1]) & (v[1:] < v[:-1]))  # the known rows after a decrease, less one
    del u, v
    if not drop.size:
        return no_problems()
    if known.all():
        at, before = drop + 1, drop
    else:  # the k-th known row is the first row where the running count of known rows reaches k + 1
        seen = np.cumsum(known, dtype=np.int32 if known.size < 2 ** 31 else np.int64)
        at, before = np.searchsorted(seen, drop + 2), np.searchsorted(seen, drop + 1)
        del seen
    lines = frame["line"].to_numpy()
    return pd.DataFrame({
        "line": lines[at],
        "column": "infusion_number",
        "value": inf[at].astype(np.int64).astype(str),
        "problem": [f"infusion_number falls from {int(a)} (line {int(b)}) to {int(c)} in the same episode; check "
                    "both lines (a new course needs its own treatment_start_date)"
                    for a, b, c in zip(inf[before], lines[before], inf[at])],
        "kind": "infusion_number decreases within an episode",
    })
