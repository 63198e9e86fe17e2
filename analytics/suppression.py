"""Small-cell suppression for aggregate exports (CMS cell-size rule).

No count from 1 to 10 is shown, nor any value from which one can be derived:

* primary: ``n`` from 1 to 10 hides the whole row (n, events and every value
  computed from them); ``events`` or ``n - events`` from 1 to 10 hides the
  events and the values computed from them (a rate times n gives the events);
* complementary: strata of one dimension (the sites, say) add up to the
  overall row, so a hidden cell could be recovered by subtraction.  Each
  partition (the strata plus their total) is one equation; wherever it has
  exactly one hidden cell of a kind, or its hidden cells could be pinned down
  by what the labels say (``<11`` means 1 to 10; ``suppressed`` means 0 or at
  least 11), another cell is hidden: the smallest non-zero stratum first, then
  a zero stratum (a zero is a complement like any other: 0/12 at one site plus
  the total would give away another site's 12/13), then the total.  Patients
  with no value for the dimension form their own stratum, so the strata
  always add up to the total.
* forced: a caller that publishes the same count in several tables passes the
  cells hidden elsewhere (``force_n`` / ``force_events``), so a count is never
  shown in one table and hidden in another (:mod:`analytics.quarterly`).

Zero is shown as 0 unless it is hidden as a complement.  A hidden count reads
``<11`` only when it is from 1 to 10; any other hidden count (a complement of
0 or of 11 and more) reads ``suppressed``, as do the values computed from
hidden counts and the events of a row whose n is hidden (whatever their value:
"0 events of <11" would be a disclosure).  The ``suppressed`` column names what was hidden in the row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import fftconvolve

from .definitions import SMALL_CELL_MAX

__all__ = ["SUPPRESSED_COUNT", "SUPPRESSED_VALUE", "SMALL_CELL_MAX", "SuppressionMasks", "small_cell_masks",
           "render_suppressed", "suppress_small_cells"]

SUPPRESSED_COUNT = f"<{SMALL_CELL_MAX + 1}"
SUPPRESSED_VALUE = "suppressed"
_DERIVED = ("rate", "ci_low", "ci_high", "difference", "p_value")


@dataclass(frozen=True)
class SuppressionMasks:
    """Which counts of a table are hidden: ``n`` (the whole row) and ``events`` (and values computed from them)."""

    hide_n: np.ndarray
    hide_events: np.ndarray


def _small(x: pd.Series) -> pd.Series:
    x = pd.to_numeric(x, errors="coerce")
    return ((x >= 1) & (x <= SMALL_CELL_MAX)).fillna(False)


def _domain(value: int, upper: int, cap: int | None = None, *, labelled: bool = True) -> np.ndarray:
    """What a reader knows of a hidden count from its label: 1-10 (``<11``), else 0 or 11 and more.

    ``cap`` is a bound the reader knows too (the events of a row never exceed
    its shown n); an unlabelled count (the events of a row whose n is hidden) may be anything.
    """
    d = np.zeros(upper + 1, dtype=bool)
    if not labelled:
        d[:] = True
    elif 1 <= value <= SMALL_CELL_MAX:
        d[1:SMALL_CELL_MAX + 1] = True
    else:
        d[0] = True
        d[SMALL_CELL_MAX + 1:] = True
    if cap is not None:
        d[cap + 1:] = False
    return d


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean convolution: FFT for long arrays (large clinics), exact counting for short ones."""
    if min(len(a), len(b)) < 512:
        return np.convolve(a, b) > 0
    return fftconvolve(a.astype(float), b.astype(float)) > 0.5


def _sumset(domains: list[np.ndarray], upper: int) -> np.ndarray:
    """Every total the cells of ``domains`` can add up to (0..upper)."""
    out = np.zeros(upper + 1, dtype=bool)
    out[0] = True
    for d in domains:
        out = _convolve(out, d)[:upper + 1]
    return out


def _pinned(strata: list[int], caps: list, total: int | None, known: int, upper: int, labelled=None,
            total_labelled: bool = True) -> bool:
    """True when some hidden cell has only one value consistent with the partition's equation.

    ``total = known + sum(strata)`` when the total is hidden (``total`` is its
    value); when it is shown (``total`` None), the hidden strata add up to ``known``.
    """
    labelled = labelled or [True] * len(strata)
    doms = [_domain(v, upper, c, labelled=lab) for v, c, lab in zip(strata, caps, labelled)]
    t_dom = None if total is None else _domain(total, upper, labelled=total_labelled)
    for i in range(len(doms) + (t_dom is not None)):
        others = _sumset([d for j, d in enumerate(doms) if j != i], upper)
        if i == len(doms):  # the total: known + any sum of the strata
            feasible = np.zeros(upper + 1, dtype=bool)
            if known <= upper:
                feasible[known:] = others[:upper + 1 - known]
            feasible &= t_dom
        elif t_dom is None:  # the hidden strata add up to `known`
            rest = known - np.arange(upper + 1)
            feasible = doms[i] & (rest >= 0) & others[np.clip(rest, 0, upper)]
        else:  # strata + known = some admissible total: value k fits when t_dom[known + k + s] for some sum s
            shifted = np.zeros(upper + 1, dtype=bool)
            if known <= upper:
                shifted[:upper + 1 - known] = t_dom[known:]
            fits = _convolve(shifted, others[::-1])[upper:2 * upper + 1]  # index upper + k: pairs with k + s
            feasible = doms[i] & fits
        if feasible.sum() <= 1:
            return True
    return False


def small_cell_masks(table: pd.DataFrame, *, group_by=("metric", "dimension"), total_dimension="overall",
                     dimension_column="dimension", complementary: bool = True, force_n=None,
                     force_events=None) -> SuppressionMasks:
    """Which cells :func:`suppress_small_cells` hides (the same parameters; see there)."""
    out = table.reset_index(drop=True)
    has_events = "events" in out
    n = pd.to_numeric(out["n"], errors="coerce").fillna(0).astype("int64").to_numpy()
    events = (pd.to_numeric(out["events"], errors="coerce").fillna(0).astype("int64").to_numpy() if has_events
              else np.zeros(len(out), dtype="int64"))
    hide_n = _small(pd.Series(n)).to_numpy().copy()
    if force_n is not None:
        hide_n |= np.asarray(force_n, dtype=bool)
    hide_ev = hide_n | ((_small(pd.Series(events)) | _small(pd.Series(n - events))).to_numpy() if has_events
                        else hide_n)
    if force_events is not None:
        hide_ev |= np.asarray(force_events, dtype=bool)
    if complementary:
        _complement(out, n, events, hide_n, hide_ev, has_events, group_by, total_dimension, dimension_column)
    return SuppressionMasks(hide_n, hide_ev | hide_n)


def _partitions(out, group_by, total_dimension, dimension_column):
    """(strata rows, total row or None) of every partition: one equation each."""
    keys = [c for c in group_by if c in out]
    keys = keys[0] if len(keys) == 1 else keys  # one key: scalar group labels (pandas 4 changes list keys)
    if dimension_column not in out:
        return [(list(idx), None) for idx in out.groupby(keys, sort=False, dropna=False).groups.values()]
    is_total = (out[dimension_column] == total_dimension).to_numpy()
    outer = [c for c in group_by if c in out and c != dimension_column]
    totals = {}
    for i in np.flatnonzero(is_total):
        totals.setdefault(tuple(out.loc[i, outer]) if outer else (), i)
    parts = []
    for _, idx in out[~is_total].groupby(keys, sort=False, dropna=False).groups.items():
        idx = list(idx)
        key = tuple(out.loc[idx[0], outer]) if outer else ()
        parts.append((idx, totals.get(key)))
    return parts


def _complement(out, n, events, hide_n, hide_ev, has_events, group_by, total_dimension, dimension_column):
    parts = _partitions(out, group_by, total_dimension, dimension_column)
    changed = True
    while changed:  # each pass hides at most one more cell per partition and kind
        changed = False
        for kind in ("n", "events") if has_events else ("n",):
            hide, values = (hide_n, n) if kind == "n" else (hide_ev, events)
            for strata, total in parts:
                hidden = [i for i in strata if hide[i]]
                total_hidden = total is not None and bool(hide[total])
                count = len(hidden) + total_hidden
                if count == 0:
                    continue
                need = count == 1  # a total may be published elsewhere, so one hidden cell never stands alone
                if not need and total is not None:
                    shown_sum = int(sum(values[i] for i in strata if not hide[i]))
                    upper = int(max(values[total], values[strata].sum()))
                    if kind == "events":  # events never exceed the patients
                        upper = max(upper, int(n[total]))
                    known = int(values[total]) - shown_sum if not total_hidden else shown_sum
                    caps = [int(n[i]) if kind == "events" and not hide_n[i] else None for i in hidden]
                    labelled = [kind == "n" or not hide_n[i] for i in hidden]
                    need = known >= 0 and _pinned([int(values[i]) for i in hidden], caps,
                                                  int(values[total]) if total_hidden else None, known, upper,
                                                  labelled, kind == "n" or not hide_n[total])
                if not need:
                    continue
                free = [i for i in strata if not hide[i] and (kind == "n" or n[i] > 0)]  # 0 events of n = 0: no cover
                pick = None
                for pool in ([i for i in free if values[i] > 0], free):
                    if pool:
                        pick = min(pool, key=lambda i: values[i])
                        break
                if pick is None and total is not None and not total_hidden:
                    pick = total
                if pick is None:
                    continue
                hide[pick] = True
                if kind == "n":
                    hide_ev[pick] = True
                changed = True


def render_suppressed(table: pd.DataFrame, masks: SuppressionMasks, *, derived=_DERIVED) -> pd.DataFrame:
    """A copy of ``table`` with the hidden cells replaced by their labels and a ``suppressed`` column."""
    out = table.copy().reset_index(drop=True)
    hide_n, hide_ev = masks.hide_n, masks.hide_events | masks.hide_n
    for col, hide in (("n", hide_n), ("events", hide_ev)):
        if col not in out:
            continue
        values = pd.to_numeric(out[col], errors="coerce")
        small = _small(values).to_numpy().copy()
        if col == "events":  # in a row whose n is hidden, "<11" or not would say too much: 0 of "<11" is 0
            small &= ~hide_n
        label = np.where(small, SUPPRESSED_COUNT, SUPPRESSED_VALUE)
        out[col] = out[col].astype(object).where(~hide, pd.Series(label, index=out.index, dtype=object))
    for col in derived:
        if col in out:
            out[col] = out[col].astype(object).where(~hide_ev, SUPPRESSED_VALUE)
    what = np.where(hide_n, "n, events and values from them", np.where(hide_ev, "events and values from them", ""))
    out["suppressed"] = what
    return out


def suppress_small_cells(table: pd.DataFrame, *, group_by=("metric", "dimension"), total_dimension="overall",
                         derived=_DERIVED, dimension_column="dimension", complementary: bool = True,
                         force_n=None, force_events=None) -> pd.DataFrame:
    """Hide small cells and the cells that would reveal them.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy rows with integer ``n`` and ``events`` columns (``events`` may be
        absent for tables of counts only), plus the ``group_by`` columns.
    group_by : tuple of str
        Rows that share these values are strata of one partition; the total
        row (``dimension_column == total_dimension``, same other keys) is
        their sum and is hidden as a complement only when no stratum can be.
    derived : tuple of str
        Columns computed from the counts; hidden whenever the events are.
    complementary : bool
        False for tables with no total to subtract from (a trend over quarters).
    force_n, force_events : array of bool, optional
        Cells to hide whatever their value (hidden in another table of the same export).

    Returns
    -------
    pandas.DataFrame
        A copy in which hidden cells read ``<11`` (counts 1 to 10),
        ``suppressed`` (other hidden counts and computed values), with a
        ``suppressed`` column listing what was hidden.
    """
    masks = small_cell_masks(table, group_by=group_by, total_dimension=total_dimension,
                             dimension_column=dimension_column, complementary=complementary, force_n=force_n,
                             force_events=force_events)
    return render_suppressed(table, masks, derived=derived)
