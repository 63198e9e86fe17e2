"""The Patient page's charts, written as plotly specifications (plain dicts).

Choosing a patient must redraw in well under half a second.  Built with
``make_subplots`` and ``add_hrect`` / ``add_vrect`` / ``add_vline``, the course
chart took about 1 s of the run: plotly validates every property of every shape
and annotation, and works out each subplot's axes again per call.  Here the
same figure is written as a specification once and wrapped without validation;
tests/test_patient_chart.py validates it with plotly, so a misspelt property still fails a test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.definitions import BASELINE_WINDOW_DAYS, REMISSION_BELOW, RESPONSE_FRACTION
from analytics.instruments import GAD7, PHQ9

__all__ = ["BAND_COLORS", "course_spec", "course_figure", "answers_spec", "answers_figure", "subplot_domains"]

# one hue growing with severity: readable with the common colour-vision deficiencies
BAND_COLORS = [f"rgba(213,94,0,{a})" for a in (0.03, 0.08, 0.14, 0.20, 0.27)]
SPACING = 0.06


def subplot_domains(heights: list[float], spacing: float = SPACING) -> list[tuple[float, float]]:
    """Vertical domains of stacked rows, top row first, as ``make_subplots(row_heights=..., vertical_spacing=...)``."""
    usable = 1 - spacing * (len(heights) - 1)
    sizes = [h / sum(heights) * usable for h in heights]
    out, top = [], 1.0
    for size in sizes:
        out.append((max(top - size, 0.0), top))
        top -= size + spacing
    return out


def _values(series) -> list:
    """A column as JSON-ready values (None for missing)."""
    arr = pd.Series(series).astype("float64").to_numpy()
    return [None if np.isnan(v) else (int(v) if float(v).is_integer() else float(v)) for v in arr]


def course_spec(q: pd.DataFrame, courses: pd.DataFrame, *, target_label: str, window: tuple[int, int],
                palette: list[str]) -> dict:
    """The course chart of one patient: PHQ-9 over time (severity bands, baseline and endpoint windows, episode
    starts, the 50%-of-baseline and remission lines, infusions), item 9 below, GAD-7 when answered.

    ``q``: the patient's questionnaires in time order with ``episode``; ``courses``: one row per episode with
    ``episode``, ``start_on_axis`` and ``baseline_total``.
    """
    has_gad = GAD7.total in q and q[GAD7.total].notna().any()
    heights = [0.6, 0.2, 0.2] if has_gad else [0.72, 0.28]
    rows = len(heights)
    domains = subplot_domains(heights)
    last = f"x{rows}"
    layout = {
        "height": 620 if has_gad else 540, "margin": {"l": 10, "r": 10, "t": 20, "b": 10},
        "legend": {"orientation": "h", "y": 1.06}, "bargap": 0.6,
        "plot_bgcolor": "rgba(0,0,0,0)",  # the theme's opaque background would hide the bands
    }
    for i, (lo, hi) in enumerate(domains, start=1):
        suffix = "" if i == 1 else str(i)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [0.0, 1.0]}
        if i < rows:  # shared x axis: the upper rows follow the bottom one and show no tick labels
            layout[f"xaxis{suffix}"].update({"matches": last, "showticklabels": False})
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [lo, hi]}
    layout["yaxis"].update({"title": {"text": "PHQ-9 total (0-27)"}, "range": [0, 27.5]})
    layout["yaxis2"].update({"title": {"text": "Item 9 (0-3)"}, "range": [0, 3.2], "dtick": 1})
    if has_gad:
        layout["yaxis3"].update({"title": {"text": "GAD-7 (0-21)"}, "range": [0, 21]})
    layout[f"xaxis{rows}"]["title"] = {"text": "Days since the first episode's start" if len(courses) > 1
                                       else "Study day since treatment start"}

    shapes, notes, traces = [], [], []
    edges = [lo for lo, _ in PHQ9.bands] + [PHQ9.total_max]
    for (lo, label), hi, color in zip(PHQ9.bands, edges[1:], BAND_COLORS):
        y0, y1 = lo - 0.5, min(hi - 0.5, PHQ9.total_max)
        shapes.append({"type": "rect", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": y0, "y1": y1,
                       "fillcolor": color, "line": {"width": 0}, "layer": "below"})
        notes.append({"text": label, "xref": "x domain", "x": 0, "xanchor": "left", "yref": "y", "y": (y0 + y1) / 2,
                      "yanchor": "middle", "showarrow": False, "font": {"size": 10, "color": "#555"}})
    complete = q[q["complete"]]
    lo_b, hi_b = BASELINE_WINDOW_DAYS
    lo_w, hi_w = window
    for i, course in enumerate(courses.itertuples()):  # a patient's few episodes, not rows
        x0 = float(course.start_on_axis)
        part = complete[complete["episode"] == course.episode]
        traces.append({"type": "scatter", "x": _values(part["day"] + x0), "y": _values(part["phq9_total"]),
                       "mode": "lines+markers", "name": "PHQ-9 total", "legendgroup": "phq9", "showlegend": i == 0,
                       "line": {"color": palette[0], "width": 2.5}, "customdata": [[d] for d in _values(part["day"])],
                       "hovertemplate": f"episode {course.episode}, day %{{customdata[0]}}: PHQ-9 %{{y}}<extra></extra>",
                       "xaxis": "x", "yaxis": "y"})
        shapes.append({"type": "line", "xref": "x", "x0": x0, "x1": x0, "yref": "y domain", "y0": 0, "y1": 1,
                       "line": {"color": "#333", "width": 1.5}})
        # written up the line, so it never runs into the week-W label on a long axis
        notes.append({"text": f"episode {course.episode} start", "textangle": -90, "xref": "x", "x": x0,
                      "xanchor": "left", "yref": "y domain", "y": 1, "yanchor": "top", "showarrow": False,
                      "font": {"size": 10}})
        for (a, b), fill, text, side in (((lo_b, hi_b), "rgba(0,114,178,0.07)", "baseline", "left"),
                                         ((lo_w, hi_w), "rgba(230,159,0,0.12)", target_label, "right")):
            shapes.append({"type": "rect", "xref": "x", "x0": x0 + a, "x1": x0 + b, "yref": "y domain", "y0": 0,
                           "y1": 1, "fillcolor": fill, "line": {"width": 0}})
            notes.append({"text": text, "xref": "x", "x": x0 + (a if side == "left" else b), "xanchor": side,
                          "yref": "y domain", "y": 1, "yanchor": "top", "showarrow": False, "font": {"size": 10}})
        if pd.notna(course.baseline_total):
            half = RESPONSE_FRACTION * float(course.baseline_total)
            traces.append({"type": "scatter", "x": [x0, x0 + hi_w], "y": [half, half], "mode": "lines",
                           "line": {"color": palette[2], "dash": "dash"}, "legendgroup": "half",
                           "name": "50% of the episode's baseline", "showlegend": i == 0, "hoverinfo": "skip",
                           "xaxis": "x", "yaxis": "y"})
    shapes.append({"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": REMISSION_BELOW - 0.5,
                   "y1": REMISSION_BELOW - 0.5, "line": {"color": palette[3], "dash": "dot"}})
    notes.append({"text": f"remission (< {REMISSION_BELOW})", "xref": "x domain", "x": 1, "xanchor": "right",
                  "yref": "y", "y": REMISSION_BELOW - 0.5, "yanchor": "top", "showarrow": False})
    shift = q["episode"].map(courses.set_index("episode")["start_on_axis"]).astype("float64")
    x_all = q["day"].astype("float64") + shift
    if "infusion_number" in q and q["infusion_number"].notna().any():
        has_inf = q["infusion_number"].notna()
        traces.append({"type": "scatter", "x": _values(x_all[has_inf]), "y": [0.3] * int(has_inf.sum()),
                       "mode": "markers", "name": "Infusion",
                       "marker": {"symbol": "triangle-up", "size": 9, "color": palette[1]},
                       "customdata": [[v] for v in _values(q.loc[has_inf, "infusion_number"])],
                       "hovertemplate": "infusion %{customdata[0]}<extra></extra>", "xaxis": "x", "yaxis": "y"})
    done = q["complete"].to_numpy(dtype=bool)
    traces.append({"type": "bar", "x": _values(x_all[done]),
                   "y": _values(complete["phq9_9"]) if "phq9_9" in complete else [None] * len(complete),
                   "name": "Item 9 (SI)", "marker": {"color": palette[5]},
                   "hovertemplate": "item 9 = %{y}<extra></extra>", "xaxis": "x2", "yaxis": "y2"})
    if has_gad:
        has_g = q[GAD7.total].notna()
        traces.append({"type": "scatter", "x": _values(x_all[has_g]), "y": _values(q.loc[has_g, GAD7.total]),
                       "mode": "lines+markers", "name": "GAD-7 total", "line": {"color": palette[4]},
                       "hovertemplate": "GAD-7 %{y}<extra></extra>", "xaxis": "x3", "yaxis": "y3"})
    layout["shapes"], layout["annotations"] = shapes, notes
    return {"data": traces, "layout": layout}


def answers_spec(q: pd.DataFrame) -> dict | None:
    """Heatmap of the PHQ-9 item answers, one column per questionnaire; None without item columns."""
    items = [c for c in PHQ9.items if c in q]
    if not items:
        return None
    z = q[items].astype("float64").T.to_numpy()
    return {"data": [{
        "type": "heatmap", "z": [[None if np.isnan(v) else float(v) for v in row] for row in z],
        "x": [f"day {int(v)}" if pd.notna(v) else "?" for v in q["day"]],
        "y": [f"item {i + 1}" for i in range(len(items))], "zmin": 0, "zmax": 3, "colorscale": "Blues",
        "colorbar": {"title": {"text": "score"}, "tickvals": [0, 1, 2, 3]},
        "hovertemplate": "%{x}, %{y}: %{z}<extra></extra>"}],
        "layout": {"height": 320, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "yaxis": {"autorange": "reversed"}}}


def course_figure(*args, **kwargs) -> go.Figure:
    # our own specification, checked by the tests: plotly's per-property validation is what cost the time
    return go.Figure(course_spec(*args, **kwargs), _validate=False)


def answers_figure(q: pd.DataFrame) -> go.Figure | None:
    spec = answers_spec(q)
    return None if spec is None else go.Figure(spec, _validate=False)
