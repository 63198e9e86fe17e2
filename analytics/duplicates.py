"""Duplicate reconciliation: one questionnaire per patient and time.

Rows are put in patient-then-time order (usually they already are: the check
costs no sort), rows with the same patient and time are compared, exact copies
are collapsed with a warning, and copies that differ are refused naming both
lines.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .loading import RawTable
from .problems import no_problems
from .definitions import DAY_LIMIT
from .study_days import shown_day

__all__ = ["sort_order", "reconcile_duplicates"]

_KEY_OFFSET = DAY_LIMIT  # time keys are >= -DAY_LIMIT: shifted to start at 0 in the sort key
_KEY_BITS = 26  # time key + offset < 2**26 (episode blocks up to EPISODE_LIMIT, dates + 1e7)


def sort_order(pcodes: np.ndarray, when: np.ndarray):
    """Row order by patient then time (stable: file order among equals), or None when the rows already are.

    Exports usually come one block per patient in time order: that is checked in
    two vectorised passes and costs no sort.  Otherwise one int64 key (patient in
    the high bits, time in the low ones) is sorted once, which is several times
    cheaper than a two-key lexsort."""
    if pcodes.size < 2:
        return None
    unsorted = _patients_out_of_time_order(pcodes, when)
    if unsorted is not None:
        if not unsorted.any():
            return None
        # patients come in blocks: only the blocks of patients with a row out of time order are sorted
        rows = np.flatnonzero(unsorted[pcodes])
        del unsorted
        order = np.arange(pcodes.size, dtype=np.int32 if pcodes.size < 2 ** 31 else np.int64)
        order[rows] = rows[np.argsort(_sort_key(pcodes[rows], when[rows]), kind="stable")]
        return order
    return np.argsort(_sort_key(pcodes, when), kind="stable")


def _patients_out_of_time_order(pcodes: np.ndarray, when: np.ndarray):
    """Which patients (by code) have a row earlier in time than the row before it, or None when the patients
    do not come in blocks (a code smaller than the one before it).

    Compared a block of rows at a time: differences of whole columns would be a float64 and an int array the
    size of the file at the engine's peak of memory."""
    unsorted = np.zeros(int(pcodes.max()) + 1, bool)
    n = pcodes.size
    for a in range(1, n, _STEP):  # blocks of a million rows, not rows
        b = min(n, a + _STEP)
        p, w = pcodes[a - 1:b], when[a - 1:b]
        dp = np.diff(p)
        if (dp < 0).any():
            return None
        back = (dp == 0) & (np.diff(w) < 0)  # a row earlier in time than the one before it
        unsorted[p[1:][back]] = True
    return unsorted


def _sort_key(pcodes: np.ndarray, when: np.ndarray) -> np.ndarray:
    """One int64 per row: patient in the high bits, time in the low ones."""
    key = pcodes.astype(np.int64)
    key <<= _KEY_BITS
    key |= (when + _KEY_OFFSET).astype(np.int64)
    return key


def reconcile_duplicates(df: pd.DataFrame, raw: RawTable, pcodes, when, order, parsed: dict):
    """Rows to keep (in order; None = all, as they are); errors for conflicting duplicates; warnings for exact ones.

    ``parsed`` holds the parsed score and date arrays: they are compared there (the
    raw columns may already be freed); every other column is compared as read."""
    same = _same_as_previous(pcodes, when, order)
    if not same.any():
        return order, no_problems(), no_problems()
    dup, first = _duplicate_pairs(same, order)
    score_differs, other_differs = _differences(df, parsed, dup, first)
    lines, first_lines = raw.lines[dup], raw.lines[first]
    when_text = shown_day(when[dup])
    pid = df["patient_id"].iloc[dup].astype("str").to_numpy()
    errors = pd.concat([
        pd.DataFrame({"line": lines[score_differs], "column": "patient_id", "value": pid[score_differs],
                      "problem": [f"the same patient has another questionnaire on {t} (line {line}) with different "
                                  "scores; keep only the correct one"
                                  for t, line in zip(when_text[score_differs], first_lines[score_differs])],
                      "kind": "the same patient and time twice with different scores"}),
        pd.DataFrame({"line": lines[other_differs], "column": "patient_id", "value": pid[other_differs],
                      "problem": [f"the same questionnaire as line {line} (same patient, {t}, same scores) but with "
                                  "other columns different; keep one row"
                                  for t, line in zip(when_text[other_differs], first_lines[other_differs])],
                      "kind": "the same questionnaire twice with other columns different"}),
    ], ignore_index=True)
    collapsed = pd.DataFrame({"line": lines, "column": "", "value": "",
                              "problem": [f"exact duplicate of line {line}; collapsed into one questionnaire"
                                          for line in first_lines],
                              "kind": "exact duplicate rows collapsed"})
    return (~same if order is None else order[~same]), errors, collapsed


_STEP = 1 << 20  # rows compared at a time: the sorted copies stay a few MB whatever the file size


def _same_as_previous(pcodes: np.ndarray, when: np.ndarray, order) -> np.ndarray:
    """Whether each row (in sorted order) has the same patient and time as the row before it.

    Compared a block of rows at a time, so the sorted patient and time arrays are never copied whole."""
    n = pcodes.size
    same = np.zeros(n, bool)
    for a in range(1, n, _STEP):  # blocks of a million rows, not rows
        b = min(n, a + _STEP)
        at = slice(a - 1, b) if order is None else order[a - 1:b]
        p, w = pcodes[at], when[at]
        same[a:b] = (p[1:] == p[:-1]) & (w[1:] == w[:-1])
    return same


def _duplicate_pairs(same: np.ndarray, order) -> tuple[np.ndarray, np.ndarray]:
    """Row of every repeat (``same`` in sorted order) and of the first row of its group, as file rows."""
    at = np.flatnonzero(same)
    # the group starts found a million rows at a time: all of them at once are an int64 array the size of the
    # file, at the engine's peak of memory
    first = np.empty_like(at)
    last_start = 0  # row 0 starts a group (it has no row before it)
    for a in range(0, same.size, _STEP):  # blocks of a million rows, not rows
        b = min(same.size, a + _STEP)
        starts = np.flatnonzero(~same[a:b]) + a
        lo, hi = np.searchsorted(at, [a, b])
        if hi > lo:
            k = np.searchsorted(starts, at[lo:hi], side="right") - 1
            first[lo:hi] = np.where(k >= 0, starts[np.maximum(k, 0)] if starts.size else last_start, last_start)
        if starts.size:
            last_start = starts[-1]
    if order is None:
        return at, first
    return order[at], order[first]


def _differences(df: pd.DataFrame, parsed: dict, dup: np.ndarray, first: np.ndarray):
    """Whether each repeat's scores differ from its first row's, and (scores equal) whether anything else does."""
    score_differs = np.zeros(dup.size, bool)
    other_differs = np.zeros(dup.size, bool)
    for c, values in parsed.items():
        if c.startswith(("phq9_", "gad7_")):
            score_differs |= values[dup] != values[first]
        else:  # dates: NaN on both sides is equal
            other_differs |= ~((values[dup] == values[first]) | (np.isnan(values[dup]) & np.isnan(values[first])))
    rest = []
    for c in df.columns:
        if c in parsed:
            continue
        same = _same_cells(df[c].array, dup, first)
        if same is None:
            rest.append(c)
        else:
            other_differs |= ~same
    if rest:
        # column by column: ``df[rest]`` copies the whole file's columns first
        a = pd.DataFrame({c: df[c].iloc[dup].reset_index(drop=True) for c in rest}, columns=rest)
        b = pd.DataFrame({c: df[c].iloc[first].reset_index(drop=True) for c in rest}, columns=rest)
        other_differs |= ~((a == b) | (a.isna() & b.isna())).all(axis=1).to_numpy()
    other_differs &= ~score_differs
    return score_differs, other_differs


def _same_cells(values, dup: np.ndarray, first: np.ndarray):
    """Whether each repeat's cell equals its first row's (blank equals blank), read from the column's own
    arrays for the two layouts a registry's columns come in (categorical text: equal codes; nullable
    integers: equal values or both blank); None for any other column (compared as pandas values)."""
    if isinstance(values, pd.Categorical):
        codes = values.codes  # one column, one set of categories: equal codes are equal text; -1 is blank
        return codes[dup] == codes[first]
    if isinstance(values, pd.arrays.IntegerArray):
        data, mask = values._data, values._mask  # read only; pandas' masked arrays have kept these since 1.0
        blank_a, blank_b = mask[dup], mask[first]
        return (blank_a & blank_b) | (~blank_a & ~blank_b & (data[dup] == data[first]))
    return None
