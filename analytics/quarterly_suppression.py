"""Small-cell suppression across the tables of one quarterly export (:mod:`analytics.quarterly`).

A count published in two tables is hidden in both or shown in both; the
complements of each table are chosen again until nothing changes.  The rules
of one table are :mod:`analytics.suppression`'s.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .suppression import SuppressionMasks, render_suppressed, small_cell_masks

__all__ = ["suppress_together"]


def suppress_together(raw_summary: pd.DataFrame, trend: pd.DataFrame, safety: pd.DataFrame,
                      completeness: pd.DataFrame, quarter: str, *, derived: tuple) -> tuple:
    """Suppress the tables of one export so that no count is shown in one and hidden in another.

    The summary's overall rows are the trend's row for this quarter; the
    safety table's SI resolution is the summary's; the cohort, its eligible
    patients, completers and SI counts recur in the safety and completeness
    tables.  A count hidden in one table is hidden wherever it is published
    (matched by meaning where the tables share a row, by value among the
    cohort-level counts otherwise: over-hiding a coincidence is the safe
    error), then the complements are chosen again, until nothing changes.
    """
    own = (raw_summary["benchmark_id"] == "").to_numpy()
    s_own = raw_summary[own].reset_index(drop=True)
    frames = {"summary": s_own, "trend": trend.reset_index(drop=True), "safety": safety.reset_index(drop=True),
              "completeness": completeness.reset_index(drop=True)}
    options = {"summary": dict(group_by=("metric", "dimension")),
               "trend": dict(group_by=("metric",), complementary=False),
               "safety": dict(group_by=("measure",), complementary=False),
               "completeness": dict(group_by=("measure",), complementary=False)}
    force = {k: [np.zeros(len(f), dtype=bool), np.zeros(len(f), dtype=bool)] for k, f in frames.items()}
    # the same quantity in two tables: (table, row) pairs whose n and events are equal by construction
    overall = {m: i for i, m in zip(np.flatnonzero(s_own["dimension"] == "overall"),
                                   s_own.loc[s_own["dimension"] == "overall", "metric"])}
    now = {m: i for i, m in zip(np.flatnonzero(frames["trend"]["quarter"] == quarter),
                               frames["trend"].loc[frames["trend"]["quarter"] == quarter, "metric"])}
    same_rows = [(("summary", overall[m]), ("trend", now[m])) for m in overall if m in now]
    if "si_resolution" in overall:
        same_rows.append((("summary", overall["si_resolution"]), ("safety", 1)))
    pool = [("summary", i) for i in overall.values()] + [("trend", i) for i in now.values()] + \
        [("safety", i) for i in range(len(frames["safety"]))] + \
        [("completeness", i) for i in range(len(frames["completeness"]))]
    while True:
        masks = {k: small_cell_masks(f, force_n=force[k][0], force_events=force[k][1], **options[k])
                 for k, f in frames.items()}
        hide = {k: [m.hide_n.copy(), m.hide_events.copy()] for k, m in masks.items()}
        for a, b in same_rows:
            for kind in (0, 1):
                either = hide[a[0]][kind][a[1]] or hide[b[0]][kind][b[1]]
                hide[a[0]][kind][a[1]] = hide[b[0]][kind][b[1]] = either
        hidden_values = {int(frames[t].loc[i, col]) for t, i in pool for kind, col in ((0, "n"), (1, "events"))
                         if hide[t][kind][i]} - {0}  # a hidden 0 is the event count of a hidden row: no count itself
        for t, i in pool:
            for kind, col in ((0, "n"), (1, "events")):
                if int(frames[t].loc[i, col]) in hidden_values:
                    hide[t][kind][i] = True
        for k in hide:  # a hidden n hides the whole row
            hide[k][1] |= hide[k][0]
        if all((hide[k][0] == masks[k].hide_n).all() and (hide[k][1] == masks[k].hide_events).all() for k in hide):
            break
        force = hide
    summary_masks = masks["summary"]
    # the rows comparing with a published figure repeat their stratum's counts: hidden the same way
    keyed = s_own.assign(_n=summary_masks.hide_n, _e=summary_masks.hide_events).set_index(
        ["dimension", "stratum", "metric"])[["_n", "_e"]]
    full = keyed.reindex(pd.MultiIndex.from_frame(raw_summary[["dimension", "stratum", "metric"]]))
    summary = render_suppressed(raw_summary, SuppressionMasks(full["_n"].to_numpy(dtype=bool),
                                                               full["_e"].to_numpy(dtype=bool)), derived=derived)
    return (summary, *(render_suppressed(frames[k], masks[k], derived=derived)
                       for k in ("trend", "safety", "completeness")))
