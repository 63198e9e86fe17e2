"""The Overview's Vega-Lite charts: every mark the figure needs to be honest, read back from the specification.

Each chart is built from a small hand-made table and its specification (the layers and their data, as the browser
receives them) is checked mark by mark: step curves with their bands and the number at risk in the hover, intervals
on every estimate, filled and open diamonds, hollow small quarters off a line that breaks there, no point where
there is no data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.definitions import SMALL_CELL_MAX
from app_pages.common import PALETTE
from app_pages.overview_charts import (CLINIC, PUBLISHED_LIKE, PUBLISHED_UNLIKE, forest_chart, km_chart,
                                       quarters_chart, weekly_chart)


def layers(chart) -> list[tuple[dict, pd.DataFrame]]:
    """(layer, its rows) of a layered chart's specification."""
    spec = chart.to_dict()
    data = {name: pd.DataFrame(rows) for name, rows in spec.get("datasets", {}).items()}
    shared = spec.get("data")  # altair lifts the data the layers share to the top
    return [(layer, data[layer.get("data", shared)["name"]]) for layer in spec["layer"]]


def mark(layer) -> dict:
    return layer["mark"] if isinstance(layer["mark"], dict) else {"type": layer["mark"]}


def tooltip_fields(layer) -> list[str]:
    return [t["field"] for t in layer["encoding"].get("tooltip", [])]


def curve(times, cumulative, at_risk):
    c = np.asarray(cumulative, dtype=float)
    return pd.DataFrame({"time": np.asarray(times, dtype=float), "at_risk": at_risk, "events": 0, "censored": 0,
                         "cumulative": c, "ci_low": c * 0.8, "ci_high": np.minimum(1, c * 1.2)})


# ----------------------------------------------------------------------------- Kaplan-Meier

def test_km_chart_draws_step_curves_with_bands_and_at_risk_in_the_hover():
    curves = {"response": curve([0, 10, 20, 42], [0, 0.2, 0.4, 0.4], [100, 90, 60, 60]),
              "remission": curve([0, 15, 42], [0, 0.1, 0.1], [100, 80, 80])}
    chart = km_chart(curves, names={"response": "Response", "remission": "Remission"}, target_day=42,
                     palette=PALETTE)
    (band, band_rows), (line, line_rows), (points, point_rows) = layers(chart)
    assert mark(band) == {"type": "area", "interpolate": "step-after", "opacity": 0.18}
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("ci_low", "ci_high")
    assert mark(line)["type"] == "line" and mark(line)["interpolate"] == "step-after"
    assert line["encoding"]["y"]["field"] == "cumulative"
    # every step of both curves, each with its own number at risk
    response = line_rows[line_rows["series"] == "Response"]
    assert list(response["time"]) == [0, 10, 20, 42] and list(response["at_risk"]) == [100, 90, 60, 60]
    assert list(line_rows.loc[line_rows["series"] == "Remission", "cumulative"]) == [0, 0.1, 0.1]
    assert tooltip_fields(points) == ["series", "time", "cumulative", "ci_low", "ci_high", "at_risk"]
    assert [t["format"] for t in points["encoding"]["tooltip"][2:5]] == [".1%"] * 3
    color = line["encoding"]["color"]["scale"]
    assert color == {"domain": ["Response", "Remission"], "range": PALETTE[:2]}
    x = line["encoding"]["x"]
    assert x["title"] == "Study day since treatment start" and x["scale"]["domain"] == [0, 42]
    assert band["encoding"]["y"]["axis"] == {"format": "%", "title": "Cumulative share (Kaplan-Meier)"}
    assert chart.to_dict()["params"][0]["select"]["nearest"] is True  # a hover anywhere finds the nearest step


def test_km_chart_leaves_out_an_empty_curve_and_draws_nothing_without_one():
    empty = pd.DataFrame(columns=["time", "at_risk", "events", "censored", "cumulative", "ci_low", "ci_high"])
    chart = km_chart({"response": curve([0, 42], [0, 0.5], [10, 5]), "remission": empty},
                     names={"response": "Response", "remission": "Remission"}, target_day=42, palette=PALETTE)
    (_, rows), *_ = layers(chart)
    assert set(rows["series"]) == {"Response"}
    assert km_chart({"response": empty}, names={"response": "Response"}, target_day=42, palette=PALETTE) is None


# ----------------------------------------------------------------------------- mean by week

def test_weekly_chart_draws_the_mean_its_interval_and_n():
    weekly = pd.DataFrame({"week": [0, 1, 2], "mean": [18.0, 14.5, 11.25], "ci_low": [17.0, 13.0, 10.0],
                           "ci_high": [19.0, 16.0, 12.5], "n_patients": [120, 80, 41], "sd": 1.0})
    chart = weekly_chart(weekly, scale_name="PHQ-9", total_max=27, color=PALETTE[0])
    (band, rows), (line, _), (points, _) = layers(chart)
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("ci_low", "ci_high")
    assert list(rows["mean"]) == [18.0, 14.5, 11.25] and list(rows["n_patients"]) == [120, 80, 41]
    assert mark(line)["point"]["filled"] is True  # lines and markers
    assert line["encoding"]["y"]["title"] == "PHQ-9 total (0-27)"
    assert line["encoding"]["y"]["scale"]["domain"] == [0, 27]
    assert line["encoding"]["x"]["title"] == "Weeks since treatment start (week 0 includes baseline)"
    assert tooltip_fields(points) == ["week", "mean", "ci_low", "ci_high", "n_patients"]


# ----------------------------------------------------------------------------- against published figures

def _forest():
    clinic = pd.DataFrame({"outcome": ["Response", "Remission", "SI resolution"], "estimate": [0.5, 0.2, None],
                           "ci_low": [0.4, 0.1, None], "ci_high": [0.6, 0.3, None], "n": [100, 100, 0],
                           "events": [50, 20, 0]})
    published = pd.DataFrame({"row": ["Response", "Response", "Remission"], "rate": [0.45, 0.7, 0.25],
                              "half_width": [0.05, 0.0, 0.98], "comparable": [True, False, False],
                              "who": ["A 2020", "B 2021", "C 2022"], "reason": ["same", "other week", "other scale"],
                              "uncertainty_note": ["SE from n", "not known", "SE from n"]})
    return layers(forest_chart(clinic, published, palette=PALETTE))


def test_forest_chart_shows_both_intervals_and_says_no_data():
    (bars, clinic), (points, _), (pub_bars, pub), (pub_points, _), (text, missing) = _forest()
    # the clinic: a point and its 95% CI on each outcome that has data
    assert list(clinic["outcome"]) == ["Response", "Remission"] and list(clinic["estimate"]) == [0.5, 0.2]
    assert (bars["encoding"]["x"]["field"], bars["encoding"]["x2"]["field"]) == ("ci_low", "ci_high")
    assert list(clinic["interval"]) == ["40.0% to 60.0%", "10.0% to 30.0%"]
    assert points["encoding"]["x"]["field"] == "estimate" and "n" in tooltip_fields(points)
    # the published figures: +/- 1.96 SE, clipped to 0-100%; none drawn where it is not known
    assert (pub_bars["encoding"]["x"]["field"], pub_bars["encoding"]["x2"]["field"]) == ("low", "high")
    assert np.allclose(pub["low"], [0.40, 0.70, 0.0]) and np.allclose(pub["high"], [0.50, 0.70, 1.0])
    assert list(pub["interval"]) == ["±5.0% (1.96 standard errors)", "not known", "±98.0% (1.96 standard errors)"]
    assert list(pub["series"]) == [PUBLISHED_LIKE, PUBLISHED_UNLIKE, PUBLISHED_UNLIKE]
    assert tooltip_fields(pub_points) == ["outcome", "who", "rate", "interval", "series", "reason", "uncertainty_note"]
    # n = 0 is "no data", written on its row, never a point at 0%
    assert mark(text)["type"] == "text" and list(missing["outcome"]) == ["SI resolution"]
    assert list(missing["text"]) == ["no data (n = 0)"]
    # rows in the outcome table's order, the x axis a share of 0-100%
    assert bars["encoding"]["y"]["sort"] == ["Response", "Remission", "SI resolution"]
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 1]


def test_forest_chart_like_for_like_is_filled_and_the_rest_open():
    _, (points, _), _, (pub_points, _), _ = _forest()
    for layer in (points, pub_points):
        enc = layer["encoding"]
        kinds = [CLINIC, PUBLISHED_LIKE, PUBLISHED_UNLIKE]
        assert enc["shape"]["scale"] == {"domain": kinds, "range": ["circle", "diamond", "diamond"]}
        assert enc["fill"]["scale"] == {"domain": kinds, "range": [PALETTE[0], PALETTE[1], "#ffffff"]}
        assert enc["color"]["scale"] == {"domain": kinds, "range": [PALETTE[0], PALETTE[1], PALETTE[5]]}


# ----------------------------------------------------------------------------- by quarter

def _by_quarter():
    small = SMALL_CELL_MAX  # the largest n drawn as a small quarter
    return pd.DataFrame({
        "metric": ["response"] * 5 + ["remission"] * 5,
        "label": ["Response"] * 5 + ["Remission"] * 5,
        "start_quarter": ["2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1"] * 2,
        # response: Q2 small, Q4 no data; remission: every quarter shown
        "n": [40, small, 30, 0, 25, 40, 35, 30, 20, 25],
        "events": [20, 0, 15, 0, 10, 8, 7, 6, 4, 5],
        "rate": [0.5, 0.0, 0.5, None, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2],
        "ci_low": [0.35, 0.0, 0.33, None, 0.23, 0.1, 0.1, 0.1, 0.08, 0.09],
        "ci_high": [0.65, 0.3, 0.67, None, 0.59, 0.35, 0.36, 0.37, 0.42, 0.39]})


def test_quarters_small_quarter_is_hollow_labelled_and_off_the_line():
    (line, rows), (rule, _), (points, _), (hollow, few), (text, _) = layers(
        quarters_chart(_by_quarter(), palette=PALETTE))
    assert mark(hollow) == {"type": "point", "filled": False, "size": 90, "strokeWidth": 1.5}
    assert list(zip(few["series"], few["start_quarter"])) == [("Response", "2024Q2")]
    assert list(few["label"]) == [f"n = {SMALL_CELL_MAX}"] and text["encoding"]["text"]["field"] == "label"
    assert "too few to read a change" in few["note"].iloc[0]
    # the line, its points and their Wilson intervals: every shown quarter but the small one and the empty one
    response = rows[rows["series"] == "Response"]
    assert list(response["start_quarter"]) == ["2024Q1", "2024Q3", "2025Q1"]
    assert (rule["encoding"]["y"]["field"], rule["encoding"]["y2"]["field"]) == ("ci_low", "ci_high")
    assert tooltip_fields(points) == ["series", "start_quarter", "rate", "ci_low", "ci_high", "events", "n"]
    assert line["encoding"]["x"]["scale"]["domain"] == ["2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1"]


def test_quarters_line_breaks_at_a_small_quarter_and_at_one_without_data():
    (line, rows), *_ = layers(quarters_chart(_by_quarter(), palette=PALETTE))
    assert line["encoding"]["detail"]["field"] == "segment"
    segments = rows.groupby("series")["segment"].nunique()
    # response: 2024Q1 | (small 2024Q2) | 2024Q3 | (no data 2024Q4) | 2025Q1 -> three pieces; remission: one line
    assert segments.to_dict() == {"Remission": 1, "Response": 3}
    assert rows.loc[rows["series"] == "Remission", "start_quarter"].tolist() == [
        "2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1"]


def test_quarters_without_small_quarters_have_no_hollow_layer():
    by_q = _by_quarter()
    by_q = by_q[by_q["metric"] == "remission"]
    assert len(layers(quarters_chart(by_q, palette=PALETTE))) == 3


@pytest.mark.parametrize("builder", ["km", "weekly", "forest", "quarters"])
def test_charts_are_valid_vega_lite(builder):
    """The specification validates against Vega-Lite's schema (altair checks on to_dict)."""
    weekly = pd.DataFrame({"week": [0], "mean": [10.0], "ci_low": [9.0], "ci_high": [11.0], "n_patients": [5]})
    clinic = pd.DataFrame({"outcome": ["Response"], "estimate": [0.5], "ci_low": [0.4], "ci_high": [0.6], "n": [9],
                           "events": [4]})
    published = pd.DataFrame({"row": ["Response"], "rate": [0.5], "half_width": [0.1], "comparable": [True],
                              "who": ["A"], "reason": ["same"], "uncertainty_note": ["n"]})
    chart = {"km": lambda: km_chart({"r": curve([0, 1], [0, 0.5], [2, 1])}, names={"r": "R"}, target_day=1,
                                    palette=PALETTE),
             "weekly": lambda: weekly_chart(weekly, scale_name="PHQ-9", total_max=27, color=PALETTE[0]),
             "forest": lambda: forest_chart(clinic, published, palette=PALETTE),
             "quarters": lambda: quarters_chart(_by_quarter(), palette=PALETTE)}[builder]()
    assert chart.to_dict(validate=True)["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
