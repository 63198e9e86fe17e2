"""Trajectories: every course, the change at the endpoint, and rates by case mix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.definitions import RESPONSE_MIN_FALL, TRENDS_MAX_WEEK
from app_pages.common import (
    PALETTE,
    case_mix_rates,
    chart_text,
    course_lines,
    download,
    footer,
    instrument_outcomes_for,
    page_setup,
    pct,
    show_table,
    weekly_of,
)

MAX_LINES = 300  # more lines than this is ink, not information

view = page_setup("Trajectories")
d = view.definitions
scale = view.scale  # the sidebar's outcome instrument
outcomes = instrument_outcomes_for(view)
total, top = scale.total, scale.instrument.total_max

st.subheader(f"{scale.name} courses")
xs, ys, who, n_shown, n_ids = course_lines(view, MAX_LINES)
fig = go.Figure()
fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line=dict(color="rgba(0,114,178,0.18)", width=1),
                           name="Patients", customdata=who, connectgaps=False,
                           hovertemplate="%{customdata}, day %{x}: " + scale.name + " %{y}<extra></extra>"))
weekly = weekly_of(view.report, view.key[0], view.key[1], max(TRENDS_MAX_WEEK, d.week + 2), view.instrument)
fig.add_trace(go.Scatter(x=weekly["week"] * 7 + 3, y=weekly["mean"], mode="lines+markers", name="Mean by week",
                         line=dict(color=PALETTE[5], width=3), customdata=weekly[["n_patients"]],
                         hovertemplate="week %{x}: mean %{y:.1f} (n = %{customdata[0]})<extra></extra>"))
fig.update_layout(xaxis=dict(title="Study day since treatment start"), yaxis=dict(title=f"{scale.name} total (0-{top})",
                  range=[0, top + 0.5]), height=420, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h",
                                                                                                y=1.08))
st.plotly_chart(fig, width="stretch", key="spaghetti")
st.caption(f"{n_shown} of {n_ids} patients drawn" + (" (a fixed random sample)" if n_ids > MAX_LINES
                                                     else "") + f"; the mean uses all. {scale.name} "
           f"totals. {view.filter_text}")

st.subheader(f"Change at week {d.week}")
change = outcomes[outcomes["change_pct"].notna() & outcomes["eligible"]].sort_values("change_pct", ascending=False)
if change.empty:
    st.info("No eligible patient has an endpoint questionnaire under these definitions.")
else:
    # one trace per colour so the legend says what each colour means
    position = pd.Series(np.arange(len(change)), index=change.index)
    # green: the instrument's first outcome (response; PCL-5: a fall of at least 10 points), from the engine
    met = change[scale.metrics[0]].fillna(False).to_numpy(dtype=bool)
    groups = ((scale.labels[0] if not scale.is_phq9 else f"Response (fall of {RESPONSE_MIN_FALL:.0%} or more)",
               met, PALETTE[2]),
              (f"Improved, less than {RESPONSE_MIN_FALL:.0%}" if scale.is_phq9 else "Improved, less than that",
               ~met & (change["change_pct"] < 0).to_numpy(), PALETTE[0]),
              ("No change or worse", ~met & (change["change_pct"] >= 0).to_numpy(), PALETTE[5]))
    fig = go.Figure()
    for name, mask, color in groups:
        part = change[mask]
        fig.add_trace(go.Bar(x=position[mask], y=part["change_pct"], marker_color=color, name=f"{name}: {len(part)}",
                             customdata=part[["patient_id", "baseline_total", "endpoint_total", "endpoint_day"]].assign(
                                 patient_id=part["patient_id"].astype("str").map(chart_text)),
                             hovertemplate="%{customdata[0]}: %{customdata[1]} → %{customdata[2]} (day "
                                           "%{customdata[3]}), %{y:.0%}<extra></extra>"))
    if scale.metrics[0] == "response":  # a percentage rule (PCL-5's is in points: no line on a % axis)
        fig.add_hline(y=-RESPONSE_MIN_FALL, line=dict(color=PALETTE[2], dash="dash"),
                      annotation_text=f"response (≥ {RESPONSE_MIN_FALL:.0%} fall)",
                      annotation_position="bottom left")  # where no bar reaches, so the label stays readable
    fig.update_layout(xaxis=dict(title="Patients, most improved on the right", showticklabels=False),
                      yaxis=dict(title="Change from baseline", tickformat=".0%"), height=380, bargap=0.05,
                      barmode="overlay", margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    st.plotly_chart(fig, width="stretch", key="waterfall")
    st.caption(view.caption(len(change), "Eligible patients with an endpoint, one bar each: the change of their "
                            f"{scale.name} total from baseline to the endpoint. " + (
                                f"Green: response (a fall of {RESPONSE_MIN_FALL:.0%} or more); blue: improved by less "
                                f"than {RESPONSE_MIN_FALL:.0%}; " if scale.is_phq9 else
                                f"Green: {scale.labels[0]}; blue: improved, less than that; ")
                            + "orange-red: no change or worse. ", scale=scale))

st.subheader("Rates by case mix")
st.caption("A clinic treating sicker patients must not look worse for it: remission depends strongly on baseline "
           "severity. Compare like with like.")
for by, title in (("baseline_band", "Baseline severity"), ("site", "Site"), ("protocol", "Protocol")):
    if by not in outcomes or outcomes[by].isna().all():
        continue
    table = case_mix_rates(view, outcomes, by)
    wide = table.assign(cell=[("no data" if pd.isna(r) else f"{r:.0%} ({e}/{n})") for r, e, n in
                              zip(table["rate"], table["events"], table["n"])]).pivot(
        index=by, columns="metric", values="cell")[list(pd.unique(table["metric"]))]
    if isinstance(outcomes[by].dtype, pd.CategoricalDtype):  # severity bands in severity order
        wide = wide.reindex([c for c in outcomes[by].cat.categories if c in wide.index])
    st.markdown(f"**{title}**")
    show_table(wide.reset_index().rename(columns={by: title}))
    download(table.assign(rate=table["rate"].map(pct)), f"rates_by_{by}", f"Download rates by {title.lower()} (CSV)")
st.caption(view.caption(None, "Cells: rate (events/n); Wilson intervals in the downloads. ", scale=scale))
footer()
