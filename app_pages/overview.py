"""Overview: how is the clinic doing, with n, definition and mode beside every rate."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.exports import to_safe_csv
from app_pages.common import PALETTE, ci, data_banner, load_report, pct, sidebar_definitions, summary_for

st.title("Outcome overview")
definitions = sidebar_definitions()
report = load_report()
if report is None:
    st.stop()
if not report.ok:
    st.error("The data file was refused; nothing from it is shown. Fix these problems and reload.")
    st.dataframe(report.errors, hide_index=True)
    st.stop()
data_banner(report)

s = summary_for(report, (report.source, report.sha256), definitions.week, definitions.window_days,
                definitions.min_baseline, definitions.analysis)
cols = st.columns(5)
cols[0].metric("Patients", s.patients)
cols[1].metric("Questionnaires", s.questionnaires, help=f"{s.complete_questionnaires} complete")
cols[2].metric("With a baseline", s.with_baseline)
cols[3].metric(f"Eligible (baseline ≥ {definitions.min_baseline})", s.eligible)
cols[4].metric("SI at baseline (item 9 ≥ 1)", s.si_at_baseline)

rows = [
    ("Response", f"week {definitions.week}, {definitions.analysis}", s.response),
    ("Remission", f"week {definitions.week}, {definitions.analysis}", s.remission),
    ("SI resolution", f"week {definitions.week}, {definitions.analysis}", s.si_resolution),
    ("Response reached by week", f"Kaplan-Meier, day {definitions.target_day}", s.cumulative_response),
    ("Remission reached by week", f"Kaplan-Meier, day {definitions.target_day}", s.cumulative_remission),
]
table = pd.DataFrame([{
    "Outcome": name, "Estimate": how, "n": r.n, "Events": r.events, "Rate": pct(r.estimate),
    "95% CI": ci(r.ci_low, r.ci_high), "Method": r.method,
} for name, how, r in rows])
st.subheader(f"Outcomes at week {definitions.week}")
st.dataframe(table, hide_index=True, width="stretch")
st.caption(definitions.describe())
for warning in s.warnings:
    st.warning(warning, icon=":material/warning:")
st.download_button("Download outcomes (CSV)", to_safe_csv(table), "outcomes.csv", "text/csv")

st.subheader("Against published figures")
fig = go.Figure()
labels = [name for name, _, r in rows]
est = [r.estimate for _, _, r in rows]
fig.add_trace(go.Scatter(
    x=est, y=labels, mode="markers", name="This clinic (95% CI)", marker=dict(color=PALETTE[0], size=11),
    error_x=dict(type="data", symmetric=False,
                 array=[(r.ci_high - r.estimate) if r.ci_high is not None else 0 for _, _, r in rows],
                 arrayminus=[(r.estimate - r.ci_low) if r.ci_low is not None else 0 for _, _, r in rows]),
    hovertemplate="%{y}: %{x:.1%}<extra>this clinic</extra>",
))
bench = s.benchmarks
target = {("response", "snapshot"): labels[0], ("remission", "snapshot"): labels[1],
          ("si_resolution", "snapshot"): labels[2], ("response", "cumulative"): labels[3],
          ("remission", "cumulative"): labels[4]}
bench = bench.assign(row=[target[(m, e)] for m, e in zip(bench["metric"], bench["clinic_estimate"])])
for comparable, symbol, color, name in ((True, "diamond", PALETTE[1], "Published, like for like"),
                                        (False, "diamond-open", PALETTE[5], "Published, not like for like")):
    part = bench[bench["comparable"] == comparable]
    fig.add_trace(go.Scatter(
        x=part["rate"], y=part["row"], mode="markers", name=name, marker=dict(symbol=symbol, size=10, color=color),
        customdata=part[["id", "reason"]], hovertemplate="%{customdata[0]}: %{x:.1%}<br>%{customdata[1]}<extra></extra>",
    ))
fig.update_layout(xaxis=dict(title="Share of patients", tickformat=".0%", range=[0, 1]),
                  yaxis=dict(title=None, autorange="reversed"), height=400,
                  legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
                  margin=dict(l=10, r=10, t=40, b=10))
st.plotly_chart(fig, width="stretch")
st.caption("Open diamonds differ from this clinic's figure in instrument, definition, method, analysis or "
           "timepoint; hover to see how. Item-9 SI figures are not C-SSRS or SSI figures.")
shown = pd.DataFrame({
    "Published figure": bench["id"], "Metric": bench["metric"], "Published": bench["rate"].map(pct),
    "Clinic": bench["clinic_rate"].map(pct), "Difference": bench["difference"].map(
        lambda v: "" if pd.isna(v) else f"{v:+.1%}"),
    "p": bench["p_value"].map(lambda v: "" if pd.isna(v) else f"{v:.3g}"),
    "Like for like": bench["comparable"].map({True: "yes", False: "no"}), "Why": bench["reason"],
    "Test": bench["test"], "Citation": bench["citation"],
})
st.dataframe(shown, hide_index=True, width="stretch")
st.download_button("Download comparison (CSV)", to_safe_csv(shown), "benchmarks.csv", "text/csv")

with st.expander(f"Data quality: {report.source}"):
    st.write({k.replace("_", " "): v for k, v in report.counts.items()})
    if len(report.warnings):
        st.dataframe(report.warnings, hide_index=True, width="stretch")
        st.download_button("Download data-quality warnings (CSV)", to_safe_csv(report.warnings),
                           "data_quality.csv", "text/csv")

st.caption("This dashboard informs clinical review; it does not give clinical advice.")
