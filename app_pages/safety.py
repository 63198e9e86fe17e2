"""Safety: the suicidal-ideation worklist (who to look at, and who was reviewed), and how often SI appears or worsens."""
from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import streamlit as st

from analytics import AnalyticsError, compare_with_benchmarks
from analytics.published import format_p_value
from analytics.definitions import (
    BASELINE_WINDOW_DAYS,
    LOST_TO_FOLLOW_UP_DAYS,
    LOST_TO_FOLLOW_UP_MAX_DAYS,
    REVIEW_NOTE_MAX_CHARS,
)
from analytics.reviews import REVIEW_COLUMNS, list_reviews, mark_reviewed
from analytics.safety import SI_MEASURES, apply_reviews, safety_counts, si_change_rates
from analytics.store import default_db_path
from analytics.wording import points
from app_pages.access import may_mark_reviews, require_director
from app_pages.common import (
    ci,
    download,
    footer,
    page_setup,
    pct,
    plain,
    show_table,
    si_measures_for,
    signed_in_user,
    worklist_for,
)

require_director("safety")
view = page_setup("Suicidal-ideation review")
st.warning("A review aid, not an alerting service: nobody is notified, and it shows only what the last data import "
           "holds, which may be days old. Item 9 of the PHQ-9 is a screening item and over-flags compared with a "
           "structured assessment such as the C-SSRS. Follow your clinic's safety protocol for any patient at risk.",
           icon=":material/health_and_safety:")

db = default_db_path()
# reviews belong to one data source: a review made on a sample or test file never marks a patient of the store
data_source = "store" if view.kind == "store" else f"sha256:{view.report.sha256}"


def _mark(patient: str, through: dict, following: str | None) -> None:
    """Button callback: runs before the page is drawn again, so the worklist below shows the new review."""
    if not may_mark_reviews():  # the page is director-only already; a second lock on the one write it makes
        st.session_state["review_message"] = ("error", "Only a clinic director can mark a patient reviewed.")
        return
    try:
        mark_reviewed(patient, note=st.session_state.get("review_note", ""), data_source=data_source, db=db,
                      user=signed_in_user(), **through)
    except AnalyticsError as exc:
        st.session_state["review_message"] = ("error", str(exc))
        return
    st.session_state["review_message"] = ("success", f"Patient {patient} marked reviewed.")
    st.session_state["review_note"] = ""
    if following is not None:  # on to the next patient still to review
        st.session_state["review_patient"] = following


lost_after = st.number_input("Lost to follow-up after (days without contact)", min_value=1,
                             max_value=LOST_TO_FOLLOW_UP_MAX_DAYS, value=LOST_TO_FOLLOW_UP_DAYS, step=1,
                             key="lost_after", help="A patient whose last questionnaire showed SI is called lost to "
                             "follow-up when more than this many days have passed without a newer questionnaire.")
worklist, as_of = worklist_for(view, int(lost_after))
try:
    reviews = list_reviews(db, data_source=data_source)
except AnalyticsError as exc:
    st.error(f"Reviews could not be read from the store: {plain(exc)}")
    reviews = pd.DataFrame(columns=REVIEW_COLUMNS)  # nothing is shown as reviewed
work = apply_reviews(worklist, reviews)
counts = safety_counts(work)

c = st.columns(4)
c[0].metric("To review", counts.to_review, help=f"{counts.listed} patients listed, {counts.reviewed} reviewed since "
            "their last questionnaire.")
c[1].metric("SI at last contact", counts.si_at_last,
            help="SI at the last questionnaire and no contact since: "
                 f"{counts.lost_to_follow_up} of them lost to follow-up (more than {int(lost_after)} days).")
c[2].metric("New SI during treatment", counts.new_si, help="Item 9 was 0 at the episode's baseline and 1 or more "
            "on a later questionnaire.")
c[3].metric("Item 9 rose during treatment", counts.rise, help=f"{counts.rise_resolved} of them back to 0 at the "
            "last questionnaire (still listed: a spike that resolved is reviewed too).")

message = st.session_state.pop("review_message", None)
if message:
    (st.success if message[0] == "success" else st.error)(plain(message[1]))

st.subheader("Worklist")
if work.empty:
    st.success("No patient in this cohort had a rise in item 9 during treatment, new SI, or SI at their last "
               "questionnaire.")
else:
    hide = st.toggle("Hide patients reviewed since their last questionnaire", value=True, key="hide_reviewed")
    shown = work[~work["reviewed"]] if hide else work
    as_of_text = "no dates in the data" if pd.isna(as_of) else f"{as_of:%Y-%m-%d}"
    table = pd.DataFrame({
        "Patient": shown["patient_id"].astype("str"),
        "Patient page": ["patient?patient=" + quote(str(p), safe="") for p in shown["patient_id"]],
        "Why listed": shown["reason"],
        "Days since last contact": shown["days_since_contact"],
        "Lost to follow-up": shown["lost_to_follow_up"].astype("object").where(shown["si_at_last"], None),
        "Item 9 (baseline)": shown["item9_baseline"],
        "Item 9 (highest in treatment)": shown["peak_item9"],
        "Item 9 (latest)": shown["item9_latest"],
        "First rise (episode, day)": [f"episode {e}, day {d}" if pd.notna(d) else None
                                      for e, d in zip(shown["first_rise_episode"], shown["first_rise_day"])],
        "Last questionnaire": [f"{d:%Y-%m-%d}" if pd.notna(d) else f"episode {e}, day {x}" for d, e, x in
                               zip(shown["last_date"], shown["last_episode"], shown["last_day"])],
        "Reviewed": shown["reviewed"].map({True: "yes", False: "no"}).where(~shown["review_outdated"],
                                                                           "newer questionnaire since"),
        "Review note": shown["review_note"],
        "Reviewed by": shown["reviewed_by"],
        "Reviewed at": shown["reviewed_at"],
    })
    if table.empty:
        st.success(f"Every listed patient ({counts.listed}) has been reviewed since their last questionnaire.")
    else:
        show_table(table, column_config={"Patient page": st.column_config.LinkColumn(
            "Patient page", display_text="open", help="The patient's course on the Patient page (new tab).")})
    st.caption(f"{counts.listed} patients listed, {counts.reviewed} reviewed. Every episode of each patient in the "
               f"cohort counts, whatever the episode selection. Days since last contact count to {as_of_text}, the "
               "latest questionnaire date in this data source (not today). A rise: item 9 higher than at the "
               "previous questionnaire of the same episode, on study day 1 or later. A review covers a patient "
               "until a newer questionnaire arrives. " + view.filter_text)
    download(work.drop(columns=["review_note"]), "safety_worklist", "Download the worklist (CSV)")

    st.subheader("Mark a patient reviewed")
    if not may_mark_reviews():
        st.info("Only a clinic director can mark a patient reviewed.")
    else:
        pending = list(work.loc[~work["reviewed"], "patient_id"].astype("str")) + \
            list(work.loc[work["reviewed"], "patient_id"].astype("str"))
        left, right = st.columns([1, 2])
        patient = left.selectbox("Patient", pending, key="review_patient",
                                 help="Patients not yet reviewed since their last questionnaire come first.")
        row = work.set_index(work["patient_id"].astype("str")).loc[patient]
        left.caption(plain(row["reason"]))
        if left.button("Open their Patient page", key="open_patient"):
            st.switch_page("app_pages/patient.py", query_params={"patient": patient})
        right.text_area("Note", key="review_note", max_chars=REVIEW_NOTE_MAX_CHARS,
                        placeholder="What was checked or done, e.g. 'called, safety plan reviewed, seen Friday'",
                        help="Kept in the clinic store with your name and the time. No names or other identifying "
                             "details: the clinical record belongs in the clinic's record system.")
        through = {"through_date": row["last_date"], "through_episode": row["last_episode"],
                   "through_day": row["last_day"]}
        still = [p for p in pending[:counts.to_review] if p != patient]
        right.button("Mark reviewed", type="primary", key="mark_reviewed", on_click=_mark,
                     args=(patient, through, still[0] if still else None))
        st.caption("The review covers this patient's questionnaires up to their last one; it is on the audit trail "
                   "(Data page) and clears when a newer questionnaire arrives.")

st.subheader("New and worsened SI at the endpoint")
rates = si_change_rates(view.patients)
table = pd.DataFrame([
    {"Measure": "SI worsened (endpoint item 9 above baseline)", "n": r.n, "Events": r.events,
     "Rate": pct(r.estimate), "95% CI": ci(r.ci_low, r.ci_high)} for r in [rates["si_worsened"]]] + [
    {"Measure": "New SI (item 9 = 0 at baseline, ≥ 1 at endpoint)", "n": rates["si_new"].n,
     "Events": rates["si_new"].events, "Rate": pct(rates["si_new"].estimate),
     "95% CI": ci(rates["si_new"].ci_low, rates["si_new"].ci_high)}])
show_table(table)
bench = compare_with_benchmarks({"si_worsened": rates["si_worsened"]}, definitions=view.definitions,
                                metrics=("si_worsened",))
for row in bench.itertuples():
    st.caption(f"Published: SI increased in {row.rate:.1%} (McInnes 2022, 178 US community practices). "
               f"Here: {pct(row.clinic_rate)}" + ("" if pd.isna(row.difference) else
                                                 f", difference {points(row.difference)} (percentage points)" +
                                                 ("" if pd.isna(row.p_value) else f", {format_p_value(row.p_value)}")) +
               f". {'Like for like' if row.comparable else 'Not like for like'}: {row.reason}.")
st.caption(view.caption(rates["si_worsened"].n, "Among patients with a baseline and a window endpoint. "))
download(table, "si_change", "Download (CSV)")

st.subheader("SI at baseline and SI resolution, by measure")
measures = si_measures_for(view)
has_cssrs = (measures["measure"] == SI_MEASURES["cssrs"][0]).any()
if has_cssrs:
    st.info("PHQ-9 item 9 and the C-SSRS screener are different measures and are not interchangeable: item 9 "
            "over-flags compared with the C-SSRS (in one published comparison 41% of patients screened positive on "
            "item 9 and 13% on the C-SSRS). Each figure below is on one measure only; they are never pooled, and a "
            "resolution rate on one is not comparable with a published rate on the other.",
            icon=":material/compare_arrows:")
show_table(pd.DataFrame({
    "Measure": measures["measure"], "Figure": measures["statistic"], "n": measures["n"], "Events": measures["events"],
    "Rate": [pct(v) for v in measures["estimate"]],
    "95% CI": [ci(lo, hi) for lo, hi in zip(measures["ci_low"], measures["ci_high"])],
}))
rules = " ".join(f"{name}: SI is {rule}." for name, rule in SI_MEASURES.values()
                 if has_cssrs or name == SI_MEASURES["phq9_item9"][0])
st.caption(view.caption(None, f"{rules} SI at baseline: among episodes with that measure on study days "
                              f"{BASELINE_WINDOW_DAYS[0]} to {BASELINE_WINDOW_DAYS[1]} (the latest one). SI "
                              "resolution: among episodes with SI on that measure at baseline, at the endpoint "
                              "(the same window and analysis mode for both measures). 'Episodes with both "
                              "measures': the same patients on each. Wilson 95% intervals; no data at n = 0. "))
if not has_cssrs:
    st.caption("No C-SSRS screener in these data: SI is shown on PHQ-9 item 9 only. Screener answers in the "
               "questionnaire file (cssrs_1 ... cssrs_6, cssrs_6_recent) add the C-SSRS figures here.")
download(measures, "si_by_measure", "Download SI by measure (CSV)")
footer()
