"""Research: compare groups with the right statistics, follow durability, and export a dataset."""
from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics import AnalyticsError, __version__
from analytics.audit import audited
from analytics.comparisons import at_risk_table
from analytics.research_export import write_research_export
from analytics.store import (
    default_db_path,
    list_cohorts,
    save_cohort,
    store_fingerprint,
)
from analytics.store_backends import store_backend
from analytics.wording import cohort_sentence, p_value
from app_pages.common import (
    PALETTE,
    chart_text,
    download,
    footer,
    page_setup,
    plain,
    research_comparison,
    research_durability,
    research_groups,
    research_trajectory,
    show_table,
    signed_in_user,
    translucent,
)

view = page_setup("Research cohort review")
d = view.definitions
cohort_patients = view.patients  # one row per patient, for durability, attrition and effect sizes
choices = {c: c.replace("_", " ") for c in ("site", "protocol", "clinician", "diagnosis", "baseline_band", "age_band",
                                             "sex") if c in view.patients and view.patients[c].notna().any()}
choices["si_at_baseline_text"] = "SI at baseline"
db = default_db_path()
try:
    saved = list_cohorts(db) if store_backend(db).exists() else pd.DataFrame()
except AnalyticsError:
    saved = pd.DataFrame()
if len(saved) >= 2:
    choices["cohort"] = "saved cohorts"
left, right = st.columns(2)
by = left.selectbox("Compare groups by", list(choices), format_func=choices.get, key="research_by")
metric = right.selectbox("Outcome", ["response", "remission", "si_resolution"], key="research_metric")
cohorts: tuple = ()
if by == "cohort":
    names = st.multiselect("Saved cohorts to compare", list(saved["name"]), default=list(saved["name"])[:2],
                           key="research_cohorts")
    cohorts = tuple((n, saved.set_index("name").loc[n, "definition"]) for n in names)
# computed once per data, filters, definitions and choice above: a second visit redraws from the cache
patients = research_groups(view, by, cohorts)
if by == "cohort":
    overlap = int(patients[["patient_id", "episode"]].duplicated().sum())
    if overlap:
        st.warning(f"{overlap} patient(s) are in more than one of these cohorts: the tests assume separate groups.")
res, tte = research_comparison(patients, view.key, by, cohorts, metric, d)

st.subheader("Rates by group")
rates = res["rates"].rename(columns={by: "group"})
show_table(rates)
test_line = f"Test: {res['test']}" + ("" if res["p_value"] is None else f", {p_value(res['p_value'])}")
st.caption(test_line + ". " + view.caption(int(rates["n"].sum()), "Wilson 95% intervals. "))
if res["warning"]:
    st.warning(plain(res["warning"]))
if len(res["pairs"]):
    st.markdown("**Pairs**: difference with Newcombe's 95% interval, conditional odds ratio, Fisher's exact test "
                "(Holm-adjusted when more than two groups)")
    show_table(res["pairs"])
    download(res["pairs"], "research_pairs", "Download the pairwise comparisons (CSV)")

if metric != "si_resolution":
    st.subheader(f"Time to first {metric}")
    fig = go.Figure()
    for i, (group, curve) in enumerate(tte["curves"].groupby("group", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=curve["time"], y=curve["ci_high"], mode="lines", line=dict(width=0, shape="hv"),
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=curve["time"], y=curve["ci_low"], mode="lines", line=dict(width=0, shape="hv"),
                                 fill="tonexty", fillcolor=translucent(color, 0.12), showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=curve["time"], y=curve["cumulative"], mode="lines", name=chart_text(group),
                                 line=dict(color=color, shape="hv", width=2.5), customdata=curve[["at_risk"]],
                                 hovertemplate="day %{x}: %{y:.1%} (%{customdata[0]} at risk)<extra></extra>"))
    fig.update_layout(xaxis=dict(title="Study day", range=[0, d.target_day]),
                      yaxis=dict(title=f"Cumulative {metric} (Kaplan-Meier)", tickformat=".0%"), height=380,
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.1))
    st.plotly_chart(fig, width="stretch", key="research_km")
    st.markdown("**Number at risk** (patients followed to at least that day, as R's summary(survfit, times =))")
    show_table(at_risk_table(tte["at_risk"]))
    omni = tte["omnibus"]
    st.caption(f"Omnibus {omni.method}: " + (f"chi-square = {omni.chi_square:.2f}, {omni.df} df, "
                                             f"{p_value(omni.p_value)}"
                                             if omni.p_value is not None else omni.warning))
    show_table(tte["tests"])
    st.caption(tte["method"] + ". " + view.caption())

st.subheader("Durability of response")
dur, flow, drop, effects = research_durability(view.frame, cohort_patients, view.key, d)
if dur["responders"]:
    curve = dur["curve"]
    fig = go.Figure(go.Scatter(x=curve["time"], y=curve["still_responding"], mode="lines",
                               line=dict(shape="hv", color=PALETTE[2], width=2.5), name="This clinic"))
    fig.add_trace(go.Scatter(x=[28, 56], y=[0.8, 0.6], mode="markers", name="Published, about (McInnes 2022)",
                             marker=dict(symbol="diamond-open", size=12, color=PALETTE[5])))
    fig.update_layout(xaxis=dict(title="Days since the endpoint response (end of induction)"),
                      yaxis=dict(title="Still responding", tickformat=".0%", range=[0, 1.02]), height=340,
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.12))
    st.plotly_chart(fig, width="stretch", key="durability")
    show_table(dur["at"])
st.caption(f"{dur['responders']} responders, {dur['losses']} lost response. {dur['definition']} The published points "
           "are approximate and not like for like (completer community practices, response and loss definitions as "
           "published). " + view.filter_text)

st.subheader("Attrition")
a_left, a_right = st.columns(2)
with a_left:
    show_table(flow, percent_columns=("share_of_first",))
with a_right:
    if len(drop):
        fig = go.Figure(go.Scatter(x=drop["infusion"], y=drop["share"], mode="lines+markers", line=dict(
            color=PALETTE[0]), customdata=drop[["patients_reaching"]],
            hovertemplate="infusion %{x}: %{y:.0%} (%{customdata[0]})<extra></extra>"))
        fig.add_hline(y=0.5, line=dict(dash="dot", color=PALETTE[5]),
                      annotation_text="about half do not complete six (published)")
        fig.update_layout(xaxis=dict(title="Infusion number", dtick=1), yaxis=dict(
            title="Patients reaching it", tickformat=".0%", range=[0, 1.02]), height=300,
            margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(fig, width="stretch", key="dropout")

st.subheader("Effect sizes by baseline severity")
show_table(effects)
st.caption("Pre-post change to the endpoint: d_z = mean change / SD of the changes; SMC = mean change / SD of the "
           "baseline scores. Negative = improvement. The 'all eligible' row counts eligible patients only; band rows "
           "below the eligibility threshold are marked eligible = False. " + view.caption())

st.subheader("Trajectory model")
# fitted when asked (it models every questionnaire of the cohort: minutes at registry size), then kept for this
# cohort, grouping and definitions for the rest of the session (and cached for every session)
model_key = repr((view.key, by, cohorts))
fitted = st.session_state.setdefault("fitted_models", set())
if model_key not in fitted:
    st.caption(f"A linear mixed model of PHQ-9 over weeks by {choices[by].lower()}, on every questionnaire of the "
               f"cohort ({len(view.frame):,}): fitted when you ask, as it can take minutes for a large registry.")
    if st.button("Fit the trajectory model", key="fit_model"):
        fitted.add(model_key)
if model_key in fitted:
    model = research_trajectory(view.frame, patients, view.key, by, cohorts)
    (st.success if model["status"] == "converged" else st.warning)(
        f"Linear mixed model (statsmodels MixedLM, REML: PHQ-9 ~ weeks x {choices[by]}, correlated random intercept "
        f"and slope per patient; baseline questionnaire at its own day, then days 1-84; {model['n_patients']} "
        f"patients, {model['n_observations']} questionnaires): {plain(model['message'])}.")
    if len(model["coefficients"]):
        show_table(model["coefficients"])
        st.caption(f"Standard errors: {model['se_method']}.")
        show_table(model["variance_components"])

st.subheader("Save this cohort, export its dataset")
start_from, start_to, attrs = view.key[1]
definition = {k: list(v) for k, v in attrs if v}
if start_from:
    definition["start_from"] = start_from
if start_to:
    definition["start_to"] = start_to
st.caption(f"The sidebar's filters define the cohort: {plain(cohort_sentence(definition))}")
name = st.text_input("Cohort name", key="cohort_name")
if st.button("Save cohort", key="save_cohort", disabled=not name):
    try:
        fingerprint = store_fingerprint(db) if view.kind == "store" else f"sha256:{view.report.sha256}"
        save_cohort(name, definition, fingerprint=fingerprint, db=db, user=signed_in_user())
        st.success(f"Saved cohort '{plain(name)}' in {plain(db)}.")
    except AnalyticsError as exc:
        st.error(plain(exc))
if len(saved):
    show_table(saved.assign(definition=[cohort_sentence(json.loads(x)) for x in saved["definition"]]))
if st.button("Build the research dataset of this cohort", key="build_dataset"):
    # recorded before the files are written and after: a failure half-way is on record
    try:
        with audited("research export (dashboard)", {"cohort": name or "unsaved", "definition": definition,
                                                     "parameters": d.as_dict(), "patients": len(view.patients)},
                     db=db, user=signed_in_user()) as done, tempfile.TemporaryDirectory() as tmp:
            # the export draws its own study ids from the clinic's pseudonyms; the key stays in the store
            result = write_research_export(view.with_source_ids(view.frame), view.with_source_ids(view.patients),
                                           cohort={"name": name or "unsaved", "definition": definition},
                                           definitions=d, out_dir=Path(tmp),
                                           fingerprint=f"sha256:{view.report.sha256}" if view.kind != "store"
                                           else store_fingerprint(db), software_version=__version__, db=db,
                                           user=signed_in_user())
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in result.files:
                    zf.write(f, f.name)
            done["files"] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in result.files}
            done["export_id"] = result.export_id
        st.download_button("Download the dataset (zip)", buffer.getvalue(), "research_dataset.zip",
                           "application/zip", key="dl_dataset")
        st.caption(f"{result.patients} patients under new random study ids (export id {result.export_id}; the key "
                   "to your pseudonyms stays in the clinic store, not in the zip). Study days only, no calendar "
                   "dates; reproduce.py recomputes the headline rates with pandas and scipy alone.")
    except AnalyticsError as exc:
        st.error(plain(exc))
footer()
