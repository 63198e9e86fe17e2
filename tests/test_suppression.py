"""Small-cell suppression, primary and complementary, worked by hand."""
from __future__ import annotations

import pandas as pd

from analytics.suppression import SUPPRESSED_COUNT, SUPPRESSED_VALUE, suppress_small_cells


def table(rows):
    return pd.DataFrame(rows, columns=["metric", "dimension", "stratum", "n", "events", "rate"])


def test_primary_rules():
    out = suppress_small_cells(table([
        ("response", "overall", "all", 0, 0, None),       # zero may be shown
        ("remission", "overall", "all", 5, 2, 0.4),        # n 1-10: whole row
        ("si", "overall", "all", 40, 3, 3 / 40),           # events 1-10
        ("x", "overall", "all", 40, 35, 35 / 40),          # non-events 5: events derivable as n - 5
        ("y", "overall", "all", 40, 20, 0.5),              # nothing small
        ("z", "overall", "all", 40, 0, 0.0),               # zero events shown
    ])).set_index("metric")
    assert out.loc["response", "n"] == 0 and out.loc["response", "suppressed"] == ""
    assert (out.loc["remission", "n"], out.loc["remission", "events"]) == (SUPPRESSED_COUNT, SUPPRESSED_COUNT)
    assert out.loc["remission", "rate"] == SUPPRESSED_VALUE
    assert (out.loc["si", "n"], out.loc["si", "events"], out.loc["si", "rate"]) == (40, SUPPRESSED_COUNT, SUPPRESSED_VALUE)
    assert out.loc["x", "events"] == SUPPRESSED_COUNT
    assert (out.loc["y", "events"], out.loc["z", "events"]) == (20, 0)


def test_complementary_three_patient_site():
    # overall 60 = North 30 + South 27 + Tiny 3: hiding only Tiny's 3 would leave 60 - 30 - 27 = 3
    out = suppress_small_cells(table([
        ("response", "overall", "all", 60, 30, 0.5),
        ("response", "site", "North", 30, 15, 0.5),
        ("response", "site", "South", 27, 14, 14 / 27),
        ("response", "site", "Tiny", 3, 1, 1 / 3),
    ])).set_index("stratum")
    assert out.loc["Tiny", "n"] == SUPPRESSED_COUNT
    assert out.loc["South", "n"] == SUPPRESSED_COUNT  # the smallest other site, hidden as its complement
    assert out.loc["North", "n"] == 30 and out.loc["all", "n"] == 60
    assert out.loc["South", "suppressed"] != "" and out.loc["North", "suppressed"] == ""
    # now no hidden site can be recovered: 60 - 30 = 30 = South + Tiny, neither alone


def test_complementary_events_only():
    # n all large, but one site's events are 4: overall events - other sites' events would reveal them
    out = suppress_small_cells(table([
        ("remission", "overall", "all", 90, 39, 39 / 90),
        ("remission", "site", "A", 30, 4, 4 / 30),      # 4 events: hidden
        ("remission", "site", "B", 30, 16, 16 / 30),    # 14 non-events: fine, but the smallest complement
        ("remission", "site", "C", 30, 19, 19 / 30),    # 11 non-events: fine
    ])).set_index("stratum")
    assert out.loc["A", "events"] == SUPPRESSED_COUNT and out.loc["B", "events"] == SUPPRESSED_COUNT
    assert out.loc["C", "events"] == 19 and out.loc["A", "n"] == 30  # n stays: it reveals nothing


def test_non_events_count_as_small_too():
    # C has 30 - 20 = 10 non-events: hidden on its own, so A and C are two hidden cells and B can stay
    out = suppress_small_cells(table([
        ("remission", "overall", "all", 90, 40, 40 / 90),
        ("remission", "site", "A", 30, 4, 4 / 30),
        ("remission", "site", "B", 30, 16, 16 / 30),
        ("remission", "site", "C", 30, 20, 20 / 30),
    ])).set_index("stratum")
    assert [out.loc[s, "events"] for s in "ABC"] == [SUPPRESSED_COUNT, 16, SUPPRESSED_COUNT]


def test_partitions_are_separate_per_metric_and_dimension():
    out = suppress_small_cells(table([
        ("response", "site", "A", 5, 2, 0.4), ("response", "site", "B", 40, 20, 0.5),
        ("response", "protocol", "P", 45, 22, 22 / 45),
        ("remission", "site", "A", 40, 20, 0.5), ("remission", "site", "B", 40, 20, 0.5),
    ]))
    hidden = out[out["suppressed"] != ""][["metric", "dimension", "stratum"]].values.tolist()
    assert hidden == [["response", "site", "A"], ["response", "site", "B"]]
