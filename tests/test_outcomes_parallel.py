"""patient_outcomes of a large frame runs on two threads, each on whole patients' rows: the result must be
the same frame, row for row and dtype for dtype, as one pass over all the rows."""
from __future__ import annotations

import pandas as pd
import pytest

import analytics.outcomes as outcomes
from analytics import load_questionnaires, patient_outcomes
from analytics.definitions import OutcomeDefinitions
from analytics.synthetic import synthetic_clinic


@pytest.fixture(scope="module")
def clinic() -> pd.DataFrame:
    # re-inductions (several episodes a patient), infusion numbers and text attributes
    return load_questionnaires(synthetic_clinic(300, seed=11, booster_share=1.0, boosters_mean=6, max_boosters=10))


def _one_pass(frame, **kwargs):
    saved = outcomes._PARALLEL_ROWS
    outcomes._PARALLEL_ROWS = len(frame) + 1
    try:
        return patient_outcomes(frame, **kwargs)
    finally:
        outcomes._PARALLEL_ROWS = saved


def _blocks(frame, **kwargs):
    saved = outcomes._PARALLEL_ROWS
    outcomes._PARALLEL_ROWS = 0
    try:
        return patient_outcomes(frame, **kwargs)
    finally:
        outcomes._PARALLEL_ROWS = saved


@pytest.mark.parametrize("analysis", ["completer", "itt", "locf"])
@pytest.mark.parametrize("episodes", ["first", "all", "latest"])
@pytest.mark.parametrize("attributes", [False, True])
def test_blocks_of_patients_give_the_same_frame_as_one_pass(clinic, analysis, episodes, attributes):
    assert clinic["patient_id"].nunique() > 2 and (clinic["episode"] > 1).any()
    d = OutcomeDefinitions(analysis=analysis, episodes=episodes)
    whole = _one_pass(clinic, definitions=d, attributes=attributes)
    split = _blocks(clinic, definitions=d, attributes=attributes)
    pd.testing.assert_frame_equal(split, whole)
    assert len(whole) and whole["patient_id"].is_unique == (episodes != "all")


@pytest.mark.parametrize("parts", [2, 4])
def test_the_blocks_fall_between_patients(clinic, parts):
    blocks = outcomes._patient_blocks(clinic, parts)
    assert len(blocks) == parts and all(len(b) for b in blocks)
    assert sum(len(b) for b in blocks) == len(clinic)
    seen = [set(b["patient_id"]) for b in blocks]
    assert sum(len(s) for s in seen) == clinic["patient_id"].nunique()  # no patient in two blocks


def test_one_patient_is_not_split(clinic):
    one = clinic[clinic["patient_id"] == clinic["patient_id"].iloc[0]]
    assert outcomes._patient_blocks(one, 4) is None


def test_a_frame_not_in_patient_blocks_is_not_split(clinic):
    shuffled = clinic.sample(frac=1, random_state=3).reset_index(drop=True)
    assert outcomes._patient_blocks(shuffled, 4) is None
    as_text = clinic.assign(patient_id=clinic["patient_id"].astype("str"))
    assert outcomes._patient_blocks(as_text, 4) is None
    pd.testing.assert_frame_equal(_blocks(shuffled), _one_pass(shuffled))


def test_a_cohort_of_later_patients_keeps_its_ids(clinic):
    """A subset that starts past the first category (a filtered cohort) takes the categories' block path."""
    later = clinic[clinic["patient_id"].cat.codes >= 100].reset_index(drop=True)
    out = _one_pass(later)
    assert out["patient_id"].tolist() == sorted(set(later["patient_id"]), key=list(later["patient_id"]).index)
    expected = _one_pass(later.assign(patient_id=later["patient_id"].astype("str")))
    pd.testing.assert_frame_equal(out, expected)
