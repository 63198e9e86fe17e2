"""Quality-measure style outcomes, worked by hand on a small clinic (dates, diagnoses, age bands, deaths)."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics import load_questionnaires, patient_outcomes, quality_measures
from conftest import items_for

ROWS = [  # patient, date, PHQ-9 total, diagnosis, age band, deceased
    # p1: index 2024-01-10 (15).  12-month window = days 305-425 after it.  In the window: day 326 (6), day 376 (3),
    # day 416 (7).  The most recent (7) decides: not met.  (The one closest to day 365, 3, would say remission.)
    ("p1", "2024-01-10", 15, "MDD", "35-44", "no"), ("p1", "2024-12-01", 6, "MDD", "35-44", "no"),
    ("p1", "2025-01-20", 3, "MDD", "35-44", "no"), ("p1", "2025-03-01", 7, "MDD", "35-44", "no"),
    # p2: index 2024-02-01 (12); DRR-E days 120-240: day 151 (5), day 196 (4, latest); 12 months: day 375 (4): met
    ("p2", "2024-02-01", 12, "TRD", "18-24", "no"), ("p2", "2024-07-01", 5, "TRD", "18-24", "no"),
    ("p2", "2024-08-15", 4, "TRD", "18-24", "no"), ("p2", "2025-02-10", 4, "TRD", "18-24", "no"),
    # p3: bipolar disorder: excluded from every denominator
    ("p3", "2024-01-15", 18, "Bipolar depression", "25-34", "no"), ("p3", "2025-01-15", 2, "Bipolar depression",
                                                                      "25-34", "no"),
    # p4: first PHQ-9 8 is not an index; index 2024-03-20 (14); day 370: 9, not met; age 12-17
    ("p4", "2024-03-01", 8, "MDD", "12-17", "no"), ("p4", "2024-03-20", 14, "MDD", "12-17", "no"),
    ("p4", "2025-03-25", 9, "MDD", "12-17", "no"),
    # p5: died: excluded
    ("p5", "2024-01-05", 20, "MDD", "45-54", "yes"), ("p5", "2024-02-05", 20, "MDD", "45-54", "yes"),
    # p6: no depression diagnosis: not in any measure
    ("p6", "2024-01-05", 20, "PTSD", "45-54", "no"), ("p6", "2025-01-05", 20, "PTSD", "45-54", "no"),
    # p7: index 2024-01-20 (16); day 133: 8 (a fall of exactly 50%: response, not remission); nothing at 12 months
    ("p7", "2024-01-20", 16, "MDD", "55-64", "no"), ("p7", "2024-06-01", 8, "MDD", "55-64", "no"),
    # p8: index in 2023: its windows close before 2024-07
    ("p8", "2023-01-01", 16, "MDD", "55-64", "no"), ("p8", "2023-03-01", 16, "MDD", "55-64", "no"),
    # p9: index 2024-11-01 (14): its 12-month window closes on 2025-12-31, the period's last day; no PHQ-9 in it.
    # In care January-April 2025 (first 2024-11-01, last 2025-06-15) without a PHQ-9 in that period
    ("p9", "2024-11-01", 14, "MDD", "25-34", "no"), ("p9", "2025-06-15", 10, "MDD", "25-34", "no"),
]


@pytest.fixture(scope="module")
def clinic():
    raw = pd.DataFrame([{"patient_id": p, "assessment_date": d,
                         **{f"phq9_{i + 1}": v for i, v in enumerate(items_for(t, 0))},
                         "diagnosis": dx, "age_band": age, "deceased": dead} for p, d, t, dx, age, dead in ROWS])
    frame = load_questionnaires(raw)
    return frame, patient_outcomes(frame)


def by_name(measures):
    return {m.name.split(" (")[0]: m for m in measures}


def test_remission_at_12_months_takes_the_most_recent_phq9(clinic):
    frame, patients = clinic
    m = by_name(quality_measures(frame, patients, period_start="2025-01-01", period_end="2025-12-31"))
    rem = m["Remission at 12 months"]
    # denominator p1 p2 p4 p7 p9 (p3 bipolar, p5 died, p6 no depression, p8 closed in 2024); met: p2 only
    assert (rem.result.events, rem.result.n) == (1, 5)
    listing = rem.patients.set_index("patient_id")
    assert set(listing.index) == {"p1", "p2", "p3", "p4", "p5", "p7", "p9"}
    assert listing.loc["p1", "measured_score"] == 7 and listing.loc["p1", "met"] == False  # noqa: E712
    assert listing.loc["p1", "measured_date"] == pd.Timestamp("2025-03-01")
    assert listing.loc["p4", "index_date"] == pd.Timestamp("2024-03-20")
    assert listing.loc["p3", "excluded"] == "bipolar disorder" and not listing.loc["p3", "in_denominator"]
    assert listing.loc["p5", "excluded"] == "death"
    assert pd.isna(listing.loc["p9", "measured_score"]) and listing.loc["p9", "met"] == False  # noqa: E712
    strata = rem.strata.set_index("stratum")
    assert (strata.loc["18+", "events"], strata.loc["18+", "n"]) == (1, 4)
    assert (strata.loc["12-17", "events"], strata.loc["12-17", "n"]) == (0, 1)
    assert "death" in rem.exclusions_checked and "bipolar disorder" in rem.exclusions_checked
    assert set(rem.exclusions_unchecked) == {"hospice care", "palliative care", "long-term nursing-home residence"}
    assert "Not checked" in rem.definition and "hospice care" in rem.definition
    assert rem.label == "measure-style, not certified" and "CMS159v12" in rem.specification


def test_a_narrower_window_changes_which_phq9_counts(clinic):
    frame, patients = clinic
    rem = by_name(quality_measures(frame, patients, period_start="2025-01-01", period_end="2025-12-31",
                                   window_days=30))["Remission at 12 months"]
    # +/- 30 days: p1's window (days 335-395) closes 2025-02-09 and holds only day 376 (3): met.  p2 (day 375, 4):
    # met.  p4 (day 370, 9): not.  p9's window closes 2025-12-01: in, not met.  p7 closes 2025-02-18: in, not met.
    assert (rem.result.events, rem.result.n) == (2, 5)


def test_drr_response_and_remission_at_4_to_8_months(clinic):
    frame, patients = clinic
    m = by_name(quality_measures(frame, patients, period_start="2024-07-01", period_end="2024-12-31"))
    # windows (index + 240 days) closing in the period: p1, p2, p4, p7.  p2's latest in 120-240 is 4 (from 12):
    # response and remission; p7's 8 from 16 is a 50% fall: response; p1 and p4 have nothing in the window
    assert (m["Response at 4-8 months"].result.events, m["Response at 4-8 months"].result.n) == (2, 4)
    assert (m["Remission at 4-8 months"].result.events, m["Remission at 4-8 months"].result.n) == (1, 4)


def test_phq9_utilisation_by_four_month_period(clinic):
    frame, patients = clinic
    util = [m for m in quality_measures(frame, patients, period_start="2025-01-01", period_end="2025-12-31")
            if m.name.startswith("PHQ-9 utilisation")]
    assert [m.name.split(", ")[1].split(" (")[0] for m in util] == ["Jan - Apr 2025", "May - Aug 2025",
                                                                     "Sep - Dec 2025"]
    jan, may, sep = (m.result for m in util)
    # January-April: in care p1 p2 p4 p9 (p3 excluded); p9 has no PHQ-9 in it
    assert (jan.events, jan.n) == (3, 4)
    assert (may.events, may.n) == (1, 1)  # p9 (2025-06-15)
    assert sep.n == 0 and sep.estimate is None  # nobody in care: no data, never 0%
    listing = util[0].patients.set_index("patient_id")
    assert listing.loc["p9", "met"] == False and listing.loc["p3", "excluded"] == "bipolar disorder"  # noqa: E712


def test_without_diagnoses_every_diagnosis_exclusion_is_unchecked(clinic):
    frame, patients = clinic
    bare = frame.drop(columns=["diagnosis", "deceased", "age_band"])
    rem = by_name(quality_measures(bare, patients, period_start="2025-01-01", period_end="2025-12-31"))[
        "Remission at 12 months"]
    assert rem.exclusions_checked == () and "bipolar disorder" in rem.exclusions_unchecked
    # p3 (bipolar), p5 (died) and p6 (no diagnosis) now count: denominator p1 p2 p3 p4 p5 p6 p7 p9
    assert rem.result.n == 8 and rem.strata.empty


def test_quarterly_export_carries_strata_and_suppresses_them_together():
    from analytics.quarterly import quarterly_export
    from conftest import SAMPLE

    sample = load_questionnaires(SAMPLE)
    quarter = "2025Q2"
    raw = quarterly_export(sample, quarter=quarter, suppression=False).quality
    assert {"all ages", "18+"} <= set(raw["stratum"])  # the sample's age bands are all adult
    for name, part in raw.groupby("measure"):
        strata = part[part["stratum"] != "all ages"]
        if len(strata):
            assert strata["n"].sum() == part.loc[part["stratum"] == "all ages", "n"].iloc[0]
    safe = quarterly_export(sample, quarter=quarter).quality
    for _, part in safe.groupby("measure"):
        hidden = part["n"].astype(str).eq("<11")
        assert hidden.sum() != 1 or len(part) == 1  # one hidden cell alone could be recovered by subtraction


def test_index_is_a_total_above_nine_and_remission_below_five():
    # "PHQ-9 > 9": a first total of 10 is an index, a first total of 9 is not (and a later 9 is not either).
    # pa: index 2024-01-10 (10); 2025-01-09 is day 365 with 3: remission at 12 months.  pb: 9 then 3: no index.
    # pc: index 12, then exactly 5 on day 365: not remission (PHQ-9 < 5).
    rows = [("pa", "2024-01-10", 10), ("pa", "2025-01-09", 3), ("pb", "2024-01-10", 9), ("pb", "2025-01-09", 3),
            ("pc", "2024-01-10", 12), ("pc", "2025-01-09", 5)]
    raw = pd.DataFrame([{"patient_id": p, "assessment_date": d, **{f"phq9_{i + 1}": v for i, v in
                                                                     enumerate(items_for(t, 0))},
                         "diagnosis": "MDD", "age_band": "35-44", "deceased": "no"} for p, d, t in rows])
    frame = load_questionnaires(raw)
    m = by_name(quality_measures(frame, patient_outcomes(frame), period_start="2025-01-01", period_end="2025-12-31"))
    rem = m["Remission at 12 months"]
    assert (rem.result.events, rem.result.n) == (1, 2)
    listing = rem.patients.set_index("patient_id")
    assert set(listing.index) == {"pa", "pc"}
    assert listing.loc["pc", "measured_score"] == 5 and listing.loc["pc", "met"] == False  # noqa: E712
