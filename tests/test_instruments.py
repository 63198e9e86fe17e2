"""Scoring and severity bands."""
from __future__ import annotations

import pandas as pd

from analytics import GAD7, PHQ9, score_items, severity_band


def test_bands_at_every_edge():
    totals = pd.Series([0, 4, 5, 9, 10, 14, 15, 19, 20, 27, None], dtype="Int16")
    labels = severity_band(totals).astype("str").tolist()
    assert labels[:10] == ["minimal (0-4)"] * 2 + ["mild (5-9)"] * 2 + ["moderate (10-14)"] * 2 + \
        ["moderately severe (15-19)"] * 2 + ["severe (20-27)"] * 2
    assert pd.isna(severity_band(totals).iloc[-1])
    gad = severity_band(pd.Series([4, 5, 10, 15, 21]), GAD7).astype("str").tolist()
    assert gad == ["minimal (0-4)", "mild (5-9)", "moderate (10-14)", "severe (15-21)", "severe (15-21)"]


def test_score_items_blank_gives_no_total():
    items = pd.DataFrame([[1] * 9, [3] * 9, [1] * 8 + [None]], columns=PHQ9.items, dtype="Int8")
    assert score_items(items).tolist()[:2] == [9, 27] and pd.isna(score_items(items).iloc[2])
