"""The Overview's four charts as Vega-Lite (Altair) specifications: the Kaplan-Meier curves, the mean by week, the
clinic against published figures, and the rates by quarter of treatment start.

Why Vega-Lite and not plotly: the browser evaluates plotly.js (Streamlit's 4.7 MB PlotlyChart chunk) on its main
thread when the first plotly chart arrives, a 1.5-3.5 s block during which nothing else on the page is drawn
either; Streamlit's Vega-Lite renderer is a 0.8 MB chunk and draws a chart in a few hundred milliseconds. The
other pages keep plotly (a chart there is not the first thing a director opens the dashboard for).

Every chart keeps what makes it honest: the interval of every estimate, n in the hover, axis titles in plain
language, no point where there is no data.  Hover text comes from tooltips (vega-tooltip writes values as text,
never as HTML).
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from analytics.definitions import SMALL_CELL_MAX

__all__ = ["km_chart", "weekly_chart", "forest_chart", "quarters_chart", "PUBLISHED_LIKE", "PUBLISHED_UNLIKE",
           "CLINIC"]

#: The forest chart's three kinds of mark (its legend).
CLINIC, PUBLISHED_LIKE, PUBLISHED_UNLIKE = "This clinic (95% CI)", "Published, like for like", \
    "Published, not like for like"
# lines in the legend, drawn solid (the bands would otherwise lend it their translucency); labels not cut short
_LEGEND_TOP = alt.Legend(orient="top", title=None, symbolType="stroke", symbolStrokeWidth=2.5, symbolOpacity=1,
                         labelLimit=400)


def _hover(fields: list[str] | None = None) -> alt.Parameter:
    """The point nearest the pointer is highlighted and shows its tooltip (no need to hit a marker exactly)."""
    return alt.selection_point(nearest=True, on="pointerover", clear="pointerout", empty=False,
                               **({"fields": fields} if fields else {}))


def _series_colors(names: list[str], palette) -> alt.Scale:
    return alt.Scale(domain=list(names), range=list(palette)[:len(names)])


def km_chart(curves: dict[str, pd.DataFrame], *, names: dict[str, str], target_day: int, palette,
             height: int = 360) -> alt.LayerChart | None:
    """Kaplan-Meier cumulative share reached by day, one step curve per outcome with its 95% band.

    ``curves``: metric -> :func:`analytics.trends.cumulative_curve` table; ``names``: metric -> label (the legend).
    The hover gives the day, the share and the number at risk.  None when every curve is empty.
    """
    parts = [curve.assign(series=names[metric]) for metric, curve in curves.items() if not curve.empty]
    if not parts:
        return None
    data = pd.concat(parts, ignore_index=True)[["series", "time", "cumulative", "ci_low", "ci_high", "at_risk"]]
    data = data.astype({"time": "float64", "cumulative": "float64", "ci_low": "float64", "ci_high": "float64",
                        "at_risk": "int64"})
    # one outcome a line: a half-width chart is too narrow for two long labels (the QIDS-SR16's) side by side
    legend = alt.Legend(**{**_LEGEND_TOP.to_dict(), "columns": 1})
    color = alt.Color("series:N", scale=_series_colors([names[m] for m in curves], palette), legend=legend)
    x = alt.X("time:Q", title="Study day since treatment start", scale=alt.Scale(domain=[0, target_day], nice=False))
    y_axis = alt.Axis(format="%", title="Cumulative share (Kaplan-Meier)")
    base = alt.Chart(data).encode(x=x, color=color)
    band = base.mark_area(interpolate="step-after", opacity=0.18).encode(  # the bands as translucent as before
        y=alt.Y("ci_low:Q", axis=y_axis, scale=alt.Scale(zero=True)), y2="ci_high:Q")
    line = base.mark_line(interpolate="step-after", strokeWidth=2.5).encode(y=alt.Y("cumulative:Q"))
    hover = _hover()
    points = base.mark_point(filled=True, size=60).encode(
        y="cumulative:Q", opacity=alt.condition(hover, alt.value(1), alt.value(0)),
        tooltip=[alt.Tooltip("series:N", title="Outcome"), alt.Tooltip("time:Q", title="Day", format=".0f"),
                 alt.Tooltip("cumulative:Q", title="Reached", format=".1%"),
                 alt.Tooltip("ci_low:Q", title="95% band from", format=".1%"),
                 alt.Tooltip("ci_high:Q", title="95% band to", format=".1%"),
                 alt.Tooltip("at_risk:Q", title="At risk", format=",")]).add_params(hover)
    return alt.layer(band, line, points).properties(height=height)


def weekly_chart(weekly: pd.DataFrame, *, scale_name: str, total_max: int, color: str,
                 height: int = 360) -> alt.LayerChart:
    """Mean total by week since treatment start with its 95% t interval; n per week in the hover."""
    data = weekly[["week", "mean", "ci_low", "ci_high", "n_patients"]].astype(
        {"week": "int64", "mean": "float64", "ci_low": "float64", "ci_high": "float64", "n_patients": "int64"})
    x = alt.X("week:Q", title="Weeks since treatment start (week 0 includes baseline)",
              axis=alt.Axis(tickMinStep=1, format="d"))
    y_scale = alt.Scale(domain=[0, total_max])
    y = alt.Y("mean:Q", title=f"{scale_name} total (0-{total_max})", scale=y_scale)
    base = alt.Chart(data).encode(x=x)
    band = base.mark_area(opacity=0.18, color=color).encode(y=alt.Y("ci_low:Q", scale=y_scale), y2="ci_high:Q")
    line = base.mark_line(color=color, point=alt.OverlayMarkDef(color=color, filled=True, size=40)).encode(y=y)
    hover = _hover()
    points = base.mark_point(color=color, size=140).encode(
        y="mean:Q", opacity=alt.condition(hover, alt.value(1), alt.value(0)),
        tooltip=[alt.Tooltip("week:Q", title="Week"), alt.Tooltip("mean:Q", title=f"Mean {scale_name}", format=".1f"),
                 alt.Tooltip("ci_low:Q", title="95% CI from", format=".1f"),
                 alt.Tooltip("ci_high:Q", title="95% CI to", format=".1f"),
                 alt.Tooltip("n_patients:Q", title="n (patients)", format=",")]).add_params(hover)
    return alt.layer(band, line, points).properties(height=height)


def forest_chart(clinic: pd.DataFrame, published: pd.DataFrame, *, palette, height: int = 400) -> alt.LayerChart:
    """The clinic's rates with their 95% CIs against published figures with their own uncertainty.

    ``clinic``: ``outcome, estimate, ci_low, ci_high, n, events`` in the order of the outcome table (an estimate
    of None is "no data": written, not drawn); ``published``: ``row, rate, half_width, comparable, who, reason,
    uncertainty_note`` (``half_width`` is 1.96 standard errors, 0 when unknown).  Filled diamonds: like for like;
    open diamonds: not like for like.
    """
    order = list(clinic["outcome"])
    kinds = [CLINIC, PUBLISHED_LIKE, PUBLISHED_UNLIKE]
    colors = [palette[0], palette[1], palette[5]]
    color = alt.Color("series:N", scale=alt.Scale(domain=kinds, range=colors),
                      legend=alt.Legend(orient="top", title=None, symbolStrokeWidth=2))
    shape = alt.Shape("series:N", scale=alt.Scale(domain=kinds, range=["circle", "diamond", "diamond"]))
    fill = alt.Fill("series:N", scale=alt.Scale(domain=kinds, range=[palette[0], palette[1], "#ffffff"]))
    y = alt.Y("outcome:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
    y_offset = alt.YOffset("series:N", scale=alt.Scale(domain=kinds, paddingOuter=0.4))
    x_axis = alt.Axis(format="%", title="Share of patients")
    x_scale = alt.Scale(domain=[0, 1], nice=False)

    shown = clinic[clinic["estimate"].notna()].assign(series=CLINIC)
    shown = shown.assign(interval=[f"{lo:.1%} to {hi:.1%}" if pd.notna(lo) else "not known"
                                   for lo, hi in zip(shown["ci_low"], shown["ci_high"])])
    shown = shown.astype({"estimate": "float64", "ci_low": "float64", "ci_high": "float64", "n": "int64",
                          "events": "int64"})
    missing = clinic[clinic["estimate"].isna()].assign(series=CLINIC, x=0.0, text="no data (n = 0)")
    pub = published.assign(series=[PUBLISHED_LIKE if c else PUBLISHED_UNLIKE for c in published["comparable"]])
    pub = pub.assign(low=(pub["rate"] - pub["half_width"]).clip(lower=0),
                     high=(pub["rate"] + pub["half_width"]).clip(upper=1),
                     interval=[f"±{h:.1%} (1.96 standard errors)" if h > 0 else "not known"
                               for h in pub["half_width"]])
    pub = pub.rename(columns={"row": "outcome"}).astype({"rate": "float64", "low": "float64", "high": "float64"})
    pub = pub[["outcome", "series", "rate", "low", "high", "interval", "who", "reason", "uncertainty_note"]]

    clinic_base = alt.Chart(shown).encode(y=y, yOffset=y_offset, color=color)
    clinic_bars = clinic_base.mark_rule(strokeWidth=2).encode(x=alt.X("ci_low:Q", axis=x_axis, scale=x_scale),
                                                              x2="ci_high:Q")
    hover = _hover()
    clinic_points = clinic_base.mark_point(size=120, opacity=1, strokeWidth=2).encode(
        x="estimate:Q", shape=shape, fill=fill,
        tooltip=[alt.Tooltip("outcome:N", title="Outcome"), alt.Tooltip("series:N", title="Figure"),
                 alt.Tooltip("estimate:Q", title="Clinic", format=".1%"),
                 alt.Tooltip("interval:N", title="95% CI"), alt.Tooltip("events:Q", title="Events", format=","),
                 alt.Tooltip("n:Q", title="n", format=",")])
    pub_base = alt.Chart(pub).encode(y=y, yOffset=y_offset, color=color)
    pub_bars = pub_base.mark_rule(strokeWidth=1).encode(x="low:Q", x2="high:Q")
    pub_points = pub_base.mark_point(size=110, opacity=1, strokeWidth=2).encode(
        x="rate:Q", shape=shape, fill=fill,
        tooltip=[alt.Tooltip("outcome:N", title="Outcome"), alt.Tooltip("who:N", title="Published figure"),
                 alt.Tooltip("rate:Q", title="Published", format=".1%"),
                 alt.Tooltip("interval:N", title="Its uncertainty"), alt.Tooltip("series:N", title="Comparison"),
                 alt.Tooltip("reason:N", title="How it differs"),
                 alt.Tooltip("uncertainty_note:N", title="Note")])
    layers = [clinic_bars, clinic_points.add_params(hover), pub_bars, pub_points]
    if len(missing):
        layers.append(alt.Chart(missing[["outcome", "series", "x", "text"]]).mark_text(
            align="left", dx=4, color="#6b6b6b", fontStyle="italic").encode(
            x="x:Q", y=y, yOffset=y_offset, text="text:N"))
    return alt.layer(*layers).resolve_scale(shape="shared", fill="shared").properties(height=height)


def quarters_chart(by_quarter: pd.DataFrame, *, palette, height: int = 360) -> alt.LayerChart:
    """Rates by quarter of treatment start with 95% Wilson intervals, one line per outcome.

    A quarter with no patient in a denominator has no point (no data, not 0%). A quarter with ``SMALL_CELL_MAX``
    patients or fewer is a hollow marker labelled with its n, off the line (the line breaks there): its rate cannot
    carry a change (a 0-of-3 quarter is not a plunge to 0%).
    """
    metrics = list(pd.unique(by_quarter["metric"]))
    labels = {m: (by_quarter.loc[by_quarter["metric"] == m, "label"].iloc[0]) for m in metrics}
    quarters = sorted(pd.unique(by_quarter["start_quarter"].astype(str)))
    data = by_quarter[by_quarter["rate"].notna()].copy()
    data["series"] = data["metric"].map(labels)
    data["start_quarter"] = data["start_quarter"].astype(str)
    data["small"] = data["n"] <= SMALL_CELL_MAX
    data = data.sort_values(["metric", "start_quarter"])
    # a line runs only through consecutive shown quarters: it breaks at a small quarter and at a quarter with no
    # data (each run of consecutive shown quarters is its own segment)
    position = data["start_quarter"].map({q: i for i, q in enumerate(quarters)})
    run = (position.where(~data["small"]).groupby(data["metric"]).diff() != 1).groupby(data["metric"]).cumsum()
    data["segment"] = data["series"] + "#" + run.astype(str)
    data = data.astype({"rate": "float64", "ci_low": "float64", "ci_high": "float64", "n": "int64",
                        "events": "int64"})
    data = data[["series", "start_quarter", "rate", "ci_low", "ci_high", "n", "events", "small", "segment"]]
    color = alt.Color("series:N", scale=_series_colors([labels[m] for m in metrics], palette), legend=_LEGEND_TOP)
    x = alt.X("start_quarter:O", title="Quarter of treatment start", sort=quarters, scale=alt.Scale(domain=quarters),
              axis=alt.Axis(labelAngle=0))
    y = alt.Y("rate:Q", title="Rate (95% Wilson CI)", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    tooltip = [alt.Tooltip("series:N", title="Outcome"), alt.Tooltip("start_quarter:O", title="Quarter"),
               alt.Tooltip("rate:Q", title="Rate", format=".1%"), alt.Tooltip("ci_low:Q", title="95% CI from",
                                                                            format=".1%"),
               alt.Tooltip("ci_high:Q", title="95% CI to", format=".1%"),
               alt.Tooltip("events:Q", title="Events", format=","), alt.Tooltip("n:Q", title="n", format=",")]
    lines = alt.Chart(data[~data["small"]]).encode(x=x, color=color)
    hover = _hover()
    layers = [lines.mark_line().encode(y=y, detail="segment:N"),
              lines.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q"),
              lines.mark_point(filled=True, size=50).encode(y=y, tooltip=tooltip).add_params(hover)]
    few = data[data["small"]].assign(
        label=lambda f: [f"n = {n}" for n in f["n"]],
        note=lambda f: [f"only {n} patients ({e} events): too few to read a change"
                        for n, e in zip(f["n"], f["events"])])
    if len(few):
        small = alt.Chart(few).encode(x=x, y=y, color=color)
        layers += [small.mark_point(filled=False, size=90, strokeWidth=1.5).encode(
                       tooltip=[alt.Tooltip("series:N", title="Outcome"),
                                alt.Tooltip("start_quarter:O", title="Quarter"),
                                alt.Tooltip("note:N", title="Why off the line")]),
                   small.mark_text(dy=-12, fontSize=10).encode(text="label:N")]
    return alt.layer(*layers).properties(height=height)
