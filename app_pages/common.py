"""Shared UI pieces: data loading (cached here, never in analytics/), sidebar controls, formatting."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from analytics import ANALYSIS_MODES, AnalyticsError, OutcomeDefinitions, clinic_summary, validate_questionnaires
from analytics.definitions import ANALYSIS_MODE_LABELS
from analytics.store import default_db_path, read_store, store_has_data

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "sample_clinic.csv"
#: Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


def data_source() -> tuple[str, Path]:
    """What the dashboard shows: ``("file", path)`` for $OUTCOMES_DATA, ``("store", db)`` when the store
    holds questionnaires, else ``("sample", SAMPLE)``, the bundled synthetic clinic."""
    if os.environ.get("OUTCOMES_DATA"):
        return "file", Path(os.environ["OUTCOMES_DATA"])
    db = default_db_path()
    try:
        if store_has_data(db):
            return "store", db
    except AnalyticsError:
        return "store", db  # let load_report show why the store cannot be read
    return "sample", SAMPLE


def _stamp(path: Path) -> tuple:
    """Changes whenever the file (or its SQLite write-ahead log) changes: the cache key."""
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (path, path.with_name(path.name + "-wal")))


@st.cache_data(show_spinner="Reading and validating the questionnaire file...")
def _validated(path: str, stamp: tuple):
    return validate_questionnaires(path)


@st.cache_data(show_spinner="Reading the clinic store...")
def _from_store(db: str, stamp: tuple):
    return read_store(db)


def load_report():
    """Validation report of the current data source, or None after showing why it failed."""
    kind, path = data_source()
    try:
        if kind == "store":
            return _from_store(str(path), _stamp(path))
        return _validated(str(path), _stamp(path))
    except (AnalyticsError, OSError) as exc:
        st.error(f"The data could not be read: {exc}")
        return None


@st.cache_data(show_spinner="Computing outcomes...")
def summary_for(_report, key: tuple, week: int, window_days: int, min_baseline: int, analysis: str):
    d = OutcomeDefinitions(week=week, window_days=window_days, min_baseline=min_baseline, analysis=analysis)
    return clinic_summary(_report.frame, definitions=d, source=_report.source, sha256=_report.sha256,
                          validation=_report.counts)


def sidebar_definitions() -> OutcomeDefinitions:
    """Endpoint and analysis controls shared by every page."""
    with st.sidebar:
        st.header("Definitions")
        week = st.number_input("Endpoint week", min_value=1, max_value=52, value=6, step=1, key="week",
                               help="Target study day is 7 x week.")
        window = st.number_input("Window (+/- days)", min_value=0, max_value=28, value=7, step=1, key="window")
        min_base = st.number_input("Minimum baseline PHQ-9", min_value=0, max_value=27, value=10, step=1,
                                   key="min_baseline", help="Eligibility for response and remission.")
        analysis = st.selectbox("Analysis mode", ANALYSIS_MODES, key="analysis",
                                format_func=lambda m: {"completer": "Completers", "itt": "Intention to treat",
                                                       "locf": "Last observation carried forward"}[m],
                                help="How patients without a questionnaire in the endpoint window count.")
        st.caption(ANALYSIS_MODE_LABELS[analysis])
    try:
        return OutcomeDefinitions(week=int(week), window_days=int(window), min_baseline=int(min_base),
                                  analysis=analysis)
    except AnalyticsError as exc:
        st.sidebar.error(str(exc))
        return OutcomeDefinitions(analysis=analysis)


def data_banner(report) -> None:
    """Say where the numbers come from; synthetic data says so on every page."""
    kind, path = data_source()
    if kind == "sample":
        st.info("**Synthetic sample data** — a generated clinic of about 600 patients, no real people. "
                "Import your de-identified exports (`python -m analytics import FILE`) to see your own clinic.",
                icon=":material/science:")
    elif kind == "store":
        st.caption(f"Data: clinic store `{path}` — {report.source}")
    else:
        st.caption(f"Data: `{report.source}` (SHA-256 {report.sha256[:12]}...)")


def pct(value) -> str:
    return "no data" if value is None or pd.isna(value) else f"{value:.1%}"


def ci(low, high) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "undefined"
    return f"{low:.1%} - {high:.1%}"
