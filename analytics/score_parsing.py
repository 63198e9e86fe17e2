"""Questionnaire scores: item and total cells parsed, checked against each other, and scored.

Scores are held as int8/int16 arrays with -1 for a blank (or refused) cell: two
bytes a cell at most.  A questionnaire is scored when all its items are known
or its total is given (spec v2); a given total must equal the sum of the items.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cell_parsing import parse_bounded
from .instruments import GAD7, PHQ9, Instrument
from .loading import release_freed_memory
from .problems import ProblemCollector

__all__ = ["parse_scores", "score_rows"]


def parse_scores(df: pd.DataFrame, err: ProblemCollector, *, consume: bool = False) -> dict[str, np.ndarray]:
    """Every PHQ-9 and GAD-7 item and total column present, parsed and range-checked.

    With ``consume`` each raw column is dropped from ``df`` once parsed (while
    nothing was refused), which lowers peak memory on large files."""
    scores: dict[str, np.ndarray] = {}
    for inst in (PHQ9, GAD7):
        for col in inst.items + [inst.total]:
            if col in df:
                hi = inst.item_max if col != inst.total else inst.total_max
                what = "item" if col != inst.total else "total"
                scores[col] = parse_bounded(df[col], col, 0, hi, err,
                                            f"{inst.name} {what} is not a whole number; allowed: a whole number "
                                            f"from 0 to {hi}, or blank",
                                            f"{inst.name} {what} is out of range; allowed: 0 to {hi}, or blank")
                if consume and not err.parts:
                    del df[col]  # parsed into ``scores``; later checks compare scores there
                    release_freed_memory()  # the Arrow column's pages, at once rather than at the pool's leisure
    return scores


def score_rows(inst: Instrument, scores: dict, err: ProblemCollector, n: int):
    """Totals (-1 = none) and completeness of one instrument; item/total disagreements go to ``err``.

    Computed a block of rows at a time (:data:`_SCORE_BLOCK`): the masks and sums of a block stay in the CPU's
    cache, and no temporary the size of the file is made (on a registry each is tens of MB, at the peak)."""
    have = [c for c in inst.items if c in scores]
    given = scores.get(inst.total)
    total = np.empty(n, np.int8)
    disagree, over = [], []  # rows, block by block (usually none)
    for a in range(0, n, _SCORE_BLOCK):  # blocks of rows, not rows
        b = min(n, a + _SCORE_BLOCK)
        all_items = np.full(b - a, len(have) == inst.n_items)
        item_sum = np.zeros(b - a, np.int8)  # at most 27
        for c in have:  # nine columns, not rows
            values = scores[c][a:b]
            all_items &= values >= 0
            item_sum += np.maximum(values, 0)
        part = total[a:b]
        np.copyto(part, item_sum)
        part[~all_items] = -1
        if given is None:
            continue
        g = given[a:b]
        has_total = g >= 0
        disagree.append(np.flatnonzero(all_items & has_total & (item_sum != g)) + a)
        if have:
            over.append(np.flatnonzero(~all_items & has_total & (item_sum > g)) + a)
        # spec v2: a known total is scored whatever the items (item 9 may be unknown: SI then is too)
        by_total = ~all_items & has_total
        part[by_total] = g[by_total]
    if given is not None:
        _add_rows(err, n, disagree, inst.total, given, f"{inst.name} total does not equal the sum of its items; "
                                                          "correct the total or the items")
        if have:
            _add_rows(err, n, over, inst.total, given, f"{inst.name} total is smaller than the sum of the answered "
                                                       "items; correct one of them")
    return total, total >= 0


_SCORE_BLOCK = 1 << 16  # rows at a time


def _add_rows(err: ProblemCollector, n: int, rows: list, column: str, given: np.ndarray, problem: str) -> None:
    """One problem for each of ``rows`` (arrays of row numbers), naming the given total."""
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if rows.size:
        mask = np.zeros(n, bool)
        mask[rows] = True
        err.add(mask, column, problem, values=given[mask].astype(str))
