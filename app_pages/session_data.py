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

import numpy as np
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


def patient_sessions_section(view, pid: str, q: pd.DataFrame, courses: pd.DataFrame) -> None:
    """The Patient page's sessions: dose, blood pressure and dissociation on the PHQ-9 course's time axis.

    ``q`` is the patient's questionnaires (``episode``, ``day``), ``courses`` their episodes with
    ``start_on_axis`` (the Patient page's axis: study day plus the episode's offset).  Shows nothing
    when the source has no sessions; says so when this patient has none.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from analytics.sessions import session_study_days
    from app_pages.common import PALETTE, show_table

    sessions = cohort_sessions(view)
    if sessions is None:
        return
    st.subheader("Sessions")
    mine = sessions[sessions["patient_id"].astype("str") == str(pid)]
    if mine.empty:
        st.caption("No session of this patient is on record in the sessions table.")
        return
    place = session_study_days(mine, q)
    offset = place["episode"].astype("float64").map(courses.set_index("episode")["start_on_axis"].astype("float64"))
    x = place["study_day"].astype("float64") + offset.fillna(0)
    done = q[q["complete"]]
    x_q = done["day"].astype("float64") + done["episode"].map(courses.set_index("episode")["start_on_axis"]).astype(
        "float64")

    def col(name):
        return mine[name].to_numpy(dtype="float64", na_value=np.nan) if name in mine else np.full(len(mine), np.nan)

    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.3, 0.2, 0.3, 0.2])
    fig.add_trace(go.Scatter(x=x_q, y=done["phq9_total"], mode="lines+markers", name="PHQ-9 total",
                             line=dict(color=PALETTE[0]), hovertemplate="PHQ-9 %{y}<extra></extra>"), row=1, col=1)
    per_kg, mg = col("dose_mg_per_kg"), col("dose_mg")
    dose, unit = (per_kg, "mg/kg") if not np.isnan(per_kg).all() else (mg, "mg")
    stopped = ~mine["completed"].to_numpy(dtype=bool)
    fig.add_trace(go.Scatter(x=x, y=dose, mode="markers", name=f"Dose ({unit})",
                             marker=dict(symbol=np.where(stopped, "x", "circle").tolist(), size=9, color=PALETTE[1]),
                             customdata=np.where(stopped, "stopped early", "completed"),
                             hovertemplate=f"%{{y}} {unit}, %{{customdata}}<extra></extra>"), row=2, col=1)
    for i, (measure, label) in enumerate((("systolic", "Systolic"), ("diastolic", "Diastolic"))):
        for t, dash in (("pre", "dot"), ("post", "solid")):
            fig.add_trace(go.Scatter(x=x, y=col(f"{measure}_{t}"), mode="lines+markers",
                                     name=f"{label} {'before dosing' if t == 'pre' else 'post-dose check'}",
                                     line=dict(color=PALETTE[5 if i == 0 else 4], dash=dash),
                                     hovertemplate=f"{label.lower()} {t}: %{{y}} mmHg<extra></extra>"), row=3, col=1)
    if "dissociation" in mine:
        for j, scale in enumerate(mine["dissociation_scale"].dropna().astype("str").unique()):  # one or two scales
            part = (mine["dissociation_scale"].astype("str") == scale).to_numpy()
            fig.add_trace(go.Scatter(x=x[part], y=col("dissociation")[part], mode="lines+markers",
                                     name=f"Dissociation ({scale})", line=dict(color=PALETTE[2 + j]),
                                     hovertemplate=f"dissociation ({scale}): %{{y}}<extra></extra>"), row=4, col=1)
    fig.update_yaxes(title_text="PHQ-9", range=[0, 27.5], row=1, col=1)
    fig.update_yaxes(title_text=f"Dose ({unit})", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text="mmHg", row=3, col=1)
    fig.update_yaxes(title_text="Dissociation", rangemode="tozero", row=4, col=1)
    fig.update_xaxes(title_text="Days on the course chart's axis", row=4, col=1)
    fig.update_layout(height=620, margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h", y=1.08),
                      template="plotly_white")
    st.plotly_chart(fig, width="stretch", key="patient_sessions")
    st.caption(f"{len(mine)} session(s) on the same time axis as the PHQ-9 course above (study day plus the "
               "episode's place on the axis). Crosses: sessions stopped early. Blood pressure before dosing (dotted) "
               "and at the post-dose check (solid); dissociation on each scale as recorded.")
    table = mine.assign(study_day=place["study_day"].to_numpy())
    cols = [c for c in ("session_number", "study_day", "route", "dose_mg", "dose_mg_per_kg", "systolic_pre",
                        "diastolic_pre", "systolic_post", "diastolic_post", "dissociation", "dissociation_scale",
                        "sedation_moaas", "minutes_monitored", "completed") if c in table]
    events = mine[[c for c in mine.columns if c.startswith("ae_")]]
    table = table[cols].assign(adverse_events=[", ".join(c[3:].replace("_", " ") for c in events.columns if r[c])
                                               or "none" for _, r in events.iterrows()])  # one patient's sessions
    show_table(table.reset_index(drop=True))


def source_sessions(view) -> pd.DataFrame | None:
    """Every session of the view's data source (an export selects its own cohort), or None when it has none."""
    from app_pages.common import available_sources

    report = sessions_report(view.kind, available_sources()[view.kind])
    return report.frame if report is not None and report.ok else None
