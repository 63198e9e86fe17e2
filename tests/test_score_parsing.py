"""Scoring a block of rows at a time (analytics.score_parsing.score_rows) against the whole-array rule.

The rule (spec v2): a questionnaire is scored when all its items are known (their sum) or its total is given
(the total); a given total must equal the sum of all the items, and may not be smaller than the sum of the
answered ones.  The reference below is that rule written over whole columns, as the function was before it
worked in blocks; block edges are where the two could part.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import score_parsing
from analytics.instruments import GAD7, PHQ9
from analytics.loading import raw_table_from_frame
from analytics.problems import ProblemCollector
from analytics.score_parsing import score_rows


def _reference(inst, scores, n):
    have = [c for c in inst.items if c in scores]
    all_items = np.full(n, len(have) == inst.n_items)
    item_sum = np.zeros(n, np.int64)
    for c in have:
        all_items &= scores[c] >= 0
        item_sum += np.maximum(scores[c], 0)
    given = scores.get(inst.total)
    has_total = given >= 0 if given is not None else np.zeros(n, bool)
    disagree = all_items & has_total & (item_sum != (given if given is not None else 0))
    over = ~all_items & has_total & (item_sum > (given if given is not None else 0)) if have else np.zeros(n, bool)
    total = np.where(all_items, item_sum, -1)
    by_total = ~all_items & has_total
    if given is not None:
        total[by_total] = given[by_total]
    return total, disagree, over


@pytest.mark.parametrize("inst", [PHQ9, GAD7])
@pytest.mark.parametrize("layout", ["items and total", "items only", "total only", "some items and total"])
def test_blocks_give_the_whole_array_totals_and_problems(monkeypatch, inst, layout):
    monkeypatch.setattr(score_parsing, "_SCORE_BLOCK", 7)
    rng = np.random.default_rng(len(layout))
    n = 300
    items = inst.items if layout in ("items and total", "items only") else \
        inst.items[:3] if layout == "some items and total" else []
    scores = {c: np.where(rng.random(n) < 0.1, -1, rng.integers(0, inst.item_max + 1, n)).astype(np.int8)
              for c in items}
    if layout != "items only":
        right = sum(np.maximum(v, 0) for v in scores.values()) if scores else rng.integers(0, 20, n)
        wrong = rng.integers(0, inst.total_max + 1, n)
        scores[inst.total] = np.select([rng.random(n) < 0.3, rng.random(n) < 0.2], [-1, wrong], right).astype(np.int8)
    err = ProblemCollector(raw_table_from_frame(pd.DataFrame(index=range(n))))
    total, complete = score_rows(inst, scores, err, n)
    expected, disagree, over = _reference(inst, scores, n)
    assert total.dtype == np.int8
    np.testing.assert_array_equal(total, expected)
    np.testing.assert_array_equal(complete, expected >= 0)
    table = err.table() if err.parts else pd.DataFrame(columns=["line", "problem", "value"])
    found = {(int(r.line), "not equal" in r.problem) for r in table.itertuples()}
    assert found == {(i + 2, True) for i in np.flatnonzero(disagree)} | {(i + 2, False) for i in np.flatnonzero(over)}
    if layout in ("items and total", "some items and total"):
        assert disagree.any() or over.any()  # the test meets the problems it checks
        assert set(table["value"]) == {str(scores[inst.total][i]) for i in np.flatnonzero(disagree | over)}
