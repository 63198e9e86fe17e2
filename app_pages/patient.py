"""Patient: one pseudonymous patient's episodes on one time axis, and each episode's outcome."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from analytics import patient_outcomes
from analytics.definitions import BASELINE_WINDOW_DAYS, EPISODE_UNKNOWN_GAP_DAYS
from analytics.episodes import episode_axis_offsets
from analytics.instruments import GAD7, PHQ9
from app_pages.access import require_director
from app_pages.common import (
    PALETTE,
    download,
    footer,
    page_setup,
    patient_order,
    patient_questionnaires,
    plain,
    show_table,
)
from app_pages.patient_chart import answers_figure, course_figure
from app_pages.session_data import patient_sessions_section


#: patients offered in the list at once: a registry's 100,000 pseudonyms would be sent to the browser on every run
PATIENT_CHOICES_SHOWN = 1000


def patient_choices(order: list[str]) -> list[str]:
    """The patients the list offers: those matching the search box (all when it is empty), fullest courses first,
    at most :data:`PATIENT_CHOICES_SHOWN` of them; the patient already chosen stays in the list while it matches."""
    search = st.text_input("Find a patient", key="patient_search", placeholder="Type part of a pseudonym",
                           help=f"{len(order):,} patients in this cohort. An exact pseudonym opens that patient.")
    text = search.strip().lower()
    if not text:
        matches = order
    else:
        exact = [p for p in order if p.lower() == text]
        if exact:  # an exact pseudonym opens that patient at once
            st.session_state["patient"] = exact[0]
        matches = exact + [p for p in order if text in p.lower() and p not in exact]
        if not matches:
            st.warning(f"No patient in this cohort matches {plain(search)}: showing every patient.")
            matches = order
    shown = matches[:PATIENT_CHOICES_SHOWN]
    chosen = st.session_state.get("patient")
    if chosen is not None and chosen not in shown:
        if chosen in matches or (not text and chosen in order):
            shown = [chosen, *shown[:-1]] if len(shown) >= PATIENT_CHOICES_SHOWN else [chosen, *shown]
        else:
            st.session_state.pop("patient")  # another search: its first match is shown
    if len(matches) > len(shown):
        st.caption(f"Showing {len(shown):,} of {len(matches):,} matching patients; type more of a pseudonym to "
                   "narrow the list.")
    return shown


def course_outcome(row) -> str:
    """One episode's outcome in words."""
    return ("no baseline" if pd.isna(row["baseline_total"]) else "not eligible" if not row["eligible"]
            else "no endpoint" if pd.isna(row["response"]) else "remission" if row["remission"]
            else "response" if row["response"] else "no response")


require_director("patient")
view = page_setup("Patient course")
d = view.definitions
order = patient_order(view)  # fullest courses first (computed once per cohort and definitions)
# a link from the Safety worklist (patient?patient=ID) chooses the patient once; the choice is the user's after
linked = st.query_params.pop("patient", None)
if linked is not None:
    match = [p for p in order if str(p) == linked]
    if match:
        st.session_state["patient"] = match[0]
        st.session_state["patient_search"] = ""  # the linked patient, whatever was searched before
    else:
        st.warning(f"Patient {plain(linked)} is not in this cohort: clear the sidebar's filters to see them.")
pid = st.selectbox("Patient (pseudonym)", patient_choices(order), key="patient",
                   help="Pseudonyms only: the tool holds no names or other direct identifiers. "
                        f"The list shows the first {PATIENT_CHOICES_SHOWN:,} of the search's matches, fullest "
                        "courses first; type more of a pseudonym above to find any other.")
q = patient_questionnaires(view.frame, pid)  # this patient's rows only: nothing of the registry is recomputed
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

fig = course_figure(q, courses, target_label=f"week {d.week}", window=d.window, palette=PALETTE)
st.plotly_chart(fig, width="stretch", key="course")
axis_note = "" if len(courses) == 1 or gaps_known else (
    " The data give no calendar dates, so the time between episodes is not known: episodes are drawn one after "
    f"the other, {EPISODE_UNKNOWN_GAP_DAYS} days apart.")
st.caption(f"{len(complete)} scored questionnaire(s) of {len(q)} in {len(courses)} episode(s). Vertical lines: "
           f"episode starts; blue: baseline windows (days {BASELINE_WINDOW_DAYS[0]} to {BASELINE_WINDOW_DAYS[1]}); "
           "orange: endpoint windows. Bands: PHQ-9 "
           "severity (Kroenke 2001)." + axis_note + " " + view.caption(None, "Outcome "))

patient_sessions_section(view, pid, q, courses)  # dose, blood pressure, dissociation on the same axis

if len(courses) > 1:
    st.subheader("Episodes")
    episodes_table = pd.DataFrame({
        "Episode": courses["episode"],
        # text (one type in the column: the table is sent as Arrow), "not known" where no date says it
        "Days since previous start": courses["days_since_previous_episode"].astype("string").where(
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
    heat = answers_figure(q)
    if heat is not None:
        st.plotly_chart(heat, width="stretch", key="heatmap")
        st.caption("Blank cells: item not answered (that questionnaire is incomplete and left out of outcomes).")
shown_cols = [c for c in ["episode", "day", "assessment_date", "infusion_number", *PHQ9.items, "phq9_total", "complete",
                          GAD7.total] if c in q]
table = q[shown_cols].reset_index(drop=True)
show_table(table)
download(table, f"patient_{pid}", "Download this patient's questionnaires (CSV)")
footer()
