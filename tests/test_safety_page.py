"""The Safety page's SI figures by measure (AppTest): PHQ-9 item 9 beside the C-SSRS screener, never pooled."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analytics import load_questionnaires, patient_outcomes
from analytics.safety import si_by_measure
from analytics.synthetic import synthetic_clinic
from conftest import ROOT


pytestmark = pytest.mark.usefixtures("without_clinic_store")


@pytest.fixture(scope="module")
def screened_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cssrs") / "screened_clinic.csv"
    synthetic_clinic(250, seed=31, more_instruments=True).to_csv(path, index=False)
    return path


def safety_page(monkeypatch, data=None):
    if data is not None:
        monkeypatch.setenv("OUTCOMES_DATA", str(data))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.run()
    at.switch_page("app_pages/safety.py").run()
    assert not at.exception, at.exception
    return at


def by_measure_table(at):
    return next(t.value for t in at.dataframe if "Figure" in t.value.columns).set_index(["Measure", "Figure"])


def test_cssrs_figures_beside_item9_match_the_engine(monkeypatch, screened_csv):
    at = safety_page(monkeypatch, screened_csv)
    shown = by_measure_table(at)
    frame = load_questionnaires(screened_csv)
    expected = si_by_measure(frame, patient_outcomes(frame))
    assert len(shown) == len(expected) == 6
    for row in expected.itertuples():
        cell = shown.loc[(row.measure, row.statistic)]
        assert (cell["n"], cell["Events"]) == (row.n, row.events)
        assert cell["Rate"] == ("no data" if row.n == 0 else f"{row.estimate:.1%}")
    assert shown.loc[("C-SSRS screener", "SI at baseline"), "n"] > 0
    # labelled as the different measure it is, with both definitions
    assert any("not interchangeable" in i.value and "41%" in i.value and "13%" in i.value for i in at.info)
    assert any("C-SSRS screener: SI is ideation in the past month" in c.value and "PHQ-9 item 9: SI is item 9"
               in c.value for c in at.caption)
    # the analysis mode drives both measures
    at.selectbox(key="analysis").set_value("itt").run()
    frame_itt = si_by_measure(frame, patient_outcomes(frame, definitions=_itt()), definitions=_itt())
    again = by_measure_table(at)
    row = frame_itt.set_index(["measure", "statistic"]).loc[("C-SSRS screener", "SI resolution")]
    assert again.loc[("C-SSRS screener", "SI resolution"), "n"] == row["n"]


def _itt():
    from analytics import OutcomeDefinitions
    return OutcomeDefinitions(analysis="itt")


def test_without_screeners_only_item9_and_it_says_why(monkeypatch, tmp_path):
    plain = tmp_path / "plain.csv"
    synthetic_clinic(120, seed=32).to_csv(plain, index=False)
    at = safety_page(monkeypatch, plain)
    shown = by_measure_table(at)
    assert set(shown.index.get_level_values("Measure")) == {"PHQ-9 item 9"}
    assert any("No C-SSRS screener in these data" in c.value for c in at.caption)
    assert not any("not interchangeable" in i.value for i in at.info)
