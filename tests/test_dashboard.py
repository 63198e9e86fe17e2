"""Dashboard under Streamlit's AppTest: every page runs, controls change the numbers."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analytics import OutcomeDefinitions, clinic_summary, load_questionnaires
from conftest import ROOT, SAMPLE, TINY


@pytest.fixture(autouse=True)
def no_store(monkeypatch, tmp_path):
    """Every test starts without a clinic store, whatever the developer's data/ holds."""
    monkeypatch.setenv("OUTCOMES_DB", str(tmp_path / "no-store.sqlite"))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)


def app(monkeypatch, data=None):
    if data is not None:
        monkeypatch.setenv("OUTCOMES_DATA", str(data))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    return at.run()


def outcome_cell(at, outcome, column):
    table = at.dataframe[0].value
    return table.set_index("Outcome").loc[outcome, column]


def test_overview_renders_sample_with_engine_numbers(monkeypatch):
    at = app(monkeypatch)
    assert not at.exception
    assert "Synthetic sample data" in at.info[0].value
    expected = clinic_summary(load_questionnaires(SAMPLE))
    assert outcome_cell(at, "Response", "n") == expected.response.n
    assert outcome_cell(at, "Response", "Rate") == f"{expected.response.estimate:.1%}"
    assert [m.label for m in at.metric][0] == "Patients" and at.metric[0].value == str(expected.patients)
    assert any("Spec v1" in c.value for c in at.caption)


def test_changing_analysis_mode_changes_numbers(monkeypatch):
    at = app(monkeypatch)
    before = outcome_cell(at, "Response", "n")
    at.selectbox(key="analysis").set_value("itt").run()
    assert not at.exception
    expected = clinic_summary(load_questionnaires(SAMPLE), definitions=OutcomeDefinitions(analysis="itt"))
    assert outcome_cell(at, "Response", "n") == expected.response.n != before
    at.number_input(key="min_baseline").set_value(15).run()
    expected = clinic_summary(load_questionnaires(SAMPLE),
                              definitions=OutcomeDefinitions(analysis="itt", min_baseline=15))
    assert outcome_cell(at, "Remission", "Events") == expected.remission.events


def test_no_data_is_shown_as_no_data(monkeypatch):
    at = app(monkeypatch, TINY)
    at.number_input(key="week").set_value(5).run()
    at.number_input(key="window").set_value(0).run()
    at.number_input(key="min_baseline").set_value(13).run()
    assert not at.exception
    assert outcome_cell(at, "Response", "Rate") == "no data"
    assert outcome_cell(at, "Response", "n") == 0


def test_refused_file_shows_error_table(monkeypatch, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,day,phq9_total,phq9_9,email\n001,0,12,1,a@b.org\n")
    at = app(monkeypatch, bad)
    assert not at.exception
    assert "refused" in at.error[0].value
    problems = at.dataframe[0].value
    assert list(problems.columns) == ["line", "column", "value", "problem"]
    assert problems.iloc[0]["column"] == "email"


def test_unreadable_file_is_a_message_not_a_traceback(monkeypatch, tmp_path):
    at = app(monkeypatch, tmp_path / "missing.csv")
    assert not at.exception and "could not be read" in at.error[0].value


def test_dashboard_reads_the_store_when_it_holds_data(monkeypatch, tmp_path):
    from analytics.store import import_questionnaires

    db = tmp_path / "clinic.sqlite"
    import_questionnaires(TINY, db=db)
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    at = app(monkeypatch)
    assert not at.exception
    assert not at.info  # not labelled synthetic: it is the clinic's store
    assert any("clinic store" in c.value for c in at.caption)
    expected = clinic_summary(load_questionnaires(TINY))
    assert outcome_cell(at, "Response", "n") == expected.response.n == 4
    assert outcome_cell(at, "Response", "Events") == expected.response.events
