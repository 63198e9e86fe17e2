"""Patient selection, start dates and quarters."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics import DefinitionError, load_questionnaires
from analytics.cohorts import patient_start_dates, quarter_bounds, quarter_of, select_patients
from conftest import SAMPLE, TINY


def test_select_by_attribute_keeps_whole_patients():
    tiny = load_questionnaires(TINY)
    north = select_patients(tiny, site=["North"])
    assert sorted(north["patient_id"].unique()) == ["001", "002", "003"] and len(north) == 8
    assert len(select_patients(tiny, site=[])) == len(tiny)  # empty filter = no filter
    assert len(select_patients(tiny, site=["North", "East"])) == 8 + 8
    with pytest.raises(DefinitionError, match="no column protocol"):
        select_patients(tiny, protocol=["x"])


def test_start_dates_from_start_column_or_day_zero():
    sample = load_questionnaires(SAMPLE)
    starts = patient_start_dates(sample)
    raw = pd.read_csv(SAMPLE, dtype=str)
    assert starts.loc[raw.loc[0, "patient_id"]] == pd.Timestamp(raw.loc[0, "treatment_start_date"])
    no_start = load_questionnaires(raw.drop(columns="treatment_start_date").head(40))
    first = no_start.iloc[0]
    # without a start column, day 0 is the first complete questionnaire
    assert patient_start_dates(no_start).loc[first["patient_id"]] == first["assessment_date"] - pd.Timedelta(
        days=int(first["day"]))
    assert patient_start_dates(load_questionnaires(TINY)).isna().all()  # day-only data have no dates


def test_select_by_start_date_range():
    sample = load_questionnaires(SAMPLE)
    lo, hi = quarter_bounds("2025Q2")
    part = select_patients(sample, start_from=lo, start_to=hi)
    starts = patient_start_dates(part)
    assert len(starts) > 0 and starts.between(lo, hi).all()
    assert (patient_start_dates(sample).between(lo, hi)).sum() == len(starts)


def test_quarters():
    assert quarter_bounds("2026Q3") == (pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30"))
    assert quarter_bounds("2024-q1")[1] == pd.Timestamp("2024-03-31")
    for bad in ("2026Q5", "Q3 2026", "2026"):
        with pytest.raises(DefinitionError, match="2026Q3"):
            quarter_bounds(bad)
    assert quarter_of(pd.Series(pd.to_datetime(["2026-07-01", "2026-12-31", None]))).tolist()[:2] == \
        ["2026Q3", "2026Q4"]


def _by_text(q, columns):
    """The earlier implementation, grouping by the ids as text: the second implementation the fast path matches."""
    starts = q["treatment_start_date"].groupby(q["patient_id"].astype("str"), sort=False).min().rename("start_date")
    attrs = q[columns].groupby(q["patient_id"].astype("str"), sort=False, observed=True).first()
    return starts, attrs


def test_categorical_ids_give_what_text_ids_give():
    # the store's frame has categorical ids in no particular order, with categories no row uses after a filter
    from analytics.cohorts import patient_attributes

    sample = load_questionnaires(SAMPLE)
    assert isinstance(sample["patient_id"].dtype, pd.CategoricalDtype)
    reordered = sample.assign(patient_id=sample["patient_id"].cat.reorder_categories(
        sample["patient_id"].cat.categories[::-1]))
    as_text = sample.assign(patient_id=sample["patient_id"].astype("str"))
    part = sample[sample["site"] != "North"]  # unused categories
    for q in (sample, reordered, as_text, part):
        starts, attrs = _by_text(q, ["site", "clinician"])
        pd.testing.assert_series_equal(patient_start_dates(q), starts)
        pd.testing.assert_frame_equal(patient_attributes(q, ["site", "clinician"]), attrs)
        for filters in ({"site": ["Central"]}, {"start_from": "2025-01-01", "clinician": ["CL01", "CL05"]}):
            chosen = select_patients(q, **filters)
            keep = set(starts.index) if "start_from" not in filters else set(starts.index[starts >= "2025-01-01"])
            column, values = next((k, v) for k, v in filters.items() if k in ("site", "clinician"))
            keep &= set(attrs.index[attrs[column].astype("str").isin(values)])
            expected = q[q["patient_id"].astype("str").isin(keep)]
            assert 0 < len(chosen) < len(q)
            pd.testing.assert_frame_equal(chosen, expected)
