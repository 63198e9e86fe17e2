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
    # the events of a hidden row carry no label of their own ("0 of <11" would say 0)
    assert (out.loc["remission", "n"], out.loc["remission", "events"]) == (SUPPRESSED_COUNT, SUPPRESSED_VALUE)
    assert out.loc["remission", "rate"] == SUPPRESSED_VALUE
    assert (out.loc["si", "n"], out.loc["si", "events"], out.loc["si", "rate"]) == (40, SUPPRESSED_COUNT, SUPPRESSED_VALUE)
    assert out.loc["x", "events"] == SUPPRESSED_VALUE  # hidden, but 35 is not a count from 1 to 10: never "<11"
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
    assert out.loc["South", "n"] == SUPPRESSED_VALUE  # the smallest other site, hidden as its complement (27: not "<11")
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
    assert out.loc["A", "events"] == SUPPRESSED_COUNT and out.loc["B", "events"] == SUPPRESSED_VALUE
    assert out.loc["C", "events"] == 19 and out.loc["A", "n"] == 30  # n stays: it reveals nothing


def test_non_events_count_as_small_too():
    # C has 30 - 20 = 10 non-events: hidden on its own, so A and C are two hidden cells and B can stay
    out = suppress_small_cells(table([
        ("remission", "overall", "all", 90, 40, 40 / 90),
        ("remission", "site", "A", 30, 4, 4 / 30),
        ("remission", "site", "B", 30, 16, 16 / 30),
        ("remission", "site", "C", 30, 20, 20 / 30),
    ])).set_index("stratum")
    assert [out.loc[s, "events"] for s in "ABC"] == [SUPPRESSED_COUNT, 16, SUPPRESSED_VALUE]


def test_partitions_are_separate_per_metric_and_dimension():
    out = suppress_small_cells(table([
        ("response", "site", "A", 5, 2, 0.4), ("response", "site", "B", 40, 20, 0.5),
        ("response", "protocol", "P", 45, 22, 22 / 45),
        ("remission", "site", "A", 40, 20, 0.5), ("remission", "site", "B", 40, 20, 0.5),
    ]))
    hidden = out[out["suppressed"] != ""][["metric", "dimension", "stratum"]].values.tolist()
    assert hidden == [["response", "site", "A"], ["response", "site", "B"]]


def test_a_zero_cell_is_a_complement_too():
    # the case: 0/12 at X, 12/13 at Y, 12/25 overall; Y's one non-responder was 12 - 0 away
    out = suppress_small_cells(table([
        ("response", "overall", "all", 25, 12, 12 / 25),
        ("response", "site", "X", 12, 0, 0.0),
        ("response", "site", "Y", 13, 12, 12 / 13),
    ])).set_index("stratum")
    assert out.loc["Y", "events"] == SUPPRESSED_VALUE and out.loc["X", "events"] == SUPPRESSED_VALUE
    assert out.loc["X", "rate"] == SUPPRESSED_VALUE and (out.loc["X", "n"], out.loc["Y", "n"]) == (12, 13)


def test_labels_never_call_a_large_or_zero_count_small():
    out = suppress_small_cells(table([
        ("response", "overall", "all", 60, 30, 0.5),
        ("response", "site", "A", 30, 15, 0.5),
        ("response", "site", "B", 27, 14, 14 / 27),
        ("response", "site", "C", 3, 0, 0.0),
    ])).set_index("stratum")
    assert out.loc["C", "n"] == SUPPRESSED_COUNT       # 3: from 1 to 10
    assert out.loc["B", "n"] == SUPPRESSED_VALUE       # 27, hidden as the complement: not "<11"
    assert out.loc["C", "events"] == SUPPRESSED_VALUE  # 0 events of a hidden row


def test_hidden_cells_that_the_total_pins_down_get_another_complement():
    # A and B are 1 each, both "<11"; 42 - 40 = 2 = A + B, and two counts of at least 1 adding up to 2 are 1 and 1
    out = suppress_small_cells(table([
        ("response", "overall", "all", 42, 21, 0.5),
        ("response", "site", "A", 1, 1, 1.0),
        ("response", "site", "B", 1, 0, 0.0),
        ("response", "site", "C", 40, 20, 0.5),
    ])).set_index("stratum")
    assert out.loc["C", "n"] == SUPPRESSED_VALUE and out.loc["all", "n"] == 42


def test_forced_cells_are_hidden_with_their_complements():
    out = suppress_small_cells(table([
        ("response", "overall", "all", 60, 30, 0.5),
        ("response", "site", "A", 30, 15, 0.5),
        ("response", "site", "B", 30, 15, 0.5),
    ]), force_n=[True, False, False]).set_index("stratum")
    # the total hidden elsewhere: one site alone would give it back (A + B), so a site goes too
    assert out.loc["all", "n"] == SUPPRESSED_VALUE and (out["n"] == SUPPRESSED_VALUE).sum() == 2
