"""The synthetic clinic: reproducible, valid, realistic in the published range."""
from __future__ import annotations

import pandas as pd

from analytics import OutcomeDefinitions, clinic_summary, validate_questionnaires
from analytics.synthetic import synthetic_clinic
from conftest import SAMPLE


def test_same_seed_same_data_and_matches_committed_sample():
    a = synthetic_clinic(600, seed=20261121, more_instruments=True)  # as sample_data/generate.py writes it
    committed = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    again = a.astype("str").where(a.notna(), "")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), committed, check_dtype=False)
    assert not synthetic_clinic(50, seed=1).equals(synthetic_clinic(50, seed=2))


def test_synthetic_is_valid_and_realistic():
    report = validate_questionnaires(synthetic_clinic(2000, seed=5))
    assert report.ok
    s = clinic_summary(report.frame, definitions=OutcomeDefinitions())
    # within the published real-world range: completer response ~54% (McInnes), remission 20-30%
    assert 0.40 <= s.response.estimate <= 0.70
    assert 0.15 <= s.remission.estimate <= 0.35
    assert 0.10 <= s.cumulative_remission.estimate <= 0.35
    infusions = report.frame.groupby("patient_id")["infusion_number"].max()
    assert 0.35 <= (infusions >= 6).mean() <= 0.6  # about half do not complete six infusions


def test_reinductions_never_put_two_questionnaires_on_one_day():
    # every patient re-induced: a screening visit before the second start may fall on a first-course visit's date
    # (identical rows of one visit are fine: the validator collapses them, as real exports need)
    frame = synthetic_clinic(20_000, seed=7, reinduction_share=1.0)
    scores = [c for c in frame.columns if c.startswith(("phq9_", "gad7_"))]
    distinct = frame.drop_duplicates(["patient_id", "assessment_date", *scores])
    assert not distinct.duplicated(["patient_id", "assessment_date"]).any()
    assert validate_questionnaires(frame).ok


def test_rows_come_one_block_per_patient_in_date_order():
    # as clinic exports are written, and so the validator needs no sort: re-inductions stay with their patient
    frame = synthetic_clinic(3000, seed=3, reinduction_share=0.5)
    blocks = (frame["patient_id"] != frame["patient_id"].shift()).sum()
    assert blocks == frame["patient_id"].nunique()
    dates = pd.to_datetime(frame["assessment_date"])
    same_patient = frame["patient_id"] == frame["patient_id"].shift()
    assert (dates.diff()[same_patient] >= pd.Timedelta(0)).all()
    assert frame["treatment_start_date"].isna().any()  # the re-induction screenings are in it
    report = validate_questionnaires(frame)
    assert report.ok
    assert report.frame["line"].is_monotonic_increasing  # canonical order is the file's own order
