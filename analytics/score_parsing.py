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
    """Totals (-1 = none) and completeness of one instrument; item/total disagreements go to ``err``."""
    have = [c for c in inst.items if c in scores]
    all_items = np.full(n, len(have) == inst.n_items)
    item_sum = np.zeros(n, np.int8)  # at most 27
    for c in have:  # nine columns, not rows
        all_items &= scores[c] >= 0
        item_sum += np.maximum(scores[c], 0)
    given = scores.get(inst.total)
    has_total = given >= 0 if given is not None else np.zeros(n, bool)
    disagree = all_items & has_total & (item_sum != given)
    err.add(disagree, inst.total, f"{inst.name} total does not equal the sum of its items; correct the total or "
                                  "the items", values=given[disagree].astype(str) if disagree.any() else None)
    if have and given is not None:
        over = ~all_items & has_total & (item_sum > given)
        err.add(over, inst.total, f"{inst.name} total is smaller than the sum of the answered items; correct one "
                                  "of them", values=given[over].astype(str) if over.any() else None)
    total = np.where(all_items, item_sum, np.int8(-1))
    # spec v2: a known total is scored whatever the items (item 9 may be unknown: SI then is too)
    by_total = ~all_items & has_total
    if by_total.any():
        total[by_total] = given[by_total]
    return total, total >= 0
