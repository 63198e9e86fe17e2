"""Definitions live in one place and print themselves."""
from __future__ import annotations

from analytics import SPEC_VERSION, OutcomeDefinitions


def test_defaults_and_window():
    d = OutcomeDefinitions()
    assert (d.week, d.window_days, d.min_baseline, d.analysis) == (6, 7, 10, "completer")
    assert d.target_day == 42 and d.window == (35, 49)


def test_as_dict_and_describe_carry_every_parameter():
    d = OutcomeDefinitions(week=8, window_days=10, min_baseline=15, analysis="locf")
    out = d.as_dict()
    assert out["spec_version"] == SPEC_VERSION == "2"
    assert out["episodes"] == "first"
    assert out["endpoint_window_days"] == [46, 66] and out["baseline_window_days"] == [-30, 0]
    text = d.describe()
    for phrase in ("week 8", "46-66", ">= 15", "last observation carried forward", "Spec v2",
                   "first episode"):
        assert phrase in text
