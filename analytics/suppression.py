"""Small-cell suppression for aggregate exports (CMS cell-size rule).

No count from 1 to 10 is shown, nor any value from which one can be derived:

* primary: ``n`` from 1 to 10 hides the whole row (n, events and every value
  computed from them); ``events`` or ``n - events`` from 1 to 10 hides the
  events and the values computed from them (a rate times n gives the events);
* complementary: strata of one dimension (the sites, say) add up to the
  overall row, so a single hidden cell could be recovered by subtraction.
  Wherever a dimension has exactly one hidden cell of a kind, the smallest
  other non-zero cell of that kind is hidden too, until no dimension has one.
  Patients with no value for the dimension form their own stratum, so the
  strata always add up to the total.

Zero may be shown.  Hidden counts read ``<11``; values computed from them read
``suppressed``; the ``suppressed`` column names what was hidden in the row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SUPPRESSED_COUNT", "SUPPRESSED_VALUE", "SMALL_CELL_MAX", "suppress_small_cells"]

SUPPRESSED_COUNT = "<11"
SUPPRESSED_VALUE = "suppressed"
SMALL_CELL_MAX = 10


def _small(x: pd.Series) -> pd.Series:
    x = pd.to_numeric(x, errors="coerce")
    return ((x >= 1) & (x <= SMALL_CELL_MAX)).fillna(False)


def suppress_small_cells(table: pd.DataFrame, *, group_by=("metric", "dimension"), total_dimension="overall",
                         derived=("rate", "ci_low", "ci_high", "difference", "p_value"),
                         dimension_column="dimension", complementary: bool = True) -> pd.DataFrame:
    """Hide small cells and the cells that would reveal them.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy rows with integer ``n`` and ``events`` columns (``events`` may be
        absent for tables of counts only), plus the ``group_by`` columns.
    group_by : tuple of str
        Rows that share these values are strata of one partition (the total
        row has ``dimension_column == total_dimension`` and is never a complement).
    derived : tuple of str
        Columns computed from the counts; hidden whenever the events are.
    complementary : bool
        False for tables with no total to subtract from (a trend over quarters).

    Returns
    -------
    pandas.DataFrame
        A copy in which hidden cells read ``<11`` (counts) or ``suppressed``
        (computed values), with a ``suppressed`` column listing what was hidden.
    """
    out = table.copy().reset_index(drop=True)
    has_events = "events" in out
    n = pd.to_numeric(out["n"], errors="coerce").fillna(0)
    events = pd.to_numeric(out["events"], errors="coerce").fillna(0) if has_events else pd.Series(0, index=out.index)
    hide_n = _small(n)
    hide_ev = hide_n | (_small(events) | _small(n - events)) if has_events else hide_n.copy()
    keys = [c for c in group_by if c in out]
    strata = out[dimension_column] != total_dimension if dimension_column in out else pd.Series(True, index=out.index)
    changed = complementary
    while changed:  # each pass hides at most one more cell per partition and kind
        changed = False
        for hide, values in ((hide_n, n), (hide_ev, events)):
            if not has_events and hide is hide_ev:
                continue
            for _, idx in out[strata].groupby(keys, sort=False, dropna=False).groups.items():
                idx = list(idx)
                hidden = [i for i in idx if hide[i]]
                if len(hidden) != 1:
                    continue
                candidates = [i for i in idx if not hide[i] and values[i] > 0]
                if candidates:
                    pick = min(candidates, key=lambda i: values[i])
                    hide[pick] = True
                    if hide is hide_n:
                        hide_ev[pick] = True
                    changed = True
    hide_ev |= hide_n
    for col in ("n",):
        out[col] = out[col].astype(object).where(~hide_n, SUPPRESSED_COUNT)
    if has_events:
        out["events"] = out["events"].astype(object).where(~hide_ev, SUPPRESSED_COUNT)
    for col in derived:
        if col in out:
            out[col] = out[col].astype(object).where(~hide_ev, SUPPRESSED_VALUE)
    what = np.where(hide_n, "n, events and values from them", np.where(hide_ev, "events and values from them", ""))
    out["suppressed"] = what
    return out
