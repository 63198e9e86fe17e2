"""Tolerability: blood pressure, dissociation and sedation, adverse events, sessions stopped early, monitoring."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.definitions import (
    DIASTOLIC_READING_OVER,
    DIASTOLIC_RISE_AT,
    MIN_MONITORING_MINUTES,
    SPEC_VERSION,
    SYSTOLIC_READING_OVER,
    SYSTOLIC_RISE_AT,
    TOLERABILITY_SOURCES,
)
from analytics.tolerability import blood_pressure_rise, dissociation_sedation_by, tolerability_table
from analytics.wording import percent
from app_pages.access import require_director
from app_pages.common import PALETTE, download, footer, page_setup, pct, show_table, translucent
from app_pages.session_data import HOW_TO_LOAD, cohort_sessions

ROUTE_NAMES = {"iv_ketamine": "IV ketamine", "im_ketamine": "IM ketamine",
               "intranasal_esketamine": "Intranasal esketamine", "oral_sublingual_ketamine": "Oral/sublingual ketamine",
               "all": "All routes"}
TABLE_COLUMNS = ["measure", "unit", "route", "n", "events", "rate", "ci_low", "ci_high", "definition"]

require_director("tolerability")
view = page_setup("Tolerability")
st.caption("Session records of the patients in the cohort: what happened at each dose. A review aid for the clinic's "
           "own monitoring; it does not judge any one session and gives no clinical advice.")
sessions = cohort_sessions(view)
if sessions is None:
    st.info("This data source has no sessions table, so there is nothing to show here yet. " + HOW_TO_LOAD,
            icon=":material/vaccines:")
    footer()
    st.stop()
if sessions.empty:
    st.warning("None of the patients in this cohort has a session on record. Widen the filters in the sidebar.",
               icon=":material/filter_alt_off:")
    footer()
    st.stop()

with st.sidebar:
    st.header("Tolerability thresholds")
    st.caption("Clinic conventions: set your own. Where each default comes from is under 'Thresholds and their "
               "sources' on the page.")
    systolic_rise = st.number_input("Blood-pressure rise: systolic (mmHg)", 1, 200, SYSTOLIC_RISE_AT,
                                    key="tol_systolic_rise", help="A session counts when the post-dose reading is at "
                                    "least this much above the pre-dose reading (or the diastolic rise below is met).")
    diastolic_rise = st.number_input("Blood-pressure rise: diastolic (mmHg)", 1, 200, DIASTOLIC_RISE_AT,
                                     key="tol_diastolic_rise")
    systolic_over = st.number_input("Reading over: systolic above (mmHg)", 60, 260, SYSTOLIC_READING_OVER,
                                    key="tol_systolic_over", help="A reading counts when strictly above this "
                                    "systolic or the diastolic value below.")
    diastolic_over = st.number_input("Reading over: diastolic above (mmHg)", 30, 160, DIASTOLIC_READING_OVER,
                                     key="tol_diastolic_over")
    minimum = st.number_input("Minimum monitoring after esketamine (minutes)", 0, 1440,
                              MIN_MONITORING_MINUTES["intranasal_esketamine"], key="tol_min_minutes")
thresholds = dict(systolic_rise_at=int(systolic_rise), diastolic_rise_at=int(diastolic_rise),
                  systolic_over=int(systolic_over), diastolic_over=int(diastolic_over))
min_minutes = {"intranasal_esketamine": int(minimum)}


@st.cache_data(show_spinner="Computing tolerability...", max_entries=16)
def _tables(_sessions, key: tuple, thresholds: tuple, min_minutes: tuple):
    options = dict(thresholds)
    table = tolerability_table(_sessions, suppression=False, min_minutes=dict(min_minutes), **options)
    return (table.drop(columns="suppressed"), blood_pressure_rise(_sessions, **options),
            dissociation_sedation_by(_sessions, by="session_number"), dissociation_sedation_by(_sessions, by="dose_band"))


key = (view.key, len(sessions), int(sessions["line"].sum()))
table, per_session, by_number, by_dose = _tables(sessions, key, tuple(sorted(thresholds.items())),
                                                 tuple(sorted(min_minutes.items())))
n_sessions, n_patients = len(sessions), sessions["patient_id"].nunique()
routes = ", ".join(ROUTE_NAMES.get(r, r) for r in sorted(sessions["route"].astype("str").unique()))


def rows(measure_prefix: str, unit: str | None = None) -> pd.DataFrame:
    part = table[table["measure"].str.startswith(measure_prefix)]
    if unit is not None:
        part = part[part["unit"] == unit]
    return part.assign(route=part["route"].map(lambda r: ROUTE_NAMES.get(r, r)))[TABLE_COLUMNS]


def one(measure: str, unit: str = "session", route: str = "all") -> pd.Series:
    hit = table[(table["measure"] == measure) & (table["unit"] == unit) & (table["route"] == route)]
    return hit.iloc[0] if len(hit) else pd.Series({"n": 0, "events": 0, "rate": None})


def caption(what: str) -> str:
    return (f"{what} {n_sessions} sessions of {n_patients} patients ({routes}). Wilson 95% intervals; n = 0 "
            f"reads 'no data'. Spec v{SPEC_VERSION}. {view.filter_text}")


stopped, any_patient = one("stopped early"), one("adverse event: any", unit="patient")
c = st.columns(4)
c[0].metric("Sessions", n_sessions)
c[1].metric("Patients with sessions", n_patients)
c[2].metric("Sessions stopped early", pct(stopped["rate"]), help=f"{stopped['events']} of {stopped['n']} sessions "
            "not completed as planned.")
c[3].metric("Patients with any adverse event", pct(any_patient["rate"]),
            help=f"{any_patient['events']} of {any_patient['n']} patients, at any of their sessions.")

# ----------------------------------------------------------------------------- blood pressure
st.subheader("Blood pressure")
bp = pd.concat([rows("blood-pressure rise"), rows("reading over")], ignore_index=True)
rise = per_session["systolic_rise"].to_numpy(dtype="float64", na_value=np.nan)
fig = go.Figure()
for i, (route, part) in enumerate(per_session.assign(r=per_session["route"].astype("str")).groupby("r")):
    values = part["systolic_rise"].to_numpy(dtype="float64", na_value=np.nan)
    fig.add_trace(go.Histogram(x=values[~np.isnan(values)], name=ROUTE_NAMES.get(route, route), opacity=0.65,
                               marker_color=PALETTE[i], xbins=dict(size=5)))
fig.add_vline(x=systolic_rise, line=dict(color=PALETTE[5], dash="dash"),
              annotation_text=f"rise counted at {systolic_rise} mmHg", annotation_position="top right")
fig.update_layout(barmode="overlay", height=320, margin=dict(l=10, r=10, t=30, b=10), template="plotly_white",
                  xaxis_title="Systolic rise, post-dose minus pre-dose (mmHg)", yaxis_title="Sessions",
                  legend=dict(orientation="h", y=1.15))
st.plotly_chart(fig, width="stretch", key="bp_rise")
show_table(bp)
st.caption(caption(f"Rise: post-dose minus pre-dose reading, at least {systolic_rise} mmHg systolic or "
                   f"{diastolic_rise} mmHg diastolic (sessions with both readings). Reading over: strictly above "
                   f"{systolic_over}/{diastolic_over} mmHg at that time point (sessions with that reading). "
                   f"{int(np.isnan(rise).sum())} session(s) lack a pre/post systolic pair and are outside the rise "
                   "figures."))
download(bp, "tolerability_blood_pressure")

# ----------------------------------------------------------------------------- dissociation and sedation
st.subheader("Dissociation and sedation")
by = st.radio("Group by", ["session number", "dose"], horizontal=True, key="tol_by",
              help="Dose bands: mg/kg for IV and IM ketamine, mg for esketamine and oral doses (closed on the left).")
summary = by_number if by == "session number" else by_dose
x_col = "session_number" if by == "session number" else "dose_band"
measures = list(dict.fromkeys(summary["measure"]))
if not measures:
    st.info("The sessions carry no dissociation or sedation scores.")
else:
    chart = go.Figure()
    for i, measure in enumerate(measures):  # a dissociation scale or two and MOAA/S
        part = summary[summary["measure"] == measure]
        color = PALETTE[i % len(PALETTE)]
        x = part[x_col].astype("str") if x_col == "dose_band" else part[x_col]
        chart.add_trace(go.Scatter(x=list(x) + list(x)[::-1], y=list(part["q3"]) + list(part["q1"])[::-1],
                                   fill="toself", fillcolor=translucent(color), line=dict(width=0),
                                   hoverinfo="skip", showlegend=False, legendgroup=measure))
        chart.add_trace(go.Scatter(x=x, y=part["median"], mode="lines+markers", name=measure, legendgroup=measure,
                                   line=dict(color=color), customdata=part[["n", "q1", "q3"]],
                                   hovertemplate=f"{measure}: median %{{y}} (IQR %{{customdata[1]}}–"
                                                 "%{customdata[2]}), n = %{customdata[0]}<extra></extra>"))
    chart.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), template="plotly_white",
                        xaxis_title="Session number within the episode" if x_col == "session_number" else "Dose band",
                        yaxis_title="Score (median, shaded: interquartile range)",
                        legend=dict(orientation="h", y=1.15))
    if x_col == "dose_band":
        chart.update_xaxes(type="category")
    st.plotly_chart(chart, width="stretch", key="dissociation")
    # the deep-sedation share belongs to MOAA/S rows only: "—" (not applicable) on dissociation rows
    sedation = summary["measure"] == "sedation (MOAA/S)"
    shown = summary.assign(share_moaas_le_3=[percent(v) if is_sedation else "—" for v, is_sedation in
                                             zip(summary["share_moaas_le_3"], sedation)])
    show_table(shown.rename(columns={"share_moaas_le_3": "share MOAA/S ≤ 3"}))
    st.caption(caption("Dissociation on each scale kept apart (a CADSS total is 0–92, a clinic's rating 0–10); "
                       "sedation on the MOAA/S (5 = responds readily to name in a normal tone, lower is deeper; "
                       "'share MOAA/S ≤ 3' responds only to loud or repeated calling or less). n per row is the "
                       "sessions with that score."))
    download(summary, f"tolerability_by_{x_col}")

# ----------------------------------------------------------------------------- adverse events
st.subheader("Adverse events")
events = rows("adverse event: ")
overall = events[events["route"] == "All routes"]
ae_chart = go.Figure()
for i, unit in enumerate(("session", "patient")):
    part = overall[overall["unit"] == unit]
    rate = pd.to_numeric(part["rate"], errors="coerce").to_numpy(dtype="float64")
    lo = pd.to_numeric(part["ci_low"], errors="coerce").to_numpy(dtype="float64")
    hi = pd.to_numeric(part["ci_high"], errors="coerce").to_numpy(dtype="float64")
    ae_chart.add_trace(go.Bar(x=part["measure"].str.replace("adverse event: ", "", regex=False), y=rate,
                              name=f"per {unit}", marker_color=PALETTE[i],
                              error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - rate),
                                           arrayminus=np.nan_to_num(rate - lo)),
                              customdata=part[["events", "n"]],
                              hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>"))
ae_chart.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10), template="plotly_white",
                       yaxis=dict(title="Share (95% interval)", tickformat=".0%"), legend=dict(orientation="h", y=1.15))
st.plotly_chart(ae_chart, width="stretch", key="adverse_events")
show_table(events)
st.caption(caption("Per session: sessions with the event / sessions. Per patient: patients with the event at any of "
                   "their sessions / patients with a session. Events are the documented vocabulary (free text is "
                   "refused on import)."))
download(events, "tolerability_adverse_events")

# ----------------------------------------------------------------------------- stopped early and monitoring
left, right = st.columns(2)
with left:
    st.subheader("Sessions stopped early")
    early = rows("stopped early")
    show_table(early[["route", "n", "events", "rate", "ci_low", "ci_high"]])
    st.caption(caption("Sessions not completed as planned / sessions."))
with right:
    st.subheader("Monitoring completeness")
    monitoring = pd.concat([rows("post-dose blood pressure recorded"), rows("monitored at least the minimum")],
                           ignore_index=True)
    show_table(monitoring[["measure", "route", "n", "events", "rate", "ci_low", "ci_high"]])
    st.caption(caption(f"Completed sessions only. Post-dose check: both post-dose readings recorded. Monitoring: "
                       f"minutes_monitored at least {minimum} minutes after esketamine (blank counts as not met); "
                       "other routes have no minimum set."))
download(pd.concat([early, monitoring], ignore_index=True), "tolerability_stopped_and_monitoring")

with st.expander("Thresholds and their sources"):
    show_table(pd.DataFrame({"setting": list(TOLERABILITY_SOURCES), "source": list(TOLERABILITY_SOURCES.values())}))
    st.caption("None of these defaults is taken from the project's reference file of published figures; each is a "
               "clinic convention until a source is added there (docs/methods.md, 'Tolerability').")
footer()
