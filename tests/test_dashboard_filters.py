"""A filtered Overview shows exactly what the unfiltered dashboard shows on a file holding only that cohort.

The dashboard answers a filter change from the whole source's per-patient tables (a boolean array over patients
selects rows; nothing is recomputed from questionnaires).  These tests pin every figure of the filtered Overview
against a second, independent path: the cohort's own rows written to a file and shown with no filter, where every
table is computed afresh from those questionnaires.  Only what names the filter may differ (the cohort caption,
the data banner) and, for a site, clinician or protocol, the published comparison (a stratum is not like for like
with a whole-cohort published figure, so it is tested apart).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import load_questionnaires
from analytics.cohorts import cohort_mask, patient_index, quarter_bounds, select_patients
from conftest import ROOT, SAMPLE

pytestmark = pytest.mark.usefixtures("without_clinic_store")

CHARTS = ("plotly_chart", "arrow_vega_lite_chart", "vega_lite_chart")


@pytest.fixture(scope="module")
def sample():
    return load_questionnaires(SAMPLE)


def overview(monkeypatch, data, *, period=None, **filters):
    monkeypatch.setenv("OUTCOMES_DATA", str(data))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    if period:
        at.sidebar.selectbox(key="period").set_value(period).run()
    for column, values in filters.items():
        at.sidebar.multiselect(key=f"filter_{column}").set_value(values).run()
    assert not at.exception, at.exception
    return at


def cohort_file(sample, tmp_path, **filters):
    """The sample's own CSV lines of the cohort's patients (as a clinic would export them)."""
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    ids = set(select_patients(sample, **filters)["patient_id"].astype("str"))
    path = tmp_path / "cohort.csv"
    raw[raw["patient_id"].isin(ids)].to_csv(path, index=False)
    return path


def figures(at, *, skip_published: bool) -> dict:
    """Every number the page shows, without the text that names the filter or the data source."""
    tables = [t.value.reset_index(drop=True) for t in at.dataframe
              if not (skip_published and "Published figure" in t.value.columns)]
    charts = [e.proto.spec if hasattr(e.proto, "spec") else e.proto.SerializeToString()
              for kind in CHARTS for e in at.get(kind)]
    return {
        "metrics": [(m.label, m.value) for m in at.metric],
        "headline": [m.value for m in at.markdown if "— published:" in m.value or "— no published" in m.value],
        "tables": tables,
        "charts": [c for c in charts if not (skip_published and "ublished" in str(c))],
        "warnings": [w.value for w in at.warning],
    }


def assert_same(shown: dict, expected: dict) -> None:
    assert shown["metrics"] == expected["metrics"]
    assert shown["headline"] == expected["headline"]
    assert shown["warnings"] == expected["warnings"]
    assert len(shown["tables"]) == len(expected["tables"]) > 3
    for got, want in zip(shown["tables"], expected["tables"]):
        pd.testing.assert_frame_equal(got, want)
    assert len(shown["charts"]) == len(expected["charts"]) >= 3
    assert shown["charts"] == expected["charts"]


@pytest.mark.parametrize("filters", [{"site": ["North"]}, {"clinician": ["CL01", "CL02"]},
                                     {"protocol": ["IV 6 over 21 days"], "site": ["North", "South"]}])
def test_a_filtered_overview_is_the_overview_of_that_cohort_alone(monkeypatch, tmp_path, sample, filters):
    path = cohort_file(sample, tmp_path, **filters)
    filtered = overview(monkeypatch, SAMPLE, **filters)
    alone = overview(monkeypatch, path)
    assert_same(figures(filtered, skip_published=True), figures(alone, skip_published=True))
    # the published comparison: the same clinic figures, but a stratum is never like for like
    compared = next(t.value for t in filtered.dataframe if "Published figure" in t.value.columns)
    whole = next(t.value for t in alone.dataframe if "Published figure" in t.value.columns)
    pd.testing.assert_series_equal(compared["Clinic"], whole["Clinic"])
    assert (compared["Like for like"] == "no").all()


def test_a_quarter_is_the_overview_of_the_patients_who_started_in_it(monkeypatch, tmp_path, sample):
    lo, hi = quarter_bounds("2025Q2")
    path = cohort_file(sample, tmp_path, start_from=lo, start_to=hi)
    filtered = overview(monkeypatch, SAMPLE, period="2025Q2")
    alone = overview(monkeypatch, path, period="2025Q2")  # the same period: activity counts its questionnaires
    assert_same(figures(filtered, skip_published=False), figures(alone, skip_published=False))


def test_a_cohort_mask_selects_what_a_patient_by_patient_reading_selects(sample):
    # a second implementation of the filter rules, one patient at a time: first non-blank attribute value, start
    # date = treatment_start_date or assessment date minus study day, both ends of the period included
    index = patient_index(sample, ["site", "clinician", "protocol"])
    lo, hi = quarter_bounds("2025Q1")
    rules = [dict(site=["North"]), dict(clinician=["CL01", "CL03"], protocol=["IV 6 over 21 days"]),
             dict(start_from=lo, start_to=hi), dict(start_from=lo, site=["Central"]), dict(start_to=hi), {}]
    for rule in rules:
        expected = set()
        for pid, rows in sample.groupby(sample["patient_id"].astype("str"), observed=True):
            start = (rows["treatment_start_date"] if "treatment_start_date" in rows else
                     rows["assessment_date"] - pd.to_timedelta(rows["day"].astype("float64"), unit="D")).min()
            ok = all(str(rows[c].dropna().iloc[0]) in v if rows[c].notna().any() else False
                     for c, v in rule.items() if c not in ("start_from", "start_to"))
            ok &= "start_from" not in rule or (pd.notna(start) and start >= rule["start_from"])
            ok &= "start_to" not in rule or (pd.notna(start) and start <= rule["start_to"])
            if ok:
                expected.add(pid)
        mask = cohort_mask(index, **rule)
        assert set(index.names[mask]) == expected, rule
        assert set(select_patients(sample, **rule)["patient_id"].astype("str")) == expected, rule
        assert int(np.count_nonzero(mask)) == len(expected)
