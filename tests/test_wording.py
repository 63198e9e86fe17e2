"""Plain-language formatting: hand-worked values at every boundary."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.wording import (
    GLOSSARY,
    cohort_sentence,
    p_value,
    percent,
    percent_interval,
    points,
    points_interval,
    readable_header,
    readable_table,
)


@pytest.mark.parametrize("p, text", [
    (0.0, "p < 0.001"), (0.0005, "p < 0.001"), (0.000999, "p < 0.001"), (0.001, "p = 0.001"),
    (0.0034, "p = 0.003"), (0.0099, "p = 0.010"), (0.01, "p = 0.01"), (0.04, "p = 0.04"), (0.0449, "p = 0.04"),
    # just below 0.05 never prints as "p = 0.05"
    (0.0495, "p = 0.0495"), (0.0499, "p = 0.0499"), (0.05, "p = 0.05"), (0.0504, "p = 0.05"), (0.051, "p = 0.05"),
    (0.12345, "p = 0.12"), (0.99, "p = 0.99"), (0.995, "p > 0.99"), (1.0, "p > 0.99"),
    (None, ""), (float("nan"), ""), (pd.NA, ""),
])
def test_p_value(p, text):
    assert p_value(p) == text


@pytest.mark.parametrize("value, text", [
    (0.1875, "18.8%"), (0.0, "0.0%"), (1.0, "100.0%"), (0.19758, "19.8%"), (0.0005, "0.1%"), (0.00049, "0.0%"),
    (None, "no data"), (float("nan"), "no data"), (pd.NA, "no data"), (np.float64(0.5), "50.0%"),
])
def test_percent(value, text):
    assert percent(value) == text


def test_percent_interval_and_points():
    assert percent_interval(0.15688, 0.24720) == "15.7–24.7%"
    assert percent_interval(None, 0.3) == "undefined"
    assert points(0.031) == "+3.1 pp" and points(-0.0249) == "-2.5 pp" and points(0.0) == "+0.0 pp"
    assert points(-0.0004) == "+0.0 pp"  # rounds to zero: no "-0.0 pp"
    assert points(None) == "" and points(float("nan")) == ""
    assert points_interval(-0.02, 0.055) == "-2.0 to +5.5 pp"
    assert points_interval(None, 0.1) == ""


@pytest.mark.parametrize("name, header", [
    ("start_quarter", "Quarter of treatment start"), ("diff_ci_low", "Difference, 95% CI low"),
    ("C(group)[T.Westlake]", "Group: Westlake (vs reference)"), ("C(site)[T.North]", "Site: North (vs reference)"),
    ("ci_high", "95% CI high"), ("some_new_column", "Some new column"), ("patient_id", "Patient"),
    ("p_holm", "p (Holm-adjusted)"), ("or_ci_low", "Odds ratio, 95% CI low"),
    ("Already readable", "Already readable"), ("n", "n"), ("events", "Events"),
])
def test_readable_header(name, header):
    assert readable_header(name) == header


def test_readable_table_has_no_code_cells():
    frame = pd.DataFrame({
        "group": ["A", None], "rate": [0.1875, np.nan], "ci_low": [0.1, None], "ci_high": [0.3, None],
        "n": [16, 0], "comparable": [True, False], "flag": pd.array([True, pd.NA], dtype="boolean"),
        "diff_ci_low": [-0.02, np.nan], "p_value": [0.0005, np.nan], "estimate": [1.5, np.nan],
    })
    out = readable_table(frame)
    assert list(out.columns) == ["Group", "Rate", "95% CI low", "95% CI high", "n", "Like for like", "Flag",
                                 "Difference, 95% CI low", "p", "Estimate"]
    assert list(out["Rate"]) == ["18.8%", "no data"] and list(out["Like for like"]) == ["yes", "no"]
    assert list(out["Flag"]) == ["yes", "—"] and list(out["Group"]) == ["A", "—"]
    assert list(out["Difference, 95% CI low"]) == ["-2.0 pp", ""] and list(out["p"]) == ["p < 0.001", ""]
    assert list(out["Estimate"]) == ["1.5", "—"] and out["n"].tolist() == [16, 0]
    text = out.astype(str).to_numpy().ravel()
    assert not {"None", "nan", "NaN", "<NA>", "True", "False"} & set(text)


def test_cohort_sentence():
    assert cohort_sentence({}) == "All patients."
    assert cohort_sentence({"site": ["North", "South", "East"], "start_from": "2025-01-01",
                            "start_to": "2025-03-31"}) == (
        "Patients whose treatment started between 2025-01-01 and 2025-03-31 and with site North, South or East.")
    assert cohort_sentence({"protocol": ["standard"], "clinician": []}) == "Patients with protocol standard."
    assert "{" not in cohort_sentence({"site": ["North"]})


def test_glossary_covers_the_terms_in_one_sentence_each():
    for term in ("Kaplan-Meier", "Wilson interval", "Newcombe interval", "Completers only", "Intention to treat (ITT)",
                 "Last observation carried forward (LOCF)", "Study day", "Episode", "Spec version", "Like for like",
                 "Percentage points (pp)", "Suppression"):
        text = GLOSSARY[term]
        assert text.endswith(".") and text.count(". ") == 0, term


def test_items_dates_and_outcome_headers():
    assert readable_header("phq9_9") == "PHQ-9 item 9" and readable_header("gad7_3") == "GAD-7 item 3"
    assert readable_header("si_resolution") == "SI resolution"
    out = readable_table(pd.DataFrame({"assessment_date": pd.to_datetime(["2025-01-02", None])}))
    assert list(out["Date"]) == ["2025-01-02", "—"]
