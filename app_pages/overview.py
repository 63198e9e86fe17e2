"""Overview: how is the clinic doing? n, definition and mode beside every rate."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import compare_with_benchmarks, load_benchmarks
from analytics.definitions import ANALYSIS_MODE_LABELS, SMALL_CELL_MAX, TRENDS_MAX_WEEK
from analytics.headline import author_year
from analytics.wording import GLOSSARY, p_value, percent, percent_interval, points, points_interval, readable_table
from analytics.infusions import INFUSION_CONVENTION
from app_pages.common import (
    PALETTE,
    cards_for,
    show_table,
    ci,
    download,
    footer,
    overview_figures,
    page_setup,
    pct,
    plain,
    rate_rows,
    reinductions_for,
    summary_for,
)
from app_pages.overview_charts import forest_chart, km_chart, quarters_chart, weekly_chart

_CHARTS = {"km": km_chart, "weekly": weekly_chart, "forest": forest_chart, "quarters": quarters_chart}


@st.cache_data(max_entries=64, show_spinner=False)
def _chart_spec(kind: str, *data, **options) -> dict | None:
    """A chart's Vega-Lite specification, built once per data and options.

    Altair takes 0.05-0.1 s a chart to build a specification and check it against the Vega-Lite schema: four
    charts were most of a filter change's time.  The specifications are checked in tests
    (tests/test_overview_charts.py); here they are written without the check, their data inline (a few hundred
    rows at most).  No page draws with ``st.altair_chart``, which switches Altair's data transformer for the whole
    process while it converts a chart, so the default transformer used here is never switched under it.
    """
    chart = _CHARTS[kind](*data, **options)
    if chart is None:
        return None
    spec = chart.to_dict(validate=False)
    view = spec.get("config", {}).get("view", {})
    for key in ("continuousWidth", "continuousHeight"):  # Altair's default theme's fixed size; the page sets it
        view.pop(key, None)
    return spec


def draw_chart(kind: str, *data, key: str, **options) -> bool:
    """Draw one of the Overview's charts; False when there is nothing to draw."""
    spec = _chart_spec(kind, *data, **options)
    if spec is None:
        return False
    st.vega_lite_chart(spec, width="stretch", key=key)
    return True

view = page_setup("Outcome overview")
d = view.definitions
scale = view.scale  # the sidebar's outcome instrument: the outcome table, curves, quarters and published figures
s = summary_for(view)
figures = overview_figures(view, max(TRENDS_MAX_WEEK, d.week + 2))
act = figures["activity"]

chosen = [(col, values) for col, values in view.key[1][2] if values]
# a site, clinician or protocol filter makes this a stratum: not like for like with a whole-cohort figure
stratum = None if not chosen else (" and ".join(c for c, _ in chosen), "; ".join(", ".join(v) for _, v in chosen))

if not scale.is_phq9:
    st.info(f"Outcomes below are on the {scale.name} where the caption says so; the headline answer, "
            "re-inductions, outcomes by infusions and every SI figure stay on the PHQ-9 (their captions say so).",
            icon=":material/straighten:")
st.subheader("The headline answer", help=GLOSSARY["Spec version"])
cards = cards_for(view, stratum)
for column, card in zip(st.columns(len(cards)), cards):
    with column.container(border=True):
        r = card.recommended
        st.metric(card.title, percent(r.estimate),
                  help=GLOSSARY["Kaplan-Meier"] if r.mode == "cumulative" else ANALYSIS_MODE_LABELS[r.mode])
        st.markdown(f"**{card.sentence}**")
        st.caption(f"{card.why_recommended} n = {r.n} ({r.events} events); {r.label}; {r.method}. "
                   + ("" if card.published is None else "Published figure like for like: "
                      + ("yes. " if card.published_comparable else "no (why: under 'Other ways to count this'). "))
                   + view.caption(None))
        with st.expander("Other ways to count this"):
            for alt in card.alternatives:
                st.markdown(f"- **{alt.text}.** {alt.explanation}.")
            if card.published is not None and not card.published_comparable:
                st.caption("Why the published figure is not like for like: " + plain(card.published_reason) + ".")

completeness = figures["completeness"]
cols = st.columns(5)
cols[0].metric("Patients treated", act.patients_treated, help="Patients with a questionnaire in the period.")
cols[1].metric("New treatment starts", act.new_starts, help="Patients whose treatment started in the period.")
cols[2].metric("Questionnaires collected", act.questionnaires)
cols[3].metric(f"Measured at week {d.week}", percent(completeness.estimate),
               help=f"Of {completeness.n} eligible patients, {completeness.events} have a PHQ-9 in the "
                    f"week-{d.week} window (day {d.target_day} ± {d.window_days}); 95% CI "
                    f"{percent_interval(completeness.ci_low, completeness.ci_high)}. This is the share behind a "
                    "completers-only figure.")
cols[4].metric("Any follow-up", pct(act.completeness.estimate),
               help=f"Any follow-up: of {act.new_starts} new starts, {act.with_followup} have a baseline and at "
                    f"least one follow-up questionnaire (95% CI "
                    f"{ci(act.completeness.ci_low, act.completeness.ci_high)}).")

st.subheader(f"Outcomes at week {d.week} on the {scale.name}")
first, second = ("Response", "Remission") if scale.is_phq9 else scale.labels
m_first, m_second = scale.metrics
snapshot, km = f"week {d.week}, {d.analysis}", f"Kaplan-Meier, day {d.target_day}"
outcome_rows = [((m_first, "snapshot"), first, snapshot, s.response), ((m_second, "snapshot"), second, snapshot,
                                                                       s.remission)]
if scale.is_phq9:  # SI resolution is PHQ-9 item 9's
    outcome_rows.append((("si_resolution", "snapshot"), "SI resolution", snapshot, s.si_resolution))
outcome_rows += [((m_first, "cumulative"), f"{first} reached by week", km, s.cumulative_response),
                 ((m_second, "cumulative"), f"{second} reached by week", km, s.cumulative_remission)]
table = rate_rows([(name, how, r) for _, name, how, r in outcome_rows])
st.dataframe(table, hide_index=True, width="stretch")
st.caption(("" if scale.is_phq9 else scale.describe() + f" These replace the PHQ-9 rules below; baseline, endpoint "
            f"window and analysis are as below, on {scale.name} totals; eligible: "
            f"{scale.eligibility_text(d.min_baseline)}. ") + d.describe() + " " + view.filter_text)
for warning in s.warnings:
    st.warning(plain(warning), icon=":material/warning:")
download(table, "outcomes", "Download outcomes (CSV)")

left, right = st.columns(2)
with left:
    st.subheader(f"Reached by week {d.week}", help=GLOSSARY["Kaplan-Meier"])
    if not draw_chart("km", figures["curves"], names={m_first: first, m_second: second}, target_day=d.target_day,
                      palette=PALETTE, key="km"):
        st.info("No eligible patient in this cohort: there is no curve to draw.")
    in_text = (first.lower(), second.lower()) if scale.is_phq9 else (first, second)  # labels name the scale
    st.caption(view.caption(s.eligible, f"Eligible patients; first {in_text[0]} or {in_text[1]} at any "
                            "questionnaire up to the target day; censored at the last follow-up. Shaded: 95% log-log "
                            "band. ", scale=scale))
with right:
    st.subheader(f"Mean {scale.name} by week")
    weekly = figures["weekly"]
    draw_chart("weekly", weekly, scale_name=scale.name, total_max=scale.instrument.total_max, color=PALETTE[0],
               key="weekly")
    st.caption(f"{scale.name} totals. Each patient counts once a week (their mean); shaded: 95% t interval. "
               f"Complete questionnaires only. n per week in the hover. {view.filter_text}")

st.subheader("Against published figures", help=GLOSSARY["Like for like"] + " " + GLOSSARY["Percentage points (pp)"])
bench = s.benchmarks if not chosen else compare_with_benchmarks(
    {"response": s.response, "remission": s.remission, "si_resolution": s.si_resolution,
     "cumulative_response": s.cumulative_response, "cumulative_remission": s.cumulative_remission},
    definitions=d, stratum=stratum, instrument=view.instrument)
labels = list(table["Outcome"])
target = {key: name for key, name, _, _ in outcome_rows}
bench = bench.assign(row=[target[(m, e)] for m, e in zip(bench["metric"], bench["clinic_estimate"])],
                     who=[author_year(c, st_) for c, st_ in zip(bench["citation"], bench["study"])])
results = [r for *_, r in outcome_rows]
clinic_rates = pd.DataFrame({"outcome": labels, "estimate": [r.estimate for r in results],
                             "ci_low": [r.ci_low for r in results], "ci_high": [r.ci_high for r in results],
                             "n": [r.n for r in results], "events": [r.events for r in results]})
# the published figure's own uncertainty: +/- 1.96 SE (a floor where only its n is known; see the hover)
published = bench.assign(half_width=pd.to_numeric(bench["published_se"], errors="coerce").fillna(0) * 1.959964)
draw_chart("forest", clinic_rates, published, palette=PALETTE, key="forest")
st.caption("Open diamonds differ from this clinic's figure in instrument, definition, method, analysis, timepoint or "
           "population; the table says how. Bars on the diamonds: the published figure's own uncertainty (±1.96 "
           "standard errors, a floor where only its n is known). Item-9 SI figures are not C-SSRS or SSI figures. "
           + view.caption(scale=scale))
st.caption("A published figure is an estimate too: like-for-like tests include its own uncertainty. Figures that "
           "are not like for like get no test: the two estimates, the difference and the reason only.")
shown = pd.DataFrame({
    "Published figure": bench["who"], "Outcome": bench["row"],
    "Published timepoint": bench["id"].map(load_benchmarks().set_index("id")["timepoint"]),
    "Published": bench["rate"].map(percent),
    "Clinic": bench["clinic_rate"].map(percent),
    "Difference": bench["difference"].map(points),
    "95% CI of difference": [points_interval(lo, hi) for lo, hi in zip(bench["diff_ci_low"], bench["diff_ci_high"])],
    "p": bench["p_value"].map(p_value),
    "Like for like": bench["comparable"].map({True: "yes", False: "no"}), "In plain language": bench["plain_language"],
    "Published figure's uncertainty": bench["uncertainty_note"], "Test": bench["test"], "Citation": bench["citation"],
})
st.dataframe(shown.fillna("—"), hide_index=True, width="stretch", column_config={
    "Like for like": st.column_config.TextColumn("Like for like", help=GLOSSARY["Like for like"]),
    "Difference": st.column_config.TextColumn("Difference", help=GLOSSARY["Percentage points (pp)"])})
download(shown, "benchmarks", "Download comparison (CSV)")

st.subheader("By quarter of treatment start", help=GLOSSARY["Wilson interval"])
if figures["by_quarter"] is not None:
    by_q = figures["by_quarter"]
    draw_chart("quarters", by_q, palette=PALETTE, key="quarters")
    st.caption(view.caption(None, "Quarters with no patient in a denominator show no point (no data, not 0%). "
                            f"A quarter with {SMALL_CELL_MAX} patients or fewer in a denominator shows a hollow "
                            "marker labelled with its n, off the line: too few to read a change. ", scale=scale))
    quarter_table = by_q.drop(columns=["metric"]).rename(columns={"label": "metric"})
    show_table(quarter_table)
    download(quarter_table, "rates_by_quarter", "Download rates by quarter (CSV)")
else:
    st.info("These data have study days but no calendar dates, so there are no quarters to show.")

st.subheader("Re-inductions (second episodes)", help=GLOSSARY["Episode"])
re = reinductions_for(view)
if re.with_second.events == 0:
    st.info(f"None of the {re.patients} patients has a second treatment start date in these data, so there is no "
            "re-induction to show.")
else:
    cols = st.columns(3)
    cols[0].metric("Patients with a second episode", pct(re.with_second.estimate),
                   help=f"{re.with_second.events} of {re.with_second.n} patients (95% CI "
                        f"{ci(re.with_second.ci_low, re.with_second.ci_high)}).")
    cols[1].metric("Median time to the second episode", "not known" if re.median_days_to_second is None
                   else f"{re.median_days_to_second:.0f} days",
                   help=f"From the first start to the second, among {re.days_known} patients with dates.")
    cols[2].metric("Response: second vs first episodes",
                   f"{pct(re.second_response.estimate)} vs {pct(re.first_response.estimate)}",
                   help=f"Second episodes n = {re.second_response.n}; first episodes n = {re.first_response.n}.")
    st.dataframe(rate_rows([("Response, first episodes", f"week {d.week}, {d.analysis}", re.first_response),
                            ("Response, second episodes", f"week {d.week}, {d.analysis}", re.second_response),
                            ("Patients with a second episode", "share of patients", re.with_second)]),
                 hide_index=True, width="stretch")
    st.caption("Every episode is computed within itself (study days from its own start). A patient's first and "
               "second episodes are not independent samples: read the difference as descriptive. "
               + view.caption(None))

by_infusions = figures["by_infusions"]
if len(by_infusions):
    st.subheader("By number of infusions received")
    shown_inf = pd.DataFrame({
        "Outcome": by_infusions["label"],
        "After": by_infusions["after_infusions"].map(lambda k: f"{k} infusions"),
        "n": by_infusions["n"], "Events": by_infusions["events"], "Clinic": by_infusions["rate"].map(pct),
        "95% CI": [ci(lo, hi) for lo, hi in zip(by_infusions["ci_low"], by_infusions["ci_high"])],
        "Oliver 2022": by_infusions["published_text"], "Like for like": "no", "Why": by_infusions["reason"],
    })
    st.dataframe(shown_inf.fillna("—"), hide_index=True, width="stretch")
    st.caption(INFUSION_CONVENTION + " Response and remission among eligible episodes; SI among episodes with "
               "item 9 >= 1 at baseline. " + view.caption(None))
    for w in by_infusions["warning"].dropna():
        st.warning(w, icon=":material/warning:")
    download(shown_inf, "by_infusions", "Download outcomes by infusions (CSV)")

footer()

