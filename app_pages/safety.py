"""Safety: patients whose latest PHQ-9 item 9 needs a look, and how often SI appears or worsens."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import compare_with_benchmarks
from analytics.published import format_p_value
from analytics.safety import si_change_rates, si_review
from analytics.wording import points
from app_pages.access import require_director
from app_pages.common import ci, download, footer, page_setup, pct, show_table

require_director("safety")
view = page_setup("Suicidal-ideation review")
st.warning("A review aid, not an alerting service: it shows what the last data import holds, which may be days "
           "old. Item 9 of the PHQ-9 is a screening item and over-flags compared with a structured assessment "
           "such as the C-SSRS. Follow your clinic's safety protocol for any patient at risk.",
           icon=":material/health_and_safety:")

flagged = si_review(view.frame, view.patients)
rates = si_change_rates(view.patients)
c = st.columns(3)
c[0].metric("Item 9 ≥ 1 on latest questionnaire", int((flagged["item9_latest"] >= 1).sum()))
c[1].metric("New or higher than before", int((flagged["reason"] != "item 9 >= 1 on the latest questionnaire").sum()))
c[2].metric("Patients reviewed", len(view.patients))

st.subheader("Patients to review")
if flagged.empty:
    st.success("No patient's latest complete questionnaire has item 9 ≥ 1, and none is higher than before.")
else:
    show_table(flagged.rename(columns={"reason": "Why listed", "last_day": "Study day"}))
    st.caption("Sorted by the latest item-9 score (3 = nearly every day), then by the most recent questionnaire. "
               + view.filter_text)
    download(flagged, "si_review", "Download the review list (CSV)")

st.subheader("New and worsened SI at the endpoint")
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
footer()
