"""A sessions import reads the stored sessions of the table's patients only, and checks with the store only the
patients it adds sessions to: every refusal is the one the check of the whole store gives (the same rows, lines
and words), on SQLite and PostgreSQL."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics import session_store
from analytics.errors import SessionValidationError
from analytics.session_store import _as_session_frame, _stored_sessions, import_sessions, read_session_store
from analytics.sessions import validate_sessions
from conftest import ROOT

SAMPLE_SESSIONS = ROOT / "sample_data" / "sample_sessions.csv"


def _whole_store(con, stored, fresh):
    """The check as it was: every stored session with the new ones."""
    every = _stored_sessions(con)
    return validate_sessions(_as_session_frame(pd.concat([every, fresh], ignore_index=True)))


@pytest.fixture
def sessions():
    return pd.read_csv(SAMPLE_SESSIONS, dtype=str, keep_default_na=False)


def _refusal(db, steps, bad, **kwargs):
    for step in steps:
        import_sessions(step, db=db, **kwargs)
    with pytest.raises(SessionValidationError) as exc:
        import_sessions(bad, db=db, **kwargs)
    return str(exc.value), exc.value.problems.to_dict("records")


def test_a_table_refused_only_together_with_the_store_is_refused_as_the_whole_store_check_refuses_it(
        tmp_path, store_db, sessions, monkeypatch):
    patients = sessions["patient_id"].unique()
    first = sessions[sessions["patient_id"].isin(patients[:40])]
    second = sessions[sessions["patient_id"].isin(patients[40:80])]
    # new patients and a stored one, on study days: valid alone, but the store's sessions are dated
    rows = sessions[sessions["patient_id"].isin([*patients[80:90], patients[30]])]
    bad = rows.drop(columns="session_date").assign(day=[str(7 * (i % 5)) for i in range(len(rows))],
                                                   episode=[str(1 + i // 5) for i in range(len(rows))])
    assert validate_sessions(bad).ok
    touched = _refusal(store_db, [first, second], bad)
    assert "already in the store" in touched[0]

    other = tmp_path / "whole.sqlite"
    monkeypatch.setattr(session_store, "_touched_sessions_report", _whole_store)
    assert _refusal(other, [first, second], bad) == touched


def test_sessions_on_study_days_into_a_store_of_dated_ones_are_refused_the_same_way(tmp_path, sessions,
                                                                                    monkeypatch):
    dated = sessions.iloc[:50]
    days = tmp_path / "days.csv"
    days.write_text("patient_id,day,route,dose_mg,completed\nP9,0,intranasal esketamine,56,yes\n", encoding="utf-8")
    touched = _refusal(tmp_path / "a.sqlite", [dated], days)
    monkeypatch.setattr(session_store, "_touched_sessions_report", _whole_store)
    assert _refusal(tmp_path / "b.sqlite", [dated], days) == touched


def test_imports_read_only_the_patients_of_the_table(tmp_path, store_db, sessions, monkeypatch):
    patients = sessions["patient_id"].unique()
    import_sessions(sessions[sessions["patient_id"].isin(patients[:100])], db=store_db)
    asked = []
    real = session_store._stored_sessions

    def spy(con, patients=None):
        asked.append(None if patients is None else len(patients))
        return real(con, patients)

    monkeypatch.setattr(session_store, "_stored_sessions", spy)
    later = sessions[sessions["patient_id"].isin(patients[90:120])]
    result = import_sessions(later, db=store_db)
    assert asked == [30] and result.added == (later["patient_id"].isin(patients[100:120])).sum()
    monkeypatch.undo()
    stored = read_session_store(store_db).frame
    assert stored["patient_id"].nunique() == 120
