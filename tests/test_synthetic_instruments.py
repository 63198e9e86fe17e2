"""The synthetic clinic's other scales (QIDS-SR16, PCL-5, C-SSRS screener): valid, consistent with the PHQ-9
course, for some patients only, and leaving the PHQ-9 rows as they were."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.instrument_validation import validate_instrument_items, validate_screener_items
from analytics.instruments import CSSRS_SCREENER, PCL5, PHQ9, QIDS_SR16, parse_yes_no, score_cssrs_screener, \
    score_instrument
from analytics.synthetic import synthetic_clinic
from analytics.synthetic_sessions import synthetic_sessions

SEED = 20261121
NEW_COLUMNS = QIDS_SR16.items + PCL5.items + CSSRS_SCREENER.items


@pytest.fixture(scope="module")
def plain():
    return synthetic_clinic(600, seed=SEED)


@pytest.fixture(scope="module")
def clinic():
    return synthetic_clinic(600, seed=SEED, more_instruments=True)


def test_the_phq9_rows_are_the_same_with_or_without_the_other_scales(plain, clinic):
    # the other scales come from a random stream of their own: every other column, row by row, is unchanged
    pd.testing.assert_frame_equal(clinic[plain.columns], plain)
    assert list(clinic.columns) == list(plain.columns) + NEW_COLUMNS  # the registry's item names
    assert not set(NEW_COLUMNS) & set(synthetic_clinic(50, seed=1).columns)  # off by default


def test_items_pass_the_instruments_own_validation(clinic):
    for instrument in (QIDS_SR16, PCL5):
        answered = clinic[clinic[instrument.items[0]].notna()]
        report = validate_instrument_items(answered, instrument)
        assert report.ok and report.warnings.empty, report.errors
        assert answered[instrument.items].notna().all().all()  # a questionnaire is answered whole
    answered = clinic[clinic["cssrs_1"].notna()]
    report = validate_screener_items(answered, CSSRS_SCREENER)
    assert report.ok and report.warnings.empty, report.errors


def test_cssrs_follow_up_items_only_when_the_screen_questions_open_them(clinic):
    c = clinic[clinic["cssrs_1"].notna()]
    item2_yes, item6_yes = c["cssrs_2"] == "yes", c["cssrs_6"] == "yes"
    for col in ("cssrs_3", "cssrs_4", "cssrs_5"):
        assert c.loc[item2_yes, col].notna().all() and c.loc[~item2_yes, col].isna().all()
    assert c.loc[item6_yes, "cssrs_6_recent"].notna().all() and c.loc[~item6_yes, "cssrs_6_recent"].isna().all()
    assert c[["cssrs_1", "cssrs_2", "cssrs_6"]].notna().all().all()
    assert set(pd.unique(c[CSSRS_SCREENER.items].stack().dropna())) == {"yes", "no"}
    # the lifetime question is the same answer at every visit of a patient
    assert (c.groupby("patient_id")["cssrs_6"].nunique() == 1).all()


def test_some_patients_answer_each_scale(clinic):
    patients = clinic.drop_duplicates("patient_id").set_index("patient_id")
    share = {i: clinic.loc[clinic[i].notna(), "patient_id"].nunique() / len(patients)
             for i in ("qids_sr16_1", "pcl5_1", "cssrs_1")}
    assert 0.2 < share["qids_sr16_1"] < 0.4
    assert 0.05 < share["pcl5_1"] < 0.25
    assert 0.35 < share["cssrs_1"] < 0.65
    pcl5_patients = patients.loc[clinic.loc[clinic["pcl5_1"].notna(), "patient_id"].unique()]
    assert (pcl5_patients["diagnosis"] == "PTSD with MDD").mean() > 0.3  # mostly asked of PTSD patients
    # the totals-only site exports no item answers of the scored scales; the yes/no screener is there
    river = clinic["site"] == "Riverside"
    assert clinic.loc[river, QIDS_SR16.items + PCL5.items].isna().all().all()
    assert clinic.loc[river, "cssrs_1"].notna().any()


def test_answers_follow_the_phq9_course(clinic):
    q = clinic[clinic["qids_sr16_1"].notna() & clinic[PHQ9.items].notna().all(axis=1)]
    qids = score_instrument(q[QIDS_SR16.items].astype("Int16"), QIDS_SR16).astype("float64")
    phq9 = q[PHQ9.items].astype("float64").sum(axis=1)
    assert np.corrcoef(qids, phq9)[0, 1] > 0.75
    assert abs(qids.mean() - phq9.mean()) < 3  # the two scales have about the same range (0-27)
    assert (q["qids_sr16_12"].astype(int) - q["phq9_9"].astype(int)).abs().le(1).all()  # SI items agree
    # PCL-5 falls over the course with the depression
    p = clinic[clinic["pcl5_1"].notna()]
    total = p[PCL5.items].astype("float64").sum(axis=1)
    first = ~p["patient_id"].duplicated()
    assert total[first].mean() > total[~first].mean()


def test_cssrs_flags_fewer_than_item9(clinic):
    # item 9 over-flags compared with the C-SSRS: on the same visits, fewer screens show ideation
    c = clinic[clinic["cssrs_1"].notna() & clinic["phq9_9"].notna()]
    flags = score_cssrs_screener(c[CSSRS_SCREENER.items].apply(lambda s: parse_yes_no(s)[0]))
    item9_positive = (c["phq9_9"].astype(int) >= 1).mean()
    cssrs_positive = flags["recent_ideation"].astype(bool).mean()
    assert 0 < cssrs_positive < item9_positive
    # and they agree in direction: ideation on the C-SSRS is far likelier when item 9 is positive
    by_item9 = flags["recent_ideation"].astype(bool).groupby((c["phq9_9"].astype(int) >= 1).to_numpy()).mean()
    assert by_item9[True] > 4 * by_item9[False]


def test_the_esketamine_site_is_labelled_and_dosed_as_esketamine(plain):
    # the protocol label and the sessions' route agree (the sample's Riverside said IV while dosing esketamine)
    river = plain["site"] == "Riverside"
    assert plain.loc[river, "protocol"].str.startswith("Esketamine ").all()
    assert not plain.loc[~river, "protocol"].str.contains("Esketamine").any()
    sessions = synthetic_sessions(plain, seed=SEED)
    routes = sessions.groupby("patient_id")["route"].unique()
    esketamine = plain.groupby("patient_id")["protocol"].agg(lambda p: p.str.startswith("Esketamine").all())
    assert (routes.map(list) == esketamine.reindex(routes.index).map(
        {True: ["intranasal esketamine"], False: ["IV ketamine"]})).all()
    # and without an esketamine site, every course is IV ketamine
    iv_only = synthetic_clinic(100, seed=4, esketamine_site=None)
    assert iv_only["protocol"].str.startswith("IV ").all()
    assert set(synthetic_sessions(iv_only, seed=4)["route"]) == {"IV ketamine"}
