"""Patient: one pseudonymous patient's course, and their outcome under the current definitions."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from analytics.definitions import REMISSION_BELOW, RESPONSE_FRACTION
from analytics.instruments import GAD7, PHQ9
from app_pages.access import require_director
from app_pages.common import PALETTE, download, footer, page_setup

# one hue growing with severity: readable with the common colour-vision deficiencies
BAND_COLORS = [f"rgba(213,94,0,{a})" for a in (0.03, 0.08, 0.14, 0.20, 0.27)]

require_director("patient")
view = page_setup("Patient course")
d = view.definitions
patients = view.patients.set_index("patient_id")
ids = list(patients.index)
# fullest courses first: patients with an endpoint, then by number of complete questionnaires
ranked = patients.assign(_has_end=patients["endpoint_day"].notna()).sort_values(
    ["_has_end", "n_complete"], ascending=False, kind="stable")
order = list(ranked.index)
pid = st.selectbox("Patient (pseudonym)", order, key="patient",
                   help="Pseudonyms only: the tool holds no names or other direct identifiers.")
p = patients.loc[pid]
q = view.frame[view.frame["patient_id"].astype("str") == pid].sort_values("day")
complete = q[q["complete"]]

c = st.columns(4)
c[0].metric("Baseline PHQ-9", "none" if pd.isna(p["baseline_total"]) else int(p["baseline_total"]),
            help="Latest complete questionnaire on study days -30 to 0." + (
                "" if pd.isna(p["baseline_day"]) else f" Day {int(p['baseline_day'])}."))
c[1].metric(f"Endpoint (week {d.week})", "none" if pd.isna(p["endpoint_total"]) else int(p["endpoint_total"]),
            help="" if pd.isna(p["endpoint_day"]) else f"Day {int(p['endpoint_day'])} ({p['endpoint_source']}).")
outcome = ("not eligible" if not p["eligible"] else "no endpoint" if pd.isna(p["response"])
           else "remission" if p["remission"] else "response" if p["response"] else "no response")
c[2].metric("Outcome", outcome, help=f"Under the current definitions, {d.analysis} mode.")
c[3].metric("SI at baseline", "yes" if p["si_at_baseline"] else "no",
            help="" if pd.isna(p["si_resolved"]) else ("SI resolved at endpoint" if p["si_resolved"]
                                                        else "SI not resolved at endpoint"))

has_gad = GAD7.total in q and q[GAD7.total].notna().any()
rows = 3 if has_gad else 2
fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                    row_heights=[0.6, 0.2, 0.2][:rows] if has_gad else [0.72, 0.28])
edges = [lo for lo, _ in PHQ9.bands] + [PHQ9.total_max]
for (lo, label), hi, color in zip(PHQ9.bands, edges[1:], BAND_COLORS):
    fig.add_hrect(y0=lo - 0.5, y1=min(hi - 0.5, 27), fillcolor=color, line_width=0, layer="below", row=1, col=1,
                  exclude_empty_subplots=False,  # drawn before the traces; plotly would drop them otherwise
                  annotation_text=label, annotation_position="inside left", annotation_font_size=10,
                  annotation_font_color="#555")
fig.add_trace(go.Scatter(x=complete["day"], y=complete["phq9_total"], mode="lines+markers", name="PHQ-9 total",
                         line=dict(color=PALETTE[0], width=2.5),
                         hovertemplate="day %{x}: PHQ-9 %{y}<extra></extra>"), row=1, col=1)
if pd.notna(p["baseline_total"]):
    fig.add_hline(y=RESPONSE_FRACTION * p["baseline_total"], line=dict(color=PALETTE[2], dash="dash"), row=1, col=1,
                  annotation_text="50% of baseline", annotation_position="top right")
fig.add_hline(y=REMISSION_BELOW - 0.5, line=dict(color=PALETTE[3], dash="dot"), row=1, col=1,
              annotation_text="remission (< 5)", annotation_position="bottom right")
lo_w, hi_w = d.window
fig.add_vrect(x0=lo_w, x1=hi_w, fillcolor="rgba(230,159,0,0.10)", line_width=0, row=1, col=1,
              annotation_text=f"week {d.week} window", annotation_position="top")
if "infusion_number" in q and q["infusion_number"].notna().any():
    inf = q[q["infusion_number"].notna()]
    fig.add_trace(go.Scatter(x=inf["day"], y=[0.3] * len(inf), mode="markers", name="Infusion",
                             marker=dict(symbol="triangle-up", size=9, color=PALETTE[1]),
                             customdata=inf[["infusion_number"]],
                             hovertemplate="day %{x}: infusion %{customdata[0]}<extra></extra>"), row=1, col=1)
fig.add_trace(go.Bar(x=complete["day"], y=complete["phq9_9"], name="Item 9 (SI)", marker_color=PALETTE[5],
                     hovertemplate="day %{x}: item 9 = %{y}<extra></extra>"), row=2, col=1)
if has_gad:
    g = q[q[GAD7.total].notna()]
    fig.add_trace(go.Scatter(x=g["day"], y=g[GAD7.total], mode="lines+markers", name="GAD-7 total",
                             line=dict(color=PALETTE[4]), hovertemplate="day %{x}: GAD-7 %{y}<extra></extra>"),
                  row=3, col=1)
    fig.update_yaxes(title_text="GAD-7 (0-21)", range=[0, 21], row=3, col=1)
fig.update_yaxes(title_text="PHQ-9 total (0-27)", range=[0, 27.5], row=1, col=1)
fig.update_yaxes(title_text="Item 9 (0-3)", range=[0, 3.2], dtick=1, row=2, col=1)
fig.update_xaxes(title_text="Study day since treatment start", row=rows, col=1)
fig.update_layout(height=620 if has_gad else 540, margin=dict(l=10, r=10, t=20, b=10),
                  legend=dict(orientation="h", y=1.06), bargap=0.6,
                  plot_bgcolor="rgba(0,0,0,0)")  # the theme's opaque background would hide the bands
st.plotly_chart(fig, width="stretch", key="course")
st.caption(f"{len(complete)} complete questionnaire(s) of {len(q)}. Bands: PHQ-9 severity (Kroenke 2001). "
           + view.caption(None, "Outcome "))

if len(complete):
    st.subheader("Answers by questionnaire")
    items = [c for c in PHQ9.items if c in q]
    if items:
        z = q[items].astype("float64").T.to_numpy()
        heat = go.Figure(go.Heatmap(
            z=z, x=[f"day {int(v)}" if pd.notna(v) else "?" for v in q["day"]], y=[f"item {i + 1}" for i in
                                                                                   range(len(items))],
            zmin=0, zmax=3, colorscale="Blues", colorbar=dict(title="score", tickvals=[0, 1, 2, 3]),
            hovertemplate="%{x}, %{y}: %{z}<extra></extra>"))
        heat.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(autorange="reversed"))
        st.plotly_chart(heat, width="stretch", key="heatmap")
        st.caption("Blank cells: item not answered (that questionnaire is incomplete and left out of outcomes).")
shown_cols = [c for c in ["day", "assessment_date", "infusion_number", *PHQ9.items, "phq9_total", "complete",
                          GAD7.total] if c in q]
table = q[shown_cols].reset_index(drop=True)
st.dataframe(table, hide_index=True, width="stretch",
             column_config={"assessment_date": st.column_config.DateColumn("date", format="YYYY-MM-DD")})
download(table, f"patient_{pid}", "Download this patient's questionnaires (CSV)")
footer()
