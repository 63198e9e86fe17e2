"""The synthetic clinic's sessions: valid, seeded, and shaped as documented (docs/methods.md)."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics.sessions import load_sessions
from analytics.synthetic import synthetic_clinic
from analytics.synthetic_sessions import SESSION_COLUMNS, synthetic_sessions
from analytics.tolerability import dissociation_sedation_by, tolerability_table
from conftest import ROOT

SAMPLE_SEED = 20261121


@pytest.fixture(scope="module")
def clinic():
    return synthetic_clinic(600, seed=SAMPLE_SEED, more_instruments=True)  # the sample's questionnaires


@pytest.fixture(scope="module")
def sessions(clinic):
    return synthetic_sessions(clinic, seed=SAMPLE_SEED)


def test_the_committed_sample_is_what_the_generator_writes(sessions):
    # `make sample` is reproducible: the committed file is the generator's output, byte for byte
    committed = (ROOT / "sample_data" / "sample_sessions.csv").read_text(encoding="utf-8")
    assert sessions.to_csv(index=False, lineterminator="\n") == committed
    assert list(sessions.columns) == SESSION_COLUMNS


def test_valid_and_every_patient_with_infusions_has_sessions(clinic, sessions):
    frame = load_sessions(sessions)  # raises with every problem if the generator wrote anything invalid
    with_infusions = set(clinic.loc[clinic["infusion_number"].notna(), "patient_id"])
    assert set(frame["patient_id"].astype(str)) == with_infusions


def test_routes_by_site(clinic, sessions):
    site = clinic.drop_duplicates("patient_id").set_index("patient_id")["site"]
    routes = sessions.assign(site=sessions["patient_id"].map(site)).groupby("site")["route"].unique()
    assert list(routes["Riverside"]) == ["intranasal esketamine"]
    assert list(routes["North"]) == ["IV ketamine"] and list(routes["Central"]) == ["IV ketamine"]
    scales = sessions.assign(site=sessions["patient_id"].map(site)).groupby("site")["dissociation_scale"].unique()
    assert list(scales["Central"]) == ["0-10"] and list(scales["North"]) == ["cadss"]


def test_shapes_blood_pressure_rises_dissociation_fades_some_events(sessions):
    frame = load_sessions(sessions)
    rise = (frame["systolic_post"] - frame["systolic_pre"]).astype("float64")
    assert rise.mean() > 5 and (rise >= 40).any()
    back = (frame["systolic_discharge"] - frame["systolic_pre"]).astype("float64")
    assert back.mean() < rise.mean()  # nearer baseline at discharge
    by = dissociation_sedation_by(frame).set_index(["session_number", "measure"])
    assert by.loc[(1, "dissociation (cadss)"), "median"] > by.loc[(6, "dissociation (cadss)"), "median"]
    t = tolerability_table(frame, suppression=False).set_index(["measure", "unit", "route"])
    stopped = t.loc[("stopped early", "session", "all"), "rate"]
    assert 0.005 < stopped < 0.05
    for event in ("nausea", "vomiting", "hypertension treated", "emergence reaction"):
        assert t.loc[(f"adverse event: {event}", "session", "all"), "events"] > 0
    monitored = t.loc[("monitored at least the minimum", "session", "intranasal_esketamine"), "rate"]
    assert 0.8 < monitored < 1  # some esketamine records short or blank


def test_seeded(clinic, sessions):
    pd.testing.assert_frame_equal(synthetic_sessions(clinic, seed=SAMPLE_SEED), sessions)
    assert not synthetic_sessions(clinic, seed=1).equals(sessions)
