"""The sidebar's outcome instrument (AppTest): offered only when the data have its scores, and driving the
Overview's and Trajectories' outcome figures, each caption naming the instrument and its thresholds."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analytics import clinic_summary, load_questionnaires, patient_outcomes, rate_table
from analytics.instruments import OUTCOME_SCALES
from conftest import ROOT, SAMPLE, TINY


pytestmark = pytest.mark.usefixtures("without_clinic_store")


@pytest.fixture(scope="module")
def sample():
    return load_questionnaires(SAMPLE)


def app(monkeypatch, data=None, page=None):
    if data is not None:
        monkeypatch.setenv("OUTCOMES_DATA", str(data))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def outcome_table(at):
    return next(t.value for t in at.dataframe if "Outcome" in t.value.columns and "Method" in t.value.columns)


def test_only_instruments_with_scores_are_offered(monkeypatch):
    at = app(monkeypatch)
    # the sample has GAD-7 for most questionnaires and QIDS-SR16 and PCL-5 for some patients; no MADRS
    assert at.sidebar.selectbox(key="instrument").options == ["PHQ-9", "QIDS-SR16", "GAD-7", "PCL-5"]
    assert at.sidebar.selectbox(key="instrument").value == "phq9"
    tiny = app(monkeypatch, TINY)  # PHQ-9 only
    assert tiny.sidebar.selectbox(key="instrument").options == ["PHQ-9"]


def test_qids_drives_the_overview_and_every_caption_names_it(monkeypatch, sample):
    at = app(monkeypatch)
    at.sidebar.selectbox(key="instrument").set_value("qids-sr16").run()
    assert not at.exception, at.exception
    scale = OUTCOME_SCALES["qids-sr16"]
    expected = clinic_summary(sample, instrument="qids-sr16")
    table = outcome_table(at).set_index("Outcome")
    assert list(table.index) == [scale.labels[0], scale.labels[1], f"{scale.labels[0]} reached by week",
                                 f"{scale.labels[1]} reached by week"]  # no SI row: item 9 is PHQ-9's
    assert (table.loc[scale.labels[0], "n"], table.loc[scale.labels[0], "Events"]) == \
        (expected.response.n, expected.response.events)
    assert (table.loc[scale.labels[1], "n"], table.loc[scale.labels[1], "Events"]) == \
        (expected.remission.n, expected.remission.events)
    assert expected.response.n > 0 and expected.response.n != clinic_summary(sample).response.n
    assert any(s.value == "Outcomes at week 6 on the QIDS-SR16" for s in at.subheader)
    captions = [c.value for c in at.caption]
    # the threshold is named: remission QIDS-SR16 <= 5, eligibility from the QIDS-SR16 baseline
    assert any("On the QIDS-SR16:" in c and "<= 5" in c and "baseline QIDS-SR16 total >= 11" in c for c in captions)
    assert any("Instrument: QIDS-SR16" in c for c in captions)
    # figures that stay on the PHQ-9 say so
    assert any("On the PHQ-9:" in c for c in captions)
    assert any("stay on the PHQ-9" in i.value for i in at.info)


def test_pcl5_on_trajectories_uses_its_own_outcomes(monkeypatch, sample):
    at = app(monkeypatch, page="trajectories")
    at.sidebar.selectbox(key="instrument").set_value("pcl5").run()
    assert not at.exception, at.exception
    assert any(s.value == "PCL-5 courses" for s in at.subheader)
    patients = patient_outcomes(sample, instrument="pcl5")
    change = patients[patients["change_pct"].notna() & patients["eligible"]]
    assert any(c.value.startswith(f"n = {len(change)}. ") and "change of their PCL-5 total" in c.value
               for c in at.caption)
    severity = next(t.value for t in at.dataframe if "Baseline severity" in t.value.columns)
    expected = rate_table(patients.dropna(subset=["baseline_band"]), by="baseline_band", instrument="pcl5")
    assert {"meaningful_change", "loss_of_probable_ptsd"} <= set(expected["metric"])
    assert len(severity.columns) == 3  # the band, and the PCL-5's two outcomes (no SI column)
    # back to PHQ-9: the SI column returns
    at.sidebar.selectbox(key="instrument").set_value("phq9").run()
    severity = next(t.value for t in at.dataframe if "Baseline severity" in t.value.columns)
    assert len(severity.columns) == 4
