"""The sessions table that goes with the dashboard's data source (cached here; analytics/ stays pure).

* Synthetic sample: ``sample_data/sample_sessions.csv``.
* Clinic store: the store's sessions (``import-sessions`` or the Data page).
* File (``$OUTCOMES_DATA``): ``$OUTCOMES_SESSIONS`` when set.

Pages ask for :func:`cohort_sessions` (the sessions of the patients on screen) and
:func:`with_derived_infusions` (questionnaires with ``infusion_number`` from the
sessions when they have none).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from analytics import AnalyticsError
from analytics.session_store import read_session_store, store_has_sessions
from analytics.sessions import SessionReport, validate_sessions, with_infusion_numbers

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SESSIONS = ROOT / "sample_data" / "sample_sessions.csv"
HOW_TO_LOAD = ("Load a sessions table (one row per treatment session: dose, blood pressure, dissociation, sedation, "
               "monitoring, adverse events) with `python -m analytics import-sessions FILE`, or set "
               "`OUTCOMES_SESSIONS` to a sessions file next to `OUTCOMES_DATA`. The columns are in docs/methods.md.")


def _stamp(path: Path) -> tuple:
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (path, path.with_name(path.name + "-wal")))


@st.cache_data(show_spinner="Reading the sessions table...", max_entries=4)
def _sessions_file(path: str, stamp: tuple) -> SessionReport:
    return validate_sessions(path)


@st.cache_data(show_spinner="Reading the store's sessions...", max_entries=4)
def _sessions_store(db: str, stamp: tuple) -> SessionReport | None:
    return read_session_store(db) if store_has_sessions(db) else None


def sessions_report(kind: str, path: Path) -> SessionReport | None:
    """The sessions that go with a data source, or None when it has none (errors are shown on the page)."""
    try:
        if kind == "sample":
            return _sessions_file(str(SAMPLE_SESSIONS), _stamp(SAMPLE_SESSIONS))
        if kind == "store":
            return _sessions_store(str(path), _stamp(Path(path)))
        extra = os.environ.get("OUTCOMES_SESSIONS")
        if extra:
            return _sessions_file(extra, _stamp(Path(extra)))
    except (AnalyticsError, OSError) as exc:
        from app_pages.common import plain

        st.error(f"The sessions table could not be read: {plain(exc)}")
    return None


@st.cache_data(show_spinner="Numbering questionnaires by sessions...", max_entries=4)
def _derived(_report, _sessions, key: tuple):
    from dataclasses import replace

    frame = with_infusion_numbers(_report.frame, _sessions.frame)
    if frame is _report.frame:
        return _report
    return replace(_report, frame=frame, counts={**_report.counts, "infusion_number": "derived from sessions"})


def with_derived_infusions(kind: str, path: Path, report):
    """``report`` with ``infusion_number`` derived from the source's sessions when its questionnaires have none."""
    if report.frame is None or "infusion_number" in report.frame:
        return report
    sessions = sessions_report(kind, path)
    if sessions is None or not sessions.ok:
        return report
    return _derived(report, sessions, (kind, str(path), report.sha256, report.source, sessions.source,
                                       sessions.counts.get("sessions")))


def cohort_sessions(view) -> pd.DataFrame | None:
    """The sessions of the patients in ``view`` (its filters applied), or None when the source has no sessions.

    A refused sessions table shows its problems on the page and gives None.
    """
    from app_pages.common import available_sources, show_table

    report = sessions_report(view.kind, available_sources()[view.kind])
    if report is None:
        return None
    if not report.ok:
        st.error("The sessions table was refused; no tolerability figure is shown. Fix these problems and reload.")
        show_table(report.errors, width="content")
        return None
    pseudonyms = view.patients["patient_id"].astype("str")
    if view.source_ids is not None:  # researchers' views carry study ids: back to the clinic's pseudonyms
        pseudonyms = pseudonyms.map(view.source_ids)
    frame = report.frame
    return frame[frame["patient_id"].astype("str").isin(set(pseudonyms)).to_numpy()]
