"""Patient: one pseudonymous patient's episodes on one time axis, and each episode's outcome."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from analytics import patient_outcomes
from analytics.definitions import BASELINE_WINDOW_DAYS, EPISODE_UNKNOWN_GAP_DAYS, REMISSION_BELOW, RESPONSE_FRACTION
from analytics.episodes import episode_axis_offsets
from analytics.instruments import GAD7, PHQ9
from app_pages.access import require_director
from app_pages.common import PALETTE, download, footer, page_setup, show_table

# one hue growing with severity: readable with the common colour-vision deficiencies
BAND_COLORS = [f"rgba(213,94,0,{a})" for a in (0.03, 0.08, 0.14, 0.20, 0.27)]


def course_outcome(row) -> str:
    """One episode's outcome in words."""
    return ("no baseline" if pd.isna(row["baseline_total"]) else "not eligible" if not row["eligible"]
            else "no endpoint" if pd.isna(row["response"]) else "remission" if row["remission"]
            else "response" if row["response"] else "no response")


require_director("patient")
view = page_setup("Patient course")
d = view.definitions
patients = view.patients
# fullest courses first: patients with an endpoint, then by number of scored questionnaires
ranked = patients.assign(_has_end=patients["endpoint_day"].notna()).sort_values(
    ["_has_end", "n_complete"], ascending=False, kind="stable")
order = list(dict.fromkeys(ranked["patient_id"]))
pid = st.selectbox("Patient (pseudonym)", order, key="patient",
                   help="Pseudonyms only: the tool holds no names or other direct identifiers.")
q = view.frame[view.frame["patient_id"].astype("str") == pid]
q = q.sort_values([c for c in ("episode", "day") if c in q], kind="stable")
if "episode" not in q:
    q = q.assign(episode=1)
# every episode of this patient (one patient: cheap), whatever the sidebar's episode selection
courses = patient_outcomes(q, definitions=replace(d, episodes="all"))
courses = courses.assign(start_on_axis=episode_axis_offsets(courses))
gaps_known = courses["days_since_previous_episode"].notna().sum() == len(courses) - 1
default_episode = {"first": 0, "latest": len(courses) - 1}.get(d.episodes, 0)
episode = (st.selectbox("Episode", list(courses["episode"]), index=default_episode,
                        key=f"episode_{pid}_{d.episodes}", format_func=lambda k: f"Episode {k}",
                        help="Each treatment start date begins an episode (treatment course).")
           if len(courses) > 1 else int(courses["episode"].iloc[0]))
p = courses.set_index("episode").loc[episode]
complete = q[q["complete"]]

c = st.columns(4)
c[0].metric("Baseline PHQ-9", "none" if pd.isna(p["baseline_total"]) else int(p["baseline_total"]),
            help=f"Latest scored questionnaire on study days {BASELINE_WINDOW_DAYS[0]} to "
                 f"{BASELINE_WINDOW_DAYS[1]} of the episode." + (
                "" if pd.isna(p["baseline_day"]) else f" Day {int(p['baseline_day'])}."))
c[1].metric(f"Endpoint (week {d.week})", "none" if pd.isna(p["endpoint_total"]) else int(p["endpoint_total"]),
            help="" if pd.isna(p["endpoint_day"]) else f"Day {int(p['endpoint_day'])} ({p['endpoint_source']}).")
c[2].metric("Outcome", course_outcome(p), help=f"Under the current definitions, {d.analysis} mode.")
c[3].metric("SI at baseline", "unknown" if p["si_unknown"] else "yes" if p["si_at_baseline"] else "no",
            help="" if pd.isna(p["si_resolved"]) else ("SI resolved at endpoint" if p["si_resolved"]
                                                        else "SI not resolved at endpoint"))

has_gad = GAD7.total in q and q[GAD7.total].notna().any()
rows = 3 if has_gad else 2
fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                    row_heights=[0.6, 0.2, 0.2][:rows] if has_gad else [0.72, 0.28])
edges = [lo for lo, _ in PHQ9.bands] + [PHQ9.total_max]
for (lo, label), hi, color in zip(PHQ9.bands, edges[1:], BAND_COLORS):
    fig.add_hrect(y0=lo - 0.5, y1=min(hi - 0.5, PHQ9.total_max), fillcolor=color, line_width=0, layer="below",
                  row=1, col=1,
                  exclude_empty_subplots=False,  # drawn before the traces; plotly would drop them otherwise
                  annotation_text=label, annotation_position="inside left", annotation_font_size=10,
                  annotation_font_color="#555")
shift = q["episode"].map(courses.set_index("episode")["start_on_axis"]).astype("float64")
x_all = q["day"].astype("float64") + shift
lo_b, hi_b = BASELINE_WINDOW_DAYS
lo_w, hi_w = d.window
for i, course in enumerate(courses.itertuples()):  # a patient's few episodes, not rows
    x0 = course.start_on_axis
    part = complete[complete["episode"] == course.episode]
    fig.add_trace(go.Scatter(x=part["day"] + x0, y=part["phq9_total"], mode="lines+markers", name="PHQ-9 total",
                             legendgroup="phq9", showlegend=i == 0, line=dict(color=PALETTE[0], width=2.5),
                             customdata=part[["day"]],
                             hovertemplate=f"episode {course.episode}, day %{{customdata[0]}}: PHQ-9 %{{y}}"
                                           "<extra></extra>"), row=1, col=1)
    fig.add_vline(x=x0, line=dict(color="#333", width=1.5), row=1, col=1,
                  # written up the line, so it never runs into the week-W label on a long axis
                  annotation_text=f"episode {course.episode} start", annotation_position="top right",
                  annotation_textangle=-90, annotation_font_size=10)
    fig.add_vrect(x0=x0 + lo_b, x1=x0 + hi_b, fillcolor="rgba(0,114,178,0.07)", line_width=0, row=1, col=1,
                  annotation_text="baseline", annotation_position="top left", annotation_font_size=10)
    fig.add_vrect(x0=x0 + lo_w, x1=x0 + hi_w, fillcolor="rgba(230,159,0,0.12)", line_width=0, row=1, col=1,
                  annotation_text=f"week {d.week}", annotation_position="top right", annotation_font_size=10)
    if pd.notna(course.baseline_total):
        fig.add_trace(go.Scatter(x=[x0, x0 + hi_w], y=[RESPONSE_FRACTION * course.baseline_total] * 2,
                                 mode="lines", line=dict(color=PALETTE[2], dash="dash"), legendgroup="half",
                                 name="50% of the episode's baseline", showlegend=i == 0, hoverinfo="skip"),
                      row=1, col=1)
fig.add_hline(y=REMISSION_BELOW - 0.5, line=dict(color=PALETTE[3], dash="dot"), row=1, col=1,
              annotation_text=f"remission (< {REMISSION_BELOW})", annotation_position="bottom right")
if "infusion_number" in q and q["infusion_number"].notna().any():
    has_inf = q["infusion_number"].notna()
    inf = q[has_inf]
    fig.add_trace(go.Scatter(x=x_all[has_inf], y=[0.3] * len(inf), mode="markers", name="Infusion",
                             marker=dict(symbol="triangle-up", size=9, color=PALETTE[1]),
                             customdata=inf[["infusion_number"]],
                             hovertemplate="infusion %{customdata[0]}<extra></extra>"), row=1, col=1)
x_done = x_all[q["complete"].to_numpy()]
fig.add_trace(go.Bar(x=x_done, y=complete["phq9_9"] if "phq9_9" in complete else [None] * len(complete),
                     name="Item 9 (SI)", marker_color=PALETTE[5], hovertemplate="item 9 = %{y}<extra></extra>"),
              row=2, col=1)
if has_gad:
    has_g = q[GAD7.total].notna()
    g = q[has_g]
    fig.add_trace(go.Scatter(x=x_all[has_g], y=g[GAD7.total], mode="lines+markers", name="GAD-7 total",
                             line=dict(color=PALETTE[4]), hovertemplate="GAD-7 %{y}<extra></extra>"), row=3, col=1)
    fig.update_yaxes(title_text="GAD-7 (0-21)", range=[0, 21], row=3, col=1)
fig.update_yaxes(title_text="PHQ-9 total (0-27)", range=[0, 27.5], row=1, col=1)
fig.update_yaxes(title_text="Item 9 (0-3)", range=[0, 3.2], dtick=1, row=2, col=1)
fig.update_xaxes(title_text="Days since the first episode's start" if len(courses) > 1
                 else "Study day since treatment start", row=rows, col=1)
fig.update_layout(height=620 if has_gad else 540, margin=dict(l=10, r=10, t=20, b=10),
                  legend=dict(orientation="h", y=1.06), bargap=0.6,
                  plot_bgcolor="rgba(0,0,0,0)")  # the theme's opaque background would hide the bands
st.plotly_chart(fig, width="stretch", key="course")
axis_note = "" if len(courses) == 1 or gaps_known else (
    " The data give no calendar dates, so the time between episodes is not known: episodes are drawn one after "
    f"the other, {EPISODE_UNKNOWN_GAP_DAYS} days apart.")
st.caption(f"{len(complete)} scored questionnaire(s) of {len(q)} in {len(courses)} episode(s). Vertical lines: "
           f"episode starts; blue: baseline windows (days {BASELINE_WINDOW_DAYS[0]} to {BASELINE_WINDOW_DAYS[1]}); "
           "orange: endpoint windows. Bands: PHQ-9 "
           "severity (Kroenke 2001)." + axis_note + " " + view.caption(None, "Outcome "))

if len(courses) > 1:
    st.subheader("Episodes")
    episodes_table = pd.DataFrame({
        "Episode": courses["episode"],
        "Days since previous start": courses["days_since_previous_episode"].astype("object").where(
            courses["days_since_previous_episode"].notna() | (courses["episode"] == courses["episode"].min()),
            "not known"),
        "Baseline PHQ-9": courses["baseline_total"],
        "Endpoint PHQ-9": courses["endpoint_total"],
        "Outcome": [course_outcome(r) for _, r in courses.iterrows()],  # a patient's few episodes
        "SI at baseline": courses["si_at_baseline"].map({True: "yes", False: "no"}).where(~courses["si_unknown"],
                                                                                        "unknown"),
    })
    show_table(episodes_table)
    st.caption("Each outcome is computed within its episode, with study days from that episode's start. "
               + view.caption(None))

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
shown_cols = [c for c in ["episode", "day", "assessment_date", "infusion_number", *PHQ9.items, "phq9_total", "complete",
                          GAD7.total] if c in q]
table = q[shown_cols].reset_index(drop=True)
show_table(table)
download(table, f"patient_{pid}", "Download this patient's questionnaires (CSV)")
footer()
