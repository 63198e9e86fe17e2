"""Shared UI pieces: data source, sidebar controls, cached computations, formatting.

Caching lives here (never in analytics/).  Every page calls :func:`page_setup`
and gets a :class:`View`: the filtered questionnaires, the per-patient outcome
table and the definitions, with the data source labelled.

Why one module of ~450 lines: every cached computation of the dashboard lives here (caching is
the pages' job, never the engine's), so a cache key is defined once for all pages.
"""
from __future__ import annotations

import functools
import os
import secrets
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from analytics import (
    ANALYSIS_MODES,
    AnalyticsError,
    OutcomeDefinitions,
    clinic_summary,
    patient_outcomes,
    validate_questionnaires,
)
from analytics.cohorts import (
    PatientIndex,
    cohort_mask,
    patient_index,
    patient_start_dates,
    quarter_bounds,
    quarter_of,
)
from analytics.definitions import (
    ANALYSIS_MODE_LABELS,
    EPISODE_SELECTION_LABELS,
    EPISODE_SELECTIONS,
    MIN_BASELINE_RANGE,
    SPEC_VERSION,
    WEEK_RANGE,
    WINDOW_DAYS_RANGE,
)
from analytics.exports import to_safe_csv
from analytics.outcome_cache import attributes_key, cached_table, outcomes_key, unit_attributes
from analytics.outcome_cache import outcome_cache_folder as cached_outcomes_folder
from analytics.instruments import INSTRUMENT_CHOICES, OUTCOME_SCALES, OutcomeScale
from analytics.wording import GLOSSARY, readable_table
from analytics.research_export import session_study_ids
from analytics.store import default_db_path, read_store, store_has_data
from analytics.store_backends import store_backend

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "sample_clinic.csv"
#: Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
FILTER_COLUMNS = ("site", "clinician", "protocol")
MODE_NAMES = {"completer": "Completers", "itt": "Intention to treat", "locf": "Last observation carried forward"}
SOURCE_NAMES = {"file": "File ($OUTCOMES_DATA)", "store": "Clinic store", "sample": "Synthetic sample"}
EPISODE_NAMES = {"first": "First episode (first induction)", "all": "All episodes", "latest": "Latest episode"}


# ----------------------------------------------------------------------------- text from data

# inline markdown, HTML, LaTeX ($) and Streamlit directives (:red[...]); the block markers (#, -, +, 1.) only
# matter at the start of a line, and plain() joins lines
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>|~$&"})
_CHART_SPECIAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def plain(value) -> str:
    """Text from the data (site, clinician, protocol, cohort and file names, messages quoting them) made safe
    for st.markdown, st.caption, st.error and the like: markdown, HTML, LaTeX and directive characters are
    backslash-escaped, so it shows exactly as written and never as formatting, a link or a tag."""
    text = " ".join(str(value).split()).translate(_MARKDOWN_SPECIAL)
    text = re.sub(r"^(\d+)([.)])", r"\1\\\2", text)  # "1. x" would start a list
    return "\\" + text if text[:1] in ("#", "-", "+", "=", "!") else text


_CLI_HINTS = [  # the engine's messages are written for the command line too; a browser user has no flags to type
    ("Point --db / OUTCOMES_DB at", "Ask whoever runs the dashboard to point OUTCOMES_DB at"),
    ("point --db / OUTCOMES_DB at", "ask whoever runs the dashboard to point OUTCOMES_DB at"),
    ("Point --db at", "Ask whoever runs the dashboard to point OUTCOMES_DB at"),
    ("use another --db path", "ask whoever runs the dashboard to set OUTCOMES_DB to another path"),
    ("Import a file first: python -m analytics import FILE", "Import a file first, on the Data page"),
    ("; list them with: python -m analytics imports", "; the Data page's import history lists them"),
]


def browser_text(message) -> str:
    """An error message for the browser: :func:`plain`, and no command-line flag to type."""
    text = str(message)
    for hint, words in _CLI_HINTS:
        text = text.replace(hint, words)
    return plain(text)


def chart_text(value) -> str:
    """Text from the data for plotly legends, hover text and labels: plotly draws ``<b>``, ``<a href>`` and the
    like as formatting, so ``&``, ``<`` and ``>`` are written as entities (shown literally)."""
    return str(value).translate(_CHART_SPECIAL)


# ----------------------------------------------------------------------------- who

def signed_in_user() -> str:
    """Who this session is, for the store's records: the signed-in e-mail, else ``local`` (loopback, no sign-in).

    dashboard.py puts it in the session after :func:`app_pages.access.current_user` admitted the visitor.
    """
    return st.session_state.get("user") or "local"


# ----------------------------------------------------------------------------- data

def available_sources() -> dict[str, Path]:
    """Sources the dashboard can show, in order of preference."""
    out = {}
    if os.environ.get("OUTCOMES_DATA"):
        out["file"] = Path(os.environ["OUTCOMES_DATA"])
    db = default_db_path()
    try:
        if store_has_data(db):
            out["store"] = db
    except AnalyticsError:
        out["store"] = db  # load_report shows why it cannot be read
    out["sample"] = SAMPLE
    return out


def _stamp(path: Path) -> tuple:
    """Changes whenever the file (or its SQLite write-ahead log) changes: the cache key."""
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (path, path.with_name(path.name + "-wal")))


# The large frames (the source's questionnaires, a cohort's, the outcome tables) are cached as resources: one
# shared, read-only object, not a copy unpickled on every run of a page (0.3 s a copy at 100,000 patients).
# Nothing may change them in place; pages derive new frames (assign, filters).

@st.cache_resource(show_spinner="Reading and validating the questionnaire file...", max_entries=4)
def _validated(path: str, stamp: tuple):
    return validate_questionnaires(path)


@st.cache_resource(show_spinner="Reading the clinic store...", max_entries=4)
def _from_store(db: str, stamp: tuple):
    return read_store(db)


def clear_caches() -> None:
    """Forget every cached computation (after an import or a revert changed the store)."""
    st.cache_data.clear()
    st.cache_resource.clear()


def load_report(kind: str, path: Path):
    """Validation report of a data source, or None after showing why it failed."""
    try:
        if kind == "store":
            return _from_store(str(path), store_backend(path).change_stamp())
        return _validated(str(path), _stamp(path))
    except (AnalyticsError, OSError) as exc:
        st.error(f"The data could not be read: {browser_text(exc)}")
        return None


# One outcome table per (data, filters, definitions), computed once and passed to every figure that needs it.
# A patient's outcome rows depend on that patient's questionnaires only, so a filtered cohort's table is the
# rows of the whole source's table for its patients (the same frame: tests/test_dashboard.py pins it); a
# filter change selects rows instead of recomputing.  The cohort itself is a boolean array over the source's
# patients (their start dates and attributes are indexed once per source): its questionnaires are taken from the
# source's only when a page reads them (the Overview reads a few columns), never on every filter change.

def _filtered(filters: tuple) -> bool:
    start_from, start_to, attrs = filters
    return bool(start_from or start_to or any(v for _, v in attrs))


@st.cache_resource(max_entries=4)
def _patient_index(_report, source_key: tuple) -> PatientIndex:
    """The source's patients indexed once: each row's patient code, each patient's start date and attributes."""
    frame = _report.frame
    return patient_index(frame, [c for c in FILTER_COLUMNS if c in frame])


@st.cache_resource(max_entries=32)
def _cohort_mask(_report, source_key: tuple, filters: tuple):
    """The cohort's patients, a boolean array by the source's patient code."""
    start_from, start_to, attrs = filters
    return cohort_mask(_patient_index(_report, source_key), start_from=start_from, start_to=start_to,
                       **{k: list(v) for k, v in attrs})


def _cohort_rows(report, source_key: tuple, filters: tuple):
    """Which of the source's questionnaires are the cohort's (a boolean array by row)."""
    index = _patient_index(report, source_key)
    return _cohort_mask(report, source_key, filters)[index.codes] & (index.codes >= 0)


@st.cache_resource(show_spinner="Selecting the cohort...", max_entries=32)
def _cohort(_report, source_key: tuple, filters: tuple) -> pd.DataFrame:
    """The cohort's questionnaires (the source's frame itself when nothing is filtered)."""
    if not _filtered(filters):
        return _report.frame
    return _report.frame[_cohort_rows(_report, source_key, filters)]


@st.cache_resource(max_entries=32)
def _cohort_columns(_report, source_key: tuple, filters: tuple, columns: tuple) -> pd.DataFrame:
    """Only ``columns`` of the cohort's questionnaires: what the Overview counts (taking every column of a
    large cohort's rows was a third of a filter change)."""
    frame = _report.frame
    columns = [c for c in columns if c in frame]
    if not _filtered(filters):
        return frame[columns]
    rows = _cohort_rows(_report, source_key, filters)

    def take(values: pd.Series):
        if isinstance(values.dtype, pd.CategoricalDtype):  # by its codes: no per-value lookup
            return pd.Categorical.from_codes(values.cat.codes.to_numpy()[rows], dtype=values.dtype)
        return values.array[rows]
    return pd.DataFrame({c: take(frame[c]) for c in columns})


@st.cache_resource(max_entries=32)
def _row_patient_codes(_table, _index, source_key: tuple, what: tuple) -> "np.ndarray":
    """Each row's patient code in the source's patient index, for the whole-source table ``what`` (-1: none)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    try:  # Arrow's hash lookup: pandas' get_indexer converts Arrow-backed text to Python strings first
        found = pc.index_in(pa.array(_table["patient_id"].astype("str")), value_set=pa.array(_index.names))
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    except (pa.ArrowException, TypeError, ValueError):
        return _index.names.get_indexer(_table["patient_id"].astype("str"))


def _rows_of_cohort(table: pd.DataFrame, report, source_key: tuple, filters: tuple, what: tuple) -> pd.DataFrame:
    """The rows of the whole-source per-patient table ``what`` (``table``) whose patient is in the cohort."""
    import numpy as np
    codes = _row_patient_codes(table, _patient_index(report, source_key), source_key, what)
    mask = _cohort_mask(report, source_key, filters)
    rows = np.zeros(len(codes), bool)
    rows[codes >= 0] = mask[codes[codes >= 0]]
    return table[rows].reset_index(drop=True)


@st.cache_resource(max_entries=4)
def _start_dates(_report, source_key: tuple) -> pd.Series:
    """Each patient's treatment start date, for the whole source (a patient's start is the same in any cohort)."""
    return patient_start_dates(_report.frame)


# The whole source's outcome tables are also kept on disk, beside the store's snapshot (analytics.outcome_cache),
# so that a new server process (or a cleared cache) reads them instead of computing them again: 0.3-0.5 s each at
# 100,000 patients, and the Overview needs five.  An import computes those of the default definitions once it has
# committed, so the first visitor after it finds them too.

def outcome_cache_folder(kind: str, path: Path, report) -> str | None:
    """The disk cache folder of this store state's outcome tables, or None (not a store, or no state key)."""
    if kind != "store" or report.frame is None:
        return None
    return cached_outcomes_folder(path, report.frame)


def _disk_cached(source_key: tuple, what: str, compute) -> pd.DataFrame:
    """``compute()``, read from the disk cache of the source's state when it holds ``what``, else written there.

    ``source_key[-1]``: :func:`outcome_cache_folder` of the frame as the store gave it, None for anything else
    (a file, the sample, a frame with infusion numbers derived from sessions)."""
    return cached_table(source_key[-1], what, compute)


@st.cache_resource(show_spinner="Computing outcomes...", max_entries=16)
def _source_outcomes(_report, source_key: tuple, defs: tuple, attributes: bool) -> pd.DataFrame:
    d = OutcomeDefinitions(*defs)
    if not attributes:
        return _disk_cached(source_key, outcomes_key(d), lambda: patient_outcomes(_report.frame, definitions=d,
                                                                               attributes=False))
    # the attribute columns (site, protocol, ..., start date) depend on the episode choice only: computed once
    # per choice and put beside each definitions' table, so a change of mode or week computes no attributes
    return pd.concat([_source_outcomes(_report, source_key, defs, False),
                      _unit_attributes(_report, source_key, d.episodes)], axis=1)


@st.cache_resource(show_spinner="Computing outcomes...", max_entries=4)
def _unit_attributes(_report, source_key: tuple, episodes: str) -> pd.DataFrame:
    """Each unit's attribute columns, start date and quarter, in the rows of this episode choice's table."""
    d = OutcomeDefinitions(episodes=episodes)
    plain = _source_outcomes(_report, source_key, (d.week, d.window_days, d.min_baseline, d.analysis, d.episodes),
                             False)
    return _disk_cached(source_key, attributes_key(episodes),
                        lambda: unit_attributes(_report.frame, plain, episodes, _start_dates(_report, source_key)))


@st.cache_resource(show_spinner="Computing outcomes...", max_entries=32)
def _cohort_outcomes(_report, source_key: tuple, filters: tuple, defs: tuple, attributes: bool):
    patients = _source_outcomes(_report, source_key, defs, attributes)
    if not _filtered(filters):
        # the rows' patient codes are found now, with the whole table: a first filter change only selects rows
        _row_patient_codes(patients, _patient_index(_report, source_key), source_key, ("outcomes", defs, attributes))
        return patients
    return _rows_of_cohort(patients, _report, source_key, filters, ("outcomes", defs, attributes))


def _is_in(values: pd.Series, wanted) -> "np.ndarray":
    """``values.isin(wanted)`` as a boolean array; on Arrow-backed text by Arrow's hash lookup (pandas' own
    isin on such text walks every value in Python: 0.4 s a call at 100,000 patients)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        array = pa.array(values)
        lookup = pa.array(pd.Series(wanted, dtype="object"), type=array.type)
        return pc.fill_null(pc.is_in(array, value_set=lookup), False).to_numpy(zero_copy_only=False).astype(bool)
    except (pa.ArrowException, TypeError, ValueError):
        return np.asarray(values.isin(wanted).to_numpy(), dtype=bool)


def outcomes_for(view: "View", **changes) -> pd.DataFrame:
    """The view's outcome table under the view's definitions with ``changes`` (``analysis=``, ``episodes=``),
    computed once per source and definitions (and cached), and without the attribute columns unless the
    change is none (then it is :attr:`View.patients`)."""
    from dataclasses import replace

    d = replace(view.definitions, **changes)
    if d == view.definitions:
        return view.patients
    source_key, filters, _ = view.key
    defs = (d.week, d.window_days, d.min_baseline, d.analysis, d.episodes)
    patients = _cohort_outcomes(view.report, source_key, filters, defs, False)
    return patients if view.source_ids is None else _with_study_ids_of(patients, view.source_ids)


def _with_study_ids_of(patients: pd.DataFrame, source_ids: pd.Series) -> pd.DataFrame:
    """``patients`` (any frame with the source's ``patient_id``) with the study ids of ``source_ids`` instead."""
    study_of = pd.Series(source_ids.index.to_numpy(), index=source_ids.to_numpy())
    return patients.assign(patient_id=patients["patient_id"].astype("str").map(study_of).to_numpy())


@st.cache_data(show_spinner="Computing the summary...", max_entries=32)
def _summary(_frame, _report, _patients, key: tuple, instrument: str = "phq9"):
    d = OutcomeDefinitions(*key[-1])
    return clinic_summary(_frame, definitions=d, source=_report.source, sha256=_report.sha256,
                          validation=_report.counts, outcomes=_patients, instrument=instrument)


def summary_for(view: "View"):
    """The clinic summary of the view's cohort on the sidebar's instrument (from that instrument's outcome table)."""
    columns = ("patient_id", "complete", view.scale.total)  # what the summary counts
    return _summary(view.questionnaire_columns(columns), view.report, instrument_outcomes_for(view), view.key,
                    view.instrument)


@st.cache_data(show_spinner="Computing outcomes on the chosen instrument...", max_entries=16)
def _instrument_outcomes(_frame, _patients, key: tuple, instrument: str):
    patients = patient_outcomes(_frame, definitions=OutcomeDefinitions(*key[0][-1]), instrument=instrument)
    starts = _patients.drop_duplicates("patient_id").set_index("patient_id")["start_date"]
    patients["start_date"] = starts.reindex(patients["patient_id"]).to_numpy()
    patients["start_quarter"] = quarter_of(patients["start_date"]).to_numpy()
    return patients


def instrument_outcomes_for(view: "View") -> pd.DataFrame:
    """The per-episode outcome table on the sidebar's instrument (``view.patients`` itself for PHQ-9)."""
    if view.instrument == "phq9":
        return view.patients
    # a researcher's frames carry this session's study ids: cached for this session only
    return _instrument_outcomes(view.frame, view.patients, (view.key, st.session_state.get("study_id_secret")),
                                view.instrument)


@st.cache_data(max_entries=4)
def _instruments_in(_report, source_key: tuple) -> tuple:
    """The instrument choices the data have scores for (PHQ-9 always first: it is what every file holds)."""
    f = _report.frame
    return tuple(c for c in INSTRUMENT_CHOICES if c == "phq9"
                 or (OUTCOME_SCALES[c].total in f and f[OUTCOME_SCALES[c].total].notna().any()))


@st.cache_data(show_spinner="Computing the headline figures...", max_entries=32)
def _cards(_frame, _by_mode, _cumulative, key: tuple, stratum):
    from analytics.headline import headline_cards
    return headline_cards(_frame, definitions=OutcomeDefinitions(*key[-1]), stratum=stratum, outcomes=_by_mode,
                          cumulative=_cumulative)


def cards_for(view: "View", stratum):
    """The headline cards of the view's cohort: each analysis mode's outcome table computed once and cached."""
    by_mode = {mode: outcomes_for(view, analysis=mode) for mode in ANALYSIS_MODES}
    # every mode's table is given: the cards read no questionnaire (the patient ids only, for the signature);
    # on the PHQ-9 the summary's Kaplan-Meier figures are of the same table and definitions
    s = summary_for(view) if view.instrument == "phq9" else None
    cumulative = None if s is None else {"response": s.cumulative_response, "remission": s.cumulative_remission}
    return _cards(view.questionnaire_columns(("patient_id",)), by_mode, cumulative, _session_key(view), stratum)


@st.cache_data(show_spinner="Computing re-inductions...", max_entries=32)
def _reinductions(_frame, _every, key: tuple):
    from analytics.episodes import reinduction_summary
    return reinduction_summary(_frame, definitions=OutcomeDefinitions(*key[-1]), outcomes=_every)


def reinductions_for(view: "View"):
    """Second episodes of the view's cohort (from the every-episode outcome table, computed once and cached)."""
    # the every-episode table is given: the summary reads no questionnaire
    return _reinductions(view.questionnaire_columns(("patient_id",)), outcomes_for(view, episodes="all"),
                         _session_key(view))


@st.cache_resource(show_spinner="Computing weekly means...", max_entries=8)
def _source_patient_weeks(_report, source_key: tuple, max_week: int, instrument: str) -> pd.DataFrame:
    """Each patient's mean total in each week, for the whole source (a cohort's weekly means select its rows)."""
    from analytics.trends import patient_week_means
    return patient_week_means(_report.frame, max_week=max_week, instrument=instrument)


def weekly_of(report, source_key: tuple, filters: tuple, max_week: int, instrument: str) -> pd.DataFrame:
    """Mean total by week of the cohort: the rows of the source's per-patient weekly means for its patients,
    summarised (a filter change regroups nothing)."""
    from analytics.trends import weekly_summary
    weeks = _source_patient_weeks(report, source_key, max_week, instrument)
    what = ("weeks", max_week, instrument)
    if _filtered(filters):
        weeks = _rows_of_cohort(weeks, report, source_key, filters, what)
    else:  # found with the whole table (see _cohort_outcomes)
        _row_patient_codes(weeks, _patient_index(report, source_key), source_key, what)
    return weekly_summary(weeks)


#: the questionnaire columns the Overview counts (activity, the summary's questionnaire counts)
OVERVIEW_COLUMNS = ("patient_id", "complete", "day", "assessment_date", "treatment_start_date")


@st.cache_data(show_spinner="Computing the figures...", max_entries=32)
def _overview_figures(_frame, _patients, _outcomes, _report, key: tuple, max_week: int,
                      instrument: str = "phq9") -> dict:
    from analytics.activity import activity_summary, endpoint_completeness
    from analytics.infusions import infusion_outcomes
    from analytics.outcomes import rate_table
    from analytics.trends import cumulative_curve
    d = OutcomeDefinitions(*key[-1])
    source_key, filters = key[0], key[1]
    start_from, start_to, _ = filters
    # the curves, weekly means and quarters are on the sidebar's instrument (_outcomes); the rest on PHQ-9
    dated = _outcomes["start_quarter"].notna().any()
    return {
        "activity": activity_summary(_frame, _patients, start=start_from, end=start_to),
        "completeness": endpoint_completeness(_patients),
        "curves": {m: cumulative_curve(_outcomes, metric=m, definitions=d)
                   for m in OUTCOME_SCALES[instrument].metrics},
        "weekly": weekly_of(_report, source_key, filters, max_week, instrument),
        "by_quarter": (rate_table(_outcomes.dropna(subset=["start_quarter"]), by="start_quarter", definitions=d,
                                  instrument=instrument) if dated else None),
        # on the PHQ-9 the summary has them already (the same table): see overview_figures
        "by_infusions": infusion_outcomes(_patients) if instrument != "phq9" else None,
    }


def overview_figures(view: "View", max_week: int) -> dict:
    """The Overview's other figures of the view's cohort (activity, completeness, curves, weekly means, rates by
    quarter, outcomes by infusions), computed once per cohort and definitions."""
    figures = _overview_figures(view.questionnaire_columns(OVERVIEW_COLUMNS), view.patients,
                                instrument_outcomes_for(view), view.report, _session_key(view), max_week,
                                view.instrument)
    if figures["by_infusions"] is None:  # the summary's, of the same PHQ-9 table (computed once, not twice)
        figures = {**figures, "by_infusions": summary_for(view).by_infusions}
    return figures


def _session_key(view: "View") -> tuple:
    """The view's key, and a researcher's session secret (their tables carry this session's study ids)."""
    return (*view.key[:2], st.session_state.get("study_id_secret") if view.source_ids is not None else None,
            view.key[2])


@st.cache_data(show_spinner="Building the safety worklist...", max_entries=16)
def _worklist(_frame, _report, key: tuple, lost_after_days: int):
    from analytics.safety import safety_worklist
    dates = _report.frame["assessment_date"] if "assessment_date" in _report.frame else pd.Series(dtype="object")
    as_of = dates.max() if dates.notna().any() else pd.NaT  # the whole source's latest date, whatever the filters
    return safety_worklist(_frame, as_of=as_of, lost_after_days=lost_after_days), as_of


def worklist_for(view: "View", lost_after_days: int):
    """The safety worklist of the view's cohort, and the date its days since last contact count to."""
    return _worklist(view.frame, view.report, view.key, lost_after_days)


@st.cache_data(show_spinner="Computing SI on each measure...", max_entries=16)
def _si_measures(_frame, _patients, key: tuple):
    from analytics.safety import si_by_measure
    return si_by_measure(_frame, _patients, definitions=OutcomeDefinitions(*key[-1]))


def si_measures_for(view: "View"):
    """SI at baseline and SI resolution of the view's cohort on PHQ-9 item 9 and (when given) the C-SSRS."""
    return _si_measures(view.frame, view.patients, view.key)


# ----------------------------------------------------------------------------- Trajectories page
# Cached per view and instrument like the Overview's figures: the page's lines and tables are not recomputed from
# every questionnaire on each run (about 1 s at 100,000 patients).

def course_lines(view: "View", max_lines: int):
    """The Trajectories page's course lines: x (study day), y (total) and hover text of up to ``max_lines`` patients
    (a fixed random sample beyond that), one trace with gaps between patients; and how many are drawn, of how many."""
    return _course_lines(view.frame, _session_key(view), view.instrument, max_lines)


@st.cache_data(show_spinner="Drawing the courses...", max_entries=16)
def _course_lines(_frame, key: tuple, instrument: str, max_lines: int):
    import numpy as np

    from analytics.definitions import BASELINE_WINDOW_DAYS, TRENDS_MAX_WEEK
    scale, week = OUTCOME_SCALES[instrument], key[-1][0]
    frame, total = _frame, OUTCOME_SCALES[instrument].total
    scored = (frame["complete"] if scale.is_phq9 else frame[total].notna()) if total in frame else \
        pd.Series(False, index=frame.index)
    complete = frame[scored.to_numpy() & frame["day"].between(BASELINE_WINDOW_DAYS[0],
                                                              7 * max(TRENDS_MAX_WEEK, week + 2)).to_numpy()]
    ids = complete["patient_id"].astype("str").unique()
    shown_ids = ids if len(ids) <= max_lines else np.random.default_rng(0).choice(ids, max_lines, replace=False)
    lines = complete[_is_in(complete["patient_id"].astype("str"), shown_ids)].sort_values(["patient_id", "day"])
    text_ids = lines["patient_id"].astype("str")
    breaks = text_ids.ne(text_ids.shift(-1))
    order = np.argsort(np.r_[np.arange(len(lines)), np.flatnonzero(breaks.to_numpy()) + 0.5], kind="stable")
    gaps = int(breaks.sum())
    xs = np.r_[lines["day"].astype("float64").to_numpy(), np.full(gaps, np.nan)][order]
    ys = np.r_[lines[total].astype("float64").to_numpy() if len(lines) else [], np.full(gaps, np.nan)][order]
    who = np.r_[text_ids.map(chart_text).to_numpy(), np.full(gaps, "")][order]
    return xs, ys, who, len(shown_ids), len(ids)


def case_mix_rates(view: "View", outcomes: pd.DataFrame, by: str) -> pd.DataFrame:
    """Rates of the view's outcome table on its instrument by ``by`` (baseline band, site, protocol)."""
    return _case_mix_rates(outcomes, (view.key, st.session_state.get("study_id_secret")), view.instrument, by)


@st.cache_data(show_spinner="Computing rates by case mix...", max_entries=32)
def _case_mix_rates(_outcomes, key: tuple, instrument: str, by: str) -> pd.DataFrame:
    from analytics.outcomes import rate_table
    return rate_table(_outcomes.dropna(subset=[by]), by=by, definitions=OutcomeDefinitions(*key[0][-1]),
                      instrument=instrument)


# ----------------------------------------------------------------------------- Patient page
# One patient is shown from that patient's rows only: the order of the patient list is computed once per cohort
# and definitions (cached), and the rows are found by the id's code, never by recomputing the registry.

@st.cache_data(max_entries=16)
def _patient_order(_patients, key: tuple) -> list[str]:
    # fullest courses first: patients with an endpoint, then by number of scored questionnaires
    ranked = _patients.assign(_has_end=_patients["endpoint_day"].notna()).sort_values(
        ["_has_end", "n_complete"], ascending=False, kind="stable")
    return pd.unique(ranked["patient_id"].astype("str")).tolist()


def patient_order(view: "View") -> list[str]:
    """The cohort's patients for the Patient page's list, fullest courses first."""
    return _patient_order(view.patients, _session_key(view))


def patient_questionnaires(frame: pd.DataFrame, patient_id: str) -> pd.DataFrame:
    """The rows of one patient (by the id as text), found without converting every row's id to text."""
    ids = frame["patient_id"]
    if isinstance(ids.dtype, pd.CategoricalDtype):
        names = ids.cat.categories.astype("str")
        if not names.has_duplicates:
            code = names.get_indexer([str(patient_id)])[0]
            return frame[ids.cat.codes.to_numpy() == code] if code >= 0 else frame.iloc[:0]
    return frame[(ids.astype("str") == str(patient_id)).to_numpy()]


# ----------------------------------------------------------------------------- Research page
# Each keyed by the view's key (data fingerprint, filters, definitions) and the page's own choices; the study
# ids a researcher's session sees never enter these results (they are group-level), so sessions can share them.

def research_groups(view: "View", by: str, cohorts: tuple) -> pd.DataFrame:
    """The per-patient table the Research page compares: the cohort's patients with the SI-at-baseline label, or,
    by saved cohort, each chosen cohort's patients (``cohorts``: (name, definition JSON) pairs)."""
    # a researcher's frames carry this session's study ids: their table is cached for this session only
    return _research_groups(view.frame, view.patients, (view.key, st.session_state.get("study_id_secret")), by,
                            cohorts)


@st.cache_data(show_spinner=False, max_entries=16)
def _research_groups(_frame, _patients, key: tuple, by: str, cohorts: tuple) -> pd.DataFrame:
    import json

    from analytics.cohorts import apply_cohort
    patients = _patients.assign(si_at_baseline_text=_patients["si_at_baseline"].map(
        {True: "SI at baseline", False: "no SI at baseline"}))
    if by != "cohort":
        return patients
    parts = [apply_cohort(_frame, patients, json.loads(definition)).assign(cohort=name) for name, definition in cohorts]
    return pd.concat(parts, ignore_index=True) if parts else patients.iloc[0:0].assign(cohort="")


@st.cache_data(show_spinner="Comparing the groups...", max_entries=32)
def research_comparison(_groups, key: tuple, by: str, cohorts: tuple, metric: str, _definitions):
    """Rates by group with their tests, and (response, remission) the Kaplan-Meier comparison."""
    from analytics.comparisons import compare_rates, compare_time_to_event
    rates = compare_rates(_groups, by=by, metric=metric)
    tte = (None if metric == "si_resolution"
           else compare_time_to_event(_groups, by=by, metric=metric, definitions=_definitions))
    return rates, tte


@st.cache_data(show_spinner="Computing durability and attrition...", max_entries=16)
def research_durability(_frame, _patients, key: tuple, _definitions):
    """Durability of response, the attrition flow, drop-out by infusion and pre-post effect sizes of the cohort."""
    from analytics.durability import attrition_flow, dropout_by_infusion, prepost_effect_sizes, response_durability
    return (response_durability(_frame, _patients), attrition_flow(_patients, definitions=_definitions),
            dropout_by_infusion(_frame), prepost_effect_sizes(_patients))


@st.cache_data(show_spinner="Fitting the trajectory model (a few seconds, once per cohort and grouping)...",
               max_entries=16)
def research_trajectory(_frame, _groups, key: tuple, by: str, cohorts: tuple):
    """The mixed model of PHQ-9 over weeks by group (a patient in two saved cohorts is modelled once, in the
    first)."""
    from analytics.durability import trajectory_model
    return trajectory_model(_frame, _groups.assign(group=_groups[by].astype("str")).drop_duplicates("patient_id"),
                            by="group")


@st.cache_data(max_entries=4)
def quarters_in(_report, source_key: tuple) -> list[str]:
    starts = _start_dates(_report, source_key).dropna()
    return sorted(quarter_of(starts).dropna().unique(), reverse=True)


@st.cache_data(max_entries=4)
def _choices(_report, source_key: tuple) -> dict:
    f = _report.frame
    return {c: sorted(_distinct_text(f[c])) for c in FILTER_COLUMNS if c in f}


def _distinct_text(values: pd.Series):
    """The distinct values as text (a categorical column: its used categories, without converting every row)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        used = values.dropna().cat.remove_unused_categories().cat.categories
        return pd.unique(used.astype("str"))
    return values.dropna().astype("str").unique()


# ----------------------------------------------------------------------------- the page frame

@dataclass
class View:
    """What a page shows: the filtered cohort under the current definitions.

    The cohort's questionnaires (:attr:`frame`) are taken from the source's when a page first reads them: the
    Overview reads only :meth:`questionnaire_columns`, so a filter change there copies no whole frame.
    """

    kind: str
    report: object
    patients: pd.DataFrame
    definitions: OutcomeDefinitions
    key: tuple
    filter_text: str
    source_ids: pd.Series | None = None  # study id -> the clinic's pseudonym, for researchers' views (never shown)
    #: the sidebar's outcome instrument (a key of OUTCOME_SCALES); ``patients`` stays on PHQ-9 for every page,
    #: the Overview and Trajectories read :func:`instrument_outcomes_for` on this instrument
    instrument: str = "phq9"
    n_patients: int = 0  # patients in the cohort (with questionnaires)

    @property
    def source_frame(self) -> pd.DataFrame:
        """The cohort's questionnaires as in the source (clinic pseudonyms), shared and read-only."""
        return _cohort(self.report, self.key[0], self.key[1])

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The cohort's questionnaires (a researcher's: with this session's study ids)."""
        if self.source_ids is None:
            return self.source_frame
        return _with_study_ids_of(self.source_frame, self.source_ids)

    def questionnaire_columns(self, columns: tuple) -> pd.DataFrame:
        """Only ``columns`` (those the data have) of the cohort's questionnaires."""
        if self.source_ids is not None:  # a researcher's ids: from their own frame
            return self.frame[[c for c in columns if c in self.frame]]
        return _cohort_columns(self.report, self.key[0], self.key[1], tuple(columns))

    @property
    def scale(self) -> OutcomeScale:
        return OUTCOME_SCALES[self.instrument]

    def with_source_ids(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the clinic's pseudonyms back (for a research export, which re-keys them itself)."""
        if self.source_ids is None:
            return frame
        return frame.assign(patient_id=frame["patient_id"].map(self.source_ids).to_numpy())

    @property
    def empty(self) -> bool:
        return self.n_patients == 0

    def caption(self, n: int | None = None, what: str = "", *, scale: OutcomeScale | None = None) -> str:
        """Caption for a chart or rate: n, instrument and its thresholds, definition, mode and spec version.

        ``scale``: the instrument the figure is on; default PHQ-9 (what ``patients`` holds), whatever the sidebar
        says, so a PHQ-9 figure never carries another instrument's name.
        """
        d = self.definitions
        s = scale or OUTCOME_SCALES["phq9"]
        n_text = f"n = {n}. " if n is not None else ""
        episodes = ("all episodes (episodes of one patient are not independent)" if d.episodes == "all"
                    else f"{d.episodes} episode of each patient")
        return (f"{n_text}{what}On the {s.name}: {s.labels[0]}; {s.labels[1]}; eligible: "
                f"{s.eligibility_text(d.min_baseline)}. Week {d.week} (day {d.target_day}, ±{d.window_days} days), "
                f"{MODE_NAMES[d.analysis].lower()}, {episodes}; spec v{SPEC_VERSION}. {self.filter_text}")


def page_setup(title: str, *, subheading: bool = False) -> View:
    """Title, sidebar controls, data banner; when there is nothing to show, explain, add the footer and stop."""
    view = _page_view(title, subheading)
    if view is None:  # the reason is on the page already
        footer()
        st.stop()
    return view


def _page_view(title: str, subheading: bool) -> View | None:
    (st.subheader if subheading else st.title)(title)
    sources = available_sources()
    with st.sidebar:
        st.header("Data")
        kind = st.selectbox("Data source", list(sources), format_func=SOURCE_NAMES.get, key="source")
    report = load_report(kind, sources[kind])
    if report is None:
        return None
    if not report.ok:
        st.error("The data were refused; nothing from them is shown. Fix these problems and reload.")
        show_table(report.errors, width="content")
        return None
    from app_pages.session_data import with_derived_infusions  # infusion numbers from sessions, when absent
    loaded, report = report, with_derived_infusions(kind, sources[kind], report)
    source_key = (kind, str(sources[kind]), report.sha256, report.source, report.counts.get("questionnaires"),
                  report.counts.get("infusion_number"),
                  outcome_cache_folder(kind, sources[kind], report) if report is loaded else None)

    with st.sidebar:
        quarters = quarters_in(report, source_key)
        period = st.selectbox("Treatment start", ["All dates", *quarters, "Custom range"], key="period",
                              help="The cohort: patients whose treatment started in this period.")
        start_from = start_to = None
        if period == "Custom range":
            picked = st.date_input("Start between", value=(), key="range")
            if isinstance(picked, tuple) and len(picked) == 2:
                start_from, start_to = (pd.Timestamp(p) for p in picked)
        elif period != "All dates":
            start_from, start_to = quarter_bounds(period)
        attrs = []
        for col, values in _choices(report, source_key).items():
            chosen = st.multiselect(col.capitalize(), values, key=f"filter_{col}", placeholder="All")
            attrs.append((col, tuple(chosen)))
        definitions = _definitions_controls()
        instrument = _instrument_control(_instruments_in(report, source_key))
    banner(kind, sources[kind], report)

    defs = (definitions.week, definitions.window_days, definitions.min_baseline, definitions.analysis,
            definitions.episodes)
    filters = (start_from.strftime("%Y-%m-%d") if start_from is not None else None,
               start_to.strftime("%Y-%m-%d") if start_to is not None else None, tuple(attrs))
    patients = _cohort_outcomes(report, source_key, filters, defs, True)
    n_patients = int(_cohort_mask(report, source_key, filters).sum()) if _filtered(filters) \
        else _patient_index(report, source_key).patients
    parts = [period if period != "Custom range" else f"{filters[0]} to {filters[1]}"] + \
        [f"{c}: {', '.join(plain(x) for x in v)}" for c, v in attrs if v]  # shown as markdown in captions
    filter_text = "Cohort: " + "; ".join(parts) + "."
    source_ids = None
    if st.session_state.get("role", "director") != "director":
        # researchers see study ids only: a keyed hash with a secret of this session, never the pseudonym
        secret = st.session_state.setdefault("study_id_secret", secrets.token_hex(8))
        patients, source_ids = _with_study_ids(report, source_key, filters, patients, secret)
    view = View(kind, report, patients, definitions, (source_key, filters, defs), filter_text, source_ids,
                instrument, n_patients)
    if view.empty:
        st.warning("No patients match these filters. Widen the treatment-start period or clear the site, "
                   "clinician or protocol filters in the sidebar.", icon=":material/filter_alt_off:")
        return None
    return view


def _with_study_ids(report, source_key: tuple, filters: tuple, patients: pd.DataFrame, secret: str):
    """The outcome table with session study ids in ``patient_id``, and the study id -> pseudonym map of the
    cohort's patients."""
    index = _patient_index(report, source_key)
    unique = pd.Series(index.names[_cohort_mask(report, source_key, filters)], dtype="object").astype("str")
    study = session_study_ids(unique, secret=secret)
    source_of = pd.Series(unique.to_numpy(), index=study.to_numpy())
    return _with_study_ids_of(patients, source_of), source_of


def _definitions_controls() -> OutcomeDefinitions:
    st.header("Definitions")
    spec = OutcomeDefinitions()  # the defaults and allowed ranges are the model's own (analytics.definitions)
    week = st.number_input("Endpoint week", min_value=WEEK_RANGE[0], max_value=WEEK_RANGE[1], value=spec.week,
                           step=1, key="week", help="Target study day is 7 x week. " + GLOSSARY["Study day"])
    window = st.number_input("Window (± days)", min_value=WINDOW_DAYS_RANGE[0], max_value=WINDOW_DAYS_RANGE[1],
                             value=spec.window_days, step=1, key="window")
    min_base = st.number_input("Minimum baseline PHQ-9", min_value=MIN_BASELINE_RANGE[0],
                               max_value=MIN_BASELINE_RANGE[1], value=spec.min_baseline, step=1,
                               key="min_baseline", help="Eligibility for response and remission.")
    analysis = st.selectbox("Analysis mode", ANALYSIS_MODES, key="analysis", format_func=MODE_NAMES.get,
                            help="How patients without a questionnaire in the endpoint window count. "
                                 + " ".join(GLOSSARY[t] for t in ("Completers only", "Intention to treat (ITT)",
                                                                   "Last observation carried forward (LOCF)")))
    st.caption(ANALYSIS_MODE_LABELS[analysis])
    episodes = st.selectbox("Episodes", EPISODE_SELECTIONS, key="episodes", format_func=EPISODE_NAMES.get,
                            help="Which treatment courses count. First: each patient's first induction (what "
                                 "published induction studies report). All: every course is a unit.")
    st.caption(EPISODE_SELECTION_LABELS[episodes])
    try:
        return OutcomeDefinitions(week=int(week), window_days=int(window), min_baseline=int(min_base),
                                  analysis=analysis, episodes=episodes)
    except AnalyticsError as exc:
        st.error(f"{exc} Showing week {spec.week} ± {spec.window_days} days instead.")
        return OutcomeDefinitions(min_baseline=int(min_base), analysis=analysis, episodes=episodes)


def _instrument_control(choices: tuple) -> str:
    """The outcome instrument: PHQ-9, or another scale the data have scores for."""
    names = {c: OUTCOME_SCALES[c].name + (f" (remission ≤ {OUTCOME_SCALES[c].remission_at_most})"
                                          if c.startswith("madrs") else "") for c in choices}
    if st.session_state.get("instrument") not in choices:  # another data source without that instrument
        st.session_state.pop("instrument", None)
    chosen = st.selectbox("Outcome instrument", choices, key="instrument", format_func=names.get,
                          help="The scale the Overview's and Trajectories' outcome figures are computed on; only "
                               "scales these data have scores for are offered. Response, remission and eligibility "
                               "use that scale's own published thresholds, named under every figure. SI figures "
                               "stay on PHQ-9 item 9 (and the C-SSRS screener on the Safety page).")
    scale = OUTCOME_SCALES[chosen]
    st.caption(f"{scale.labels[0]}; {scale.labels[1]}.")
    return chosen


def banner(kind: str, path: Path, report) -> None:
    """Say where the numbers come from; synthetic data says so on every page."""
    if kind == "sample":
        st.info("**Synthetic sample data** — a generated clinic of about 600 patients, no real people. "
                "Import your de-identified exports on the Data page to see your own clinic.",
                icon=":material/science:")
    elif kind == "store":
        st.caption(f"Data: clinic store {plain(path)} — {plain(report.source)}")
    else:
        st.caption(f"Data: {plain(report.source)} (SHA-256 {report.sha256[:12]}...)")


def show_table(frame: pd.DataFrame, **kwargs) -> None:
    """A table for people: readable headers, percentages, yes/no and "—" instead of None/nan/True/False."""
    options = {k: kwargs.pop(k) for k in ("percent_columns", "points_columns", "p_columns") if k in kwargs}
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    st.dataframe(readable_table(frame, **options), **kwargs)


def download(frame: pd.DataFrame, name: str, label: str = "Download (CSV)") -> None:
    """A formula-safe CSV download of a table shown on the page."""
    # the CSV is written when the button is clicked, not on every run of the page; the click needs no rerun
    st.download_button(label, lambda: to_safe_csv(frame), f"{name}.csv", "text/csv", key=f"download_{name}",
                       on_click="ignore")


def footer() -> None:
    st.caption("This dashboard informs clinical review; it does not give clinical advice.")


def translucent(color: str, alpha: float = 0.18) -> str:
    """``#RRGGBB`` as an rgba() fill for interval bands."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def pct(value) -> str:
    return "no data" if value is None or pd.isna(value) else f"{value:.1%}"


def ci(low, high) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "undefined"
    return f"{low:.1%} – {high:.1%}"


def rate_rows(named) -> pd.DataFrame:
    """A table of named Proportion / CumulativeIncidence results, 'no data' for n = 0."""
    return pd.DataFrame([{
        "Outcome": name, "Estimate": how, "n": r.n, "Events": r.events, "Rate": pct(r.estimate),
        "95% CI": ci(r.ci_low, r.ci_high), "Method": r.method,
    } for name, how, r in named])
