"""The sessions table: one row per treatment session, validated like questionnaires.

A clinic's session records (route, dose, blood pressure and heart rate before
dosing, at the post-dose check and at discharge, lowest SpO2, dissociation,
sedation, minutes monitored, adverse events, completed or stopped early) are
checked cell by cell and every problem is reported at once in the problem table
of :mod:`analytics.validation` (line, column, value, problem).  Header problems
(missing or identifying columns, free text) are reported first and alone.

Columns (header case and surrounding spaces ignored):

==========================  ========================================================
``patient_id``              de-identified pseudonym (required)
``session_date`` / ``day``  ISO date, or study day on the questionnaires' scale; when
                            ``session_date`` is a column every row needs a date
``episode``                 optional treatment episode (text code)
``route``                   required; see :data:`ROUTES` for the accepted spellings
``dose_mg``                 mg, > 0 to 1000 (at least one dose column)
``dose_mg_per_kg``          mg/kg, > 0 to 10
``systolic_pre`` ...        systolic/diastolic blood pressure (mmHg) and heart rate
                            (beats/min) at ``_pre`` (before dosing), ``_post`` (the
                            post-dose check) and ``_discharge``
``spo2_lowest``             lowest SpO2, % (50-100)
``dissociation``            CADSS total (0-92) or a clinic's 0-10 rating, the scale named
                            in ``dissociation_scale`` (per row) or the
                            ``dissociation_scale=`` option
``sedation_moaas``          MOAA/S, 0-5 (5 = responds readily to name in a normal tone)
``minutes_monitored``       whole minutes from dosing to discharge (0-1440)
``adverse_events``          terms from :data:`ADVERSE_EVENTS` separated by ``;``, or
                            ``none`` / blank
``completed``               yes/no: was the session completed as planned
==========================  ========================================================

Free text is refused: a column whose header says notes, comments, description and
the like, or any other column holding sentences, can carry names and clinical
detail that a de-identified tool must not hold.  Adverse events are recorded with
the vocabulary, never as free text.  Identifying headers are refused with the same
rules as questionnaire files (:func:`analytics.validation.identifier_column_reason`).

The plausibility ranges are there to catch typing errors (a systolic of 1200), not
to judge care; they are wide on purpose and documented in ``docs/instruments.md``.

The canonical frame is sorted by patient, episode and time, and numbers sessions
within patient and episode in time order (``session_number``, from 1, counting
every session, completed or not).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS, SessionAlignmentError, SessionValidationError
from .instruments import parse_yes_no
from .loading import RawTable, raw_table_from_frame, read_table
from .deidentification import DEIDENTIFIED_ONLY, patient_id_reasons
from .cell_parsing import parse_date, parse_integer, text_codes
from .deidentification import identifier_column_reason
from .problems import ProblemCollector, cap_problems, no_problems
from .definitions import DAY_LIMIT
from .validation import ValidationReport

__all__ = [
    "ROUTES",
    "ADVERSE_EVENTS",
    "ADVERSE_EVENT_COLUMNS",
    "DISSOCIATION_SCALES",
    "VITAL_RANGES",
    "DOSE_MG_RANGE",
    "DOSE_MG_PER_KG_RANGE",
    "MOAAS_RANGE",
    "MINUTES_MONITORED_RANGE",
    "TIME_POINTS",
    "SessionReport",
    "validate_sessions",
    "load_sessions",
    "derive_infusion_numbers",
    "with_infusion_numbers",
    "session_study_days",
]

#: Routes and their accepted spellings (compared trimmed, lower case, punctuation as spaces).
ROUTES = {
    "iv_ketamine": ("iv", "iv ketamine", "intravenous", "intravenous ketamine", "ketamine iv",
                    "ketamine infusion", "infusion"),
    "im_ketamine": ("im", "im ketamine", "intramuscular", "intramuscular ketamine", "ketamine im"),
    "intranasal_esketamine": ("intranasal esketamine", "esketamine", "spravato", "in esketamine",
                              "esketamine nasal spray", "nasal esketamine", "esketamine intranasal"),
    "oral_sublingual_ketamine": ("oral", "sublingual", "oral sublingual", "oral ketamine", "sublingual ketamine",
                                 "oral sublingual ketamine", "sl", "po", "troche", "ketamine troche"),
}
#: Adverse-event vocabulary and accepted spellings; several per session separated by ";".
ADVERSE_EVENTS = {
    "nausea": ("nausea", "nauseous"),
    "vomiting": ("vomiting", "vomit", "vomited", "emesis"),
    "hypertension_treated": ("hypertension needing treatment", "hypertension requiring treatment",
                             "hypertension treated", "treated hypertension", "hypertension_treated"),
    "emergence_reaction": ("emergence reaction", "emergence phenomenon", "emergence delirium",
                           "emergence_reaction"),
    "other": ("other",),
}
#: Boolean column per adverse event in the canonical frame.
ADVERSE_EVENT_COLUMNS = [f"ae_{k}" for k in ADVERSE_EVENTS]
_NO_EVENT = ("none", "no", "nil", "0")
#: Dissociation scales: accepted spellings and the allowed range of each.
DISSOCIATION_SCALES = {
    "cadss": (("cadss", "cadss total"), (0, 92)),
    "0-10": (("0-10", "0 10", "rating", "0-10 rating", "nrs", "clinic rating"), (0, 10)),
}
#: Time points of the vital signs.
TIME_POINTS = ("pre", "post", "discharge")
#: Plausibility ranges (inclusive) that catch typing errors: systolic, diastolic (mmHg), heart rate (/min).
VITAL_RANGES = {"systolic": (50, 260), "diastolic": (20, 160), "heart_rate": (25, 220)}
SPO2_RANGE = (50, 100)
#: Dose plausibility (exclusive of 0): mg and mg/kg.  Not dosing guidance: typo catching.
DOSE_MG_RANGE = (0, 1000)
DOSE_MG_PER_KG_RANGE = (0, 10)
MOAAS_RANGE = (0, 5)
MINUTES_MONITORED_RANGE = (0, 1440)

_FREE_TEXT_HEADER = re.compile(
    r"(^|_)(notes?|comments?|remarks?|descriptions?|details?|narrative|free_?text|text|observations?|"
    r"summary|reason|ae_description|ae_text|other_text|specify)($|_)")
_VITALS = [f"{m}_{t}" for t in TIME_POINTS for m in ("systolic", "diastolic", "heart_rate")]
_KNOWN = {"patient_id", "session_date", "day", "episode", "route", "dose_mg", "dose_mg_per_kg", *_VITALS,
          "spo2_lowest", "dissociation", "dissociation_scale", "sedation_moaas", "minutes_monitored",
          "adverse_events", "completed"}
_DEIDENTIFIED = DEIDENTIFIED_ONLY


def _norm(text: pd.Series) -> pd.Series:
    return text.str.lower().str.replace(r"[^a-z0-9.\-]+", " ", regex=True).str.replace("-", " ", regex=False) \
        .str.strip().str.replace(r"\s+", " ", regex=True)


def _spellings(vocab: dict) -> dict:
    out = {}
    for key, names in vocab.items():
        for name in (key, key.replace("_", " "), *names):
            out[_norm(pd.Series([name])).iloc[0]] = key
    return out


_ROUTE_OF = _spellings(ROUTES)
_AE_OF = _spellings(ADVERSE_EVENTS)
_SCALE_OF = _spellings({k: names for k, (names, _) in DISSOCIATION_SCALES.items()})


@dataclass(frozen=True)
class SessionReport(ValidationReport):
    """Outcome of validating a sessions table: a :class:`ValidationReport` of sessions.

    ``errors`` refuse the table; ``warnings`` leave it usable; ``frame`` is the
    canonical frame when there are no errors; ``counts`` has rows, sessions,
    patients, completed and stopped early.
    """

    error_class: ClassVar[type] = SessionValidationError
    unit: ClassVar[str] = "sessions"
    container: ClassVar[str] = "table"


def load_sessions(source, **kwargs) -> pd.DataFrame:
    """Validate a sessions table and return its canonical frame, or raise with every problem."""
    report = validate_sessions(source, **kwargs)
    report.raise_if_invalid()
    return report.frame


def validate_sessions(source, *, dissociation_scale: str | None = None) -> SessionReport:
    """Validate a sessions table (CSV, XLSX, Parquet path, RawTable or frame).

    Parameters
    ----------
    source : str, pathlib.Path, RawTable or pandas.DataFrame
        Row ``i`` of a frame is reported as line ``i + 2``.
    dissociation_scale : {"cadss", "0-10"}, optional
        The scale of ``dissociation`` when the table has no ``dissociation_scale`` column.

    Returns
    -------
    SessionReport

    Raises
    ------
    UnreadableFileError
        When a path cannot be read at all.
    """
    if isinstance(source, (str, Path)):
        raw = read_table(source)
    elif isinstance(source, pd.DataFrame):
        raw = raw_table_from_frame(source, source="sessions")
    else:
        raw = source
    option_scale = None
    if dissociation_scale is not None:
        option_scale = _SCALE_OF.get(_norm(pd.Series([str(dissociation_scale)])).iloc[0])
        if option_scale is None:
            problems = pd.DataFrame([(None, "dissociation_scale", str(dissociation_scale),
                                      "unknown dissociation scale; allowed: cadss (CADSS total 0-92) or 0-10 "
                                      "(a clinic's 0-10 rating)")], columns=PROBLEM_COLUMNS)
            return SessionReport(raw.source, problems, no_problems(), {"rows_read": len(raw.frame)}, None, raw.sha256)
    schema = _check_schema(raw, option_scale)
    if len(schema):
        return SessionReport(raw.source, cap_problems(schema), no_problems(), {"rows_read": len(raw.frame)}, None, raw.sha256)
    return _check_rows(raw, option_scale)


# ----------------------------------------------------------------------------- header

def _check_schema(raw: RawTable, option_scale) -> pd.DataFrame:
    cols = list(raw.frame.columns)
    header = raw.headers
    rows = list(raw.problems.itertuples(index=False, name=None))
    for col in cols:
        what = identifier_column_reason(col)
        words = re.sub(r"[^a-z0-9]+", "_", str(col).lower()).strip("_")
        if what:
            rows.append((1, header.get(col, col), "",
                         f"the column looks like {what}, a direct identifier; {_DEIDENTIFIED}. "
                         "Remove the column (or replace it with a coded value) and load the table again"))
        elif col not in _KNOWN and _FREE_TEXT_HEADER.search(words):
            rows.append((1, header.get(col, col), "",
                         "the column looks like free text, which can carry names and clinical detail; "
                         f"{_DEIDENTIFIED}. Remove it; record adverse events in adverse_events with the "
                         f"vocabulary ({', '.join(ADVERSE_EVENTS)})"))
    have = set(cols)
    for col, what in (("patient_id", "a de-identified patient pseudonym"),
                      ("route", "the route: " + ", ".join(ROUTES)),
                      ("completed", "yes/no: was the session completed as planned")):
        if col not in have:
            rows.append((1, col, "", f"required column is missing: {what}"))
    if not have & {"session_date", "day"}:
        rows.append((1, "session_date", "", "required column is missing: give 'session_date' (ISO date, "
                                            "YYYY-MM-DD) or 'day' (study day)"))
    if not have & {"dose_mg", "dose_mg_per_kg"}:
        rows.append((1, "dose_mg", "", "required column is missing: give 'dose_mg' (mg) and/or "
                                       "'dose_mg_per_kg' (mg/kg)"))
    if "dissociation" in have and "dissociation_scale" not in have and option_scale is None:
        rows.append((1, "dissociation", "", "the dissociation scale is not named; add a 'dissociation_scale' "
                                            "column (cadss or 0-10) or choose the scale when loading"))
    if raw.frame.empty and not rows:
        rows.append((2, "", "", "the table has a header but no data rows; add at least one session"))
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


# ----------------------------------------------------------------------------- cells

def _parse_number(col: pd.Series):
    """Numbers (decimals allowed) as float64, NaN = blank, plus blank/bad masks."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        vals = col.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        blank = np.isnan(vals)
    else:
        codes, uniques = text_codes(col)
        parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype="float64")
        vals = np.append(parsed, np.nan)[codes]
        blank = codes < 0
    bad = ~blank & ~np.isfinite(vals)
    vals[bad] = np.nan
    return vals, blank, bad


def _whole(df, col, lo, hi, err, what, unit=""):
    """Whole numbers in [lo, hi]; NaN for blank or refused cells."""
    if col not in df:
        return np.full(len(df), np.nan)
    vals, blank, bad = parse_integer(df[col])
    with np.errstate(invalid="ignore"):
        outside = ~bad & ~blank & ((vals < lo) | (vals > hi))
    err.add(bad, col, f"{what} is not a whole number; allowed: a whole number from {lo} to {hi}{unit}, or blank")
    err.add(outside, col, f"{what} is outside the plausible range; allowed: {lo} to {hi}{unit}, or blank")
    vals = vals.copy()
    vals[bad | outside] = np.nan
    return vals


def _vocabulary(col: pd.Series, table: dict):
    """Codes of each cell into ``table``'s keys (via its spellings): -1 blank, -2 unknown."""
    keys = list(dict.fromkeys(table.values()))
    codes, uniques = text_codes(col)
    mapped = _norm(pd.Series(uniques, dtype="str")).map(table)
    u_codes = mapped.map({k: i for i, k in enumerate(keys)}).fillna(-2).to_numpy(dtype=np.int64)
    return np.append(u_codes, -1)[codes], keys


def _adverse_events(col: pd.Series):
    """One boolean array per adverse event, plus the mask of cells with an unknown term.

    Each distinct cell is split once (a file has few distinct combinations)."""
    codes, uniques = text_codes(col)
    n_u = len(uniques)
    flags = {k: np.zeros(n_u + 1, bool) for k in ADVERSE_EVENTS}
    unknown = np.zeros(n_u + 1, bool)
    unknown_terms = np.full(n_u + 1, "", dtype=object)
    terms = pd.Series(uniques, dtype="str").str.split(";").explode()
    norm = _norm(terms.str.strip())
    keep = norm != ""
    norm, owner = norm[keep], terms.index[keep].to_numpy()
    key = norm.map(_AE_OF)
    none_term = norm.isin(_NO_EVENT).to_numpy()
    is_unknown = key.isna().to_numpy() & ~none_term
    np.logical_or.at(unknown, owner[is_unknown], True)
    bad_terms = terms[keep][is_unknown].str.strip()
    first_bad = bad_terms.groupby(level=0).first()
    unknown_terms[first_bad.index.to_numpy()] = first_bad.to_numpy()
    for k in ADVERSE_EVENTS:
        hit = (key == k).to_numpy()
        np.logical_or.at(flags[k], owner[hit], True)
    return {k: v[codes] for k, v in flags.items()}, unknown[codes], unknown_terms[codes]


def _check_rows(raw: RawTable, option_scale) -> SessionReport:
    df = raw.frame
    n = len(df)
    err, warn = ProblemCollector(raw), ProblemCollector(raw)

    pcodes, pnames = text_codes(df["patient_id"])
    err.add(pcodes < 0, "patient_id", "patient_id is blank; every row needs the patient's pseudonym")
    reasons = patient_id_reasons(pnames)  # the questionnaire rules, one check per distinct value
    for what in reasons[reasons != ""].unique():
        hit = (reasons == what).to_numpy()
        err.add(np.append(hit, False)[pcodes], "patient_id",
                f"the patient_id {what}; {_DEIDENTIFIED}: use a study pseudonym (plain numbers are fine)")
    if "episode" in df:
        ecodes, enames = text_codes(df["episode"])
    else:
        ecodes, enames = np.full(n, -1, np.int32), pd.Index([], dtype="str")

    # time: session_date when that column is given (every row), else the study day
    date = np.full(n, np.nan)
    if "session_date" in df:
        date, blank, bad = parse_date(df["session_date"])
        err.add(bad, "session_date", "session_date is not a valid date; allowed: an ISO date YYYY-MM-DD between "
                                     "1900 and 2100")
        err.add(blank, "session_date", "session_date is blank; every session needs its date")
        date[bad] = np.nan
    day = np.full(n, np.nan)
    if "day" in df:
        day, blank, bad = parse_integer(df["day"])
        day = day.copy()
        with np.errstate(invalid="ignore"):
            far = ~bad & ~blank & (np.abs(day) > DAY_LIMIT)
        err.add(bad, "day", "day is not a whole number; allowed: the study day as a whole number, e.g. -3, 0, 14")
        err.add(far, "day", f"day is out of range; allowed: -{DAY_LIMIT} to {DAY_LIMIT}")
        if "session_date" not in df:
            err.add(blank, "day", "day is blank; every session needs its study day (or use session_date)")
        day[bad | far] = np.nan
    when = date if "session_date" in df else day

    # route
    route, route_keys = _vocabulary(df["route"], _ROUTE_OF)
    err.add(route == -1, "route", "route is blank; allowed: " + _allowed(ROUTES))
    err.add(route == -2, "route", "route is not a known route; allowed: " + _allowed(ROUTES))

    # completed
    completed, bad = parse_yes_no(df["completed"])
    err.add(bad, "completed", "completed is not yes or no; allowed: yes/no, y/n, 1/0, true/false")
    err.add(completed.isna().to_numpy() & ~bad, "completed", "completed is blank; say yes or no for every session")
    done = completed.fillna(False).to_numpy(dtype=bool)

    # dose
    doses = {}
    for col, (lo, hi), unit in (("dose_mg", DOSE_MG_RANGE, " mg"), ("dose_mg_per_kg", DOSE_MG_PER_KG_RANGE, " mg/kg")):
        if col not in df:
            doses[col] = np.full(n, np.nan)
            continue
        vals, blank, bad = _parse_number(df[col])
        with np.errstate(invalid="ignore"):
            outside = ~blank & ~bad & ((vals <= lo) | (vals > hi))
        err.add(bad, col, f"{col} is not a number; allowed: a number above {lo} up to {hi}{unit}, or blank")
        err.add(outside, col, f"{col} is outside the plausible range; allowed: above {lo} up to {hi}{unit}")
        vals[outside] = np.nan
        doses[col] = vals
    no_dose = np.isnan(doses["dose_mg"]) & np.isnan(doses["dose_mg_per_kg"])
    raw_blank = np.ones(n, bool)
    for col in doses:
        if col in df:
            raw_blank &= _parse_number(df[col])[1]
    dose_col = "dose_mg" if "dose_mg" in df else "dose_mg_per_kg"
    err.add(done & raw_blank & no_dose, dose_col,
            "a completed session has no dose; give dose_mg or dose_mg_per_kg (blank only when not completed)",
            values="")

    # vital signs
    vitals = {}
    for t in TIME_POINTS:
        for m, (lo, hi) in VITAL_RANGES.items():
            col = f"{m}_{t}"
            unit = " mmHg" if m != "heart_rate" else " beats/min"
            vitals[col] = _whole(df, col, lo, hi, err, col.replace("_", " "), unit)
        sys_, dia = vitals[f"systolic_{t}"], vitals[f"diastolic_{t}"]
        with np.errstate(invalid="ignore"):
            inverted = dia >= sys_
        err.add(inverted, f"diastolic_{t}", f"diastolic is not below systolic at the {t} reading; check whether the "
                                            "two were swapped", kind=f"diastolic >= systolic ({t})")
        one_only = np.isnan(sys_) != np.isnan(dia)
        if f"systolic_{t}" in df or f"diastolic_{t}" in df:
            warn.add(one_only, f"systolic_{t}", f"only one of systolic/diastolic at the {t} reading; the pair is "
                                                "left out of blood-pressure summaries", values="",
                     kind=f"half a blood pressure ({t})")
    spo2 = _whole(df, "spo2_lowest", *SPO2_RANGE, err, "spo2_lowest", " %")
    moaas = _whole(df, "sedation_moaas", *MOAAS_RANGE, err, "sedation_moaas (MOAA/S)")
    minutes = _whole(df, "minutes_monitored", *MINUTES_MONITORED_RANGE, err, "minutes_monitored", " minutes")

    # dissociation with its scale per row
    scale = np.full(n, -1)
    scale_keys = list(DISSOCIATION_SCALES)
    dissociation = np.full(n, np.nan)
    if "dissociation" in df:
        if "dissociation_scale" in df:
            scale, scale_keys = _vocabulary(df["dissociation_scale"], _SCALE_OF)
            err.add(scale == -2, "dissociation_scale", "unknown dissociation scale; allowed: cadss (CADSS total "
                                                       "0-92) or 0-10 (a clinic's 0-10 rating)")
            if option_scale is not None:
                scale = np.where(scale == -1, scale_keys.index(option_scale), scale)
        else:
            scale = np.full(n, scale_keys.index(option_scale))
        vals, blank, bad = parse_integer(df["dissociation"])
        err.add(bad, "dissociation", "dissociation is not a whole number; allowed: a CADSS total 0-92 or a 0-10 "
                                     "rating, or blank")
        err.add(~blank & ~bad & (scale == -1), "dissociation_scale",
                "a dissociation score without its scale; write cadss or 0-10", values="")
        for i, key in enumerate(scale_keys):
            lo, hi = DISSOCIATION_SCALES[key][1]
            with np.errstate(invalid="ignore"):
                outside = (scale == i) & ~blank & ~bad & ((vals < lo) | (vals > hi))
            err.add(outside, "dissociation", f"dissociation is out of range for the {key} scale; allowed: {lo} to {hi}")
        dissociation = np.where(bad | blank, np.nan, vals)

    # adverse events
    if "adverse_events" in df:
        events, unknown, unknown_terms = _adverse_events(df["adverse_events"])
        err.add(unknown, "adverse_events",
                [f"'{t}' is not in the adverse-event vocabulary (free text is refused); allowed: "
                 f"{', '.join(ADVERSE_EVENTS)} or none, several separated by ';'" for t in unknown_terms[unknown]],
                kind="adverse event not in the vocabulary")
    else:
        events = {k: np.zeros(n, bool) for k in ADVERSE_EVENTS}

    # other columns: kept as text attributes unless they hold sentences
    extra = [c for c in df.columns if c not in _KNOWN]
    for c in extra:
        codes, uniques = text_codes(df[c])
        prose = np.append((pd.Series(uniques, dtype="str").str.count(r"\s+") >= 3).to_numpy(), False)[codes]
        err.add(prose, c, "the cell looks like free text (a sentence), which can carry names and clinical detail; "
                          f"{_DEIDENTIFIED}: use short codes or remove the column", kind=f"free text in {c}")

    counts = {"rows_read": n + raw.blank_rows, "blank_rows_skipped": raw.blank_rows}
    if err.parts:
        return SessionReport(raw.source, err.table(), warn.table(), counts, None, raw.sha256)

    # one session per patient, episode and time
    order = np.lexsort((when, ecodes, pcodes))
    p, e, w = pcodes[order], ecodes[order], when[order]
    same = np.zeros(n, bool)
    same[1:] = (p[1:] == p[:-1]) & (e[1:] == e[:-1]) & (w[1:] == w[:-1])
    if same.any():
        first_pos = np.maximum.accumulate(np.where(~same, np.arange(n), 0))
        dup, first = order[same], order[first_pos[same]]
        err.add_rows(pd.DataFrame({
            "line": raw.lines[dup], "column": "session_date" if "session_date" in df else "day",
            "value": df["session_date" if "session_date" in df else "day"].iloc[dup].astype("str").to_numpy(),
            "problem": [f"the same patient and episode has another session at this time (line {f}); keep one row, "
                        "or give the episode when these are separate courses" for f in raw.lines[first]],
            "kind": "two sessions at the same time"}))
        return SessionReport(raw.source, err.table(), warn.table(), counts, None, raw.sha256)

    session_number = pd.Series(np.ones(n, np.int16)).groupby([p, e]).cumsum().to_numpy()
    cols = {
        "patient_id": pd.Categorical.from_codes(p, categories=pnames),
        "episode": pd.Categorical.from_codes(e, categories=enames),
    }
    if "session_date" in df:
        cols["session_date"] = _to_datetime(date[order])
    if "day" in df:
        d = day[order]
        cols["day"] = pd.arrays.IntegerArray(np.nan_to_num(d).astype(np.int16), np.isnan(d))
    cols["session_number"] = session_number.astype(np.int16)
    cols["route"] = pd.Categorical.from_codes(route[order], categories=route_keys)
    for col in doses:
        if col in df:
            cols[col] = pd.array(doses[col][order], dtype="Float64")
    for col, vals in vitals.items():
        if col in df:
            cols[col] = _int_array(vals[order])
    for col, vals in (("spo2_lowest", spo2), ("sedation_moaas", moaas), ("minutes_monitored", minutes)):
        if col in df:
            cols[col] = _int_array(vals[order])
    if "dissociation" in df:
        cols["dissociation"] = _int_array(dissociation[order])
        s = scale[order]
        cols["dissociation_scale"] = pd.Categorical.from_codes(np.where(s < 0, -1, s), categories=scale_keys)
    for k, flags in events.items():
        cols[f"ae_{k}"] = flags[order]
    cols["completed"] = done[order]
    for c in extra:
        codes, uniques = text_codes(df[c])
        cols[c] = pd.Categorical.from_codes(codes[order], categories=uniques)
    cols["line"] = raw.lines[order].astype(np.int32)
    frame = pd.DataFrame(cols)
    counts.update({
        "sessions": n,
        "patients": int(pd.Series(p).nunique()),
        "completed": int(done.sum()),
        "stopped_early": int((~done).sum()),
        "with_adverse_event": int(np.logical_or.reduce([v for v in events.values()]).sum()),
    })
    return SessionReport(raw.source, no_problems(), warn.table(), counts, frame, raw.sha256)


def _allowed(vocab: dict) -> str:
    return "; ".join(f"{k} ({', '.join(v[:4])}{', ...' if len(v) > 4 else ''})" for k, v in vocab.items())


def _int_array(vals: np.ndarray) -> pd.arrays.IntegerArray:
    missing = np.isnan(vals)
    return pd.arrays.IntegerArray(np.where(missing, 0, vals).astype(np.int16), missing)


def _to_datetime(days: np.ndarray) -> np.ndarray:
    whole = np.where(np.isnan(days), np.iinfo(np.int64).min, days).astype(np.int64)
    return whole.view("datetime64[D]").astype("datetime64[s]")


# ----------------------------------------------------------------------------- infusion numbers

def derive_infusion_numbers(questionnaires: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    """The infusion number of each questionnaire, from the sessions table.

    Convention (the input contract's, ``docs/methods.md``): a questionnaire's
    ``infusion_number`` k is the infusion of its episode it was completed **before**,
    so k - 1 infusions had been received.  Here k = 1 + the number of the patient's
    sessions **with a dose** (completed, or stopped part-way with a dose recorded)
    strictly before the questionnaire and on or after the start of the
    questionnaire's episode; a session with no dose (stopped before dosing) is not
    counted.  A questionnaire on the day of a session counts as
    before that day's session (clinics give it before dosing): a baseline on the day
    of the first infusion is 1, one on the day of the third infusion is 3, a follow-up
    after six infusions is 7.

    Episodes: when the questionnaires carry ``episode`` and ``day`` (the canonical
    frame), an episode starts at ``assessment_date - day`` (dates) or day 0 (days), and
    only sessions from that start on are counted; otherwise every session of the
    patient counts.  On the day axis, sessions are matched to episodes by their
    ``episode`` code when it is the episode's number (``2``), else to episode 1.

    Time axis: dates when the sessions have ``session_date`` and the questionnaires
    ``assessment_date``; otherwise study days (``day`` in both).

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Questionnaire frame (``patient_id`` and ``assessment_date`` or ``day``).
    sessions : pandas.DataFrame
        Canonical sessions frame (:func:`load_sessions`).

    Returns
    -------
    pandas.Series
        ``Int16`` aligned with ``questionnaires.index``; ``<NA>`` where the
        questionnaire has no time or its patient has no session in the table.

    Raises
    ------
    SessionAlignmentError
        When the two tables share no time axis.
    """
    q_pid = questionnaires["patient_id"].astype("str").to_numpy()
    s_pid = sessions["patient_id"].astype("str").to_numpy()
    q_episode = questionnaires["episode"].to_numpy(dtype="float64", na_value=np.nan) \
        if "episode" in questionnaires else np.full(len(questionnaires), np.nan)
    if "session_date" in sessions and "assessment_date" in questionnaires:
        s_t = _day_numbers(sessions["session_date"])
        q_t = _day_numbers(questionnaires["assessment_date"])
        if "day" in questionnaires and "episode" in questionnaires:
            start = q_t - questionnaires["day"].to_numpy(dtype="float64", na_value=np.nan)
            start = np.where(np.isnan(start), -np.inf, start)
        else:
            start = np.full(len(questionnaires), -np.inf)
        s_key, q_key = s_pid, q_pid
    elif "day" in sessions and "day" in questionnaires:
        s_t = sessions["day"].to_numpy(dtype="float64", na_value=np.nan)
        q_t = questionnaires["day"].to_numpy(dtype="float64", na_value=np.nan)
        s_key, q_key = s_pid.astype(str), q_pid.astype(str)
        start = np.full(len(questionnaires), -np.inf)
        if "episode" in questionnaires:
            # each episode has its own day 0: a session belongs to the episode its code names (else episode 1)
            code = pd.to_numeric(sessions["episode"].astype("str"), errors="coerce").to_numpy(dtype="float64") \
                if "episode" in sessions else np.full(len(sessions), np.nan)
            code = np.where(np.isnan(code), 1.0, code).astype("int64")
            s_key = np.char.add(np.char.add(s_key, "|"), code.astype(str))
            q_key = np.char.add(np.char.add(q_key, "|"), np.nan_to_num(q_episode, nan=1).astype("int64").astype(str))
            start = np.zeros(len(questionnaires))
    else:
        raise SessionAlignmentError(
            "the sessions and questionnaires share no time axis: give session_date in the sessions and "
            "assessment_date in the questionnaires, or the study day (day) in both")
    # an infusion was received when the session was completed or a dose was recorded (stopped part-way)
    dosed = np.zeros(len(sessions), bool)
    for col in ("dose_mg", "dose_mg_per_kg"):
        if col in sessions:
            dosed |= sessions[col].notna().to_numpy()
    done = (sessions["completed"].to_numpy(dtype=bool) | dosed) & ~np.isnan(s_t)
    s = pd.DataFrame({"key": s_key[done].astype(str), "t": s_t[done]}).sort_values("t", kind="stable")
    s["before"] = s.groupby("key").cumcount() + 1

    def completed_before(times: np.ndarray) -> np.ndarray:
        """Completed sessions of the same key strictly before each time (NaN time -> NaN)."""
        q = pd.DataFrame({"key": np.asarray(q_key).astype(str), "t": times, "row": np.arange(len(times))})
        known = q[np.isfinite(q["t"])].sort_values("t", kind="stable")
        merged = pd.merge_asof(known, s, on="t", by="key", direction="backward", allow_exact_matches=False)
        out = np.where(np.isneginf(times), 0.0, np.nan)
        out[merged["row"].to_numpy()] = merged["before"].fillna(0).to_numpy(dtype="float64")
        return out

    # sessions in [episode start, questionnaire): none for a screening before the start
    number = 1 + np.maximum(completed_before(q_t) - completed_before(start), 0)
    has_sessions = np.isin(q_pid.astype(str), np.unique(s_pid.astype(str)))
    missing = np.isnan(number) | ~has_sessions
    return pd.Series(pd.arrays.IntegerArray(np.where(missing, 0, number).astype(np.int16), missing),
                     index=questionnaires.index, name="infusion_number")


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Dates as whole days since 1970 (float, NaN when missing)."""
    dates = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    return np.where(np.isnat(dates), np.nan, dates.astype("int64").astype("float64"))


def with_infusion_numbers(questionnaires: pd.DataFrame, sessions: pd.DataFrame | None) -> pd.DataFrame:
    """The questionnaires with ``infusion_number`` derived from the sessions when the data have none.

    Given numbers are never replaced: a questionnaire frame that has the column (even
    partly blank, as follow-up visits are) is returned unchanged, as it is when there
    are no sessions or the two tables share no time axis.
    """
    if sessions is None or "infusion_number" in questionnaires or questionnaires.empty:
        return questionnaires
    try:
        numbers = derive_infusion_numbers(questionnaires, sessions)
    except SessionAlignmentError:
        return questionnaires
    return questionnaires.assign(infusion_number=numbers)


def session_study_days(sessions: pd.DataFrame, questionnaires: pd.DataFrame) -> pd.DataFrame:
    """Each session's questionnaire episode and study day, on the questionnaires' own scale.

    With dates in both tables, a session belongs to the patient's latest episode that
    started on or before its date (an episode starts at ``assessment_date - day``;
    a session before the first start belongs to the first episode, with a negative
    day) and its study day counts from that start.  With study days, the session's
    ``day`` is kept and its ``episode`` code names the episode when it is a number
    (else episode 1).  Used to draw sessions on a patient's course and to write
    them with study days only (research exports).

    Returns
    -------
    pandas.DataFrame
        ``episode`` and ``study_day`` (nullable integers) aligned with ``sessions.index``;
        missing where the patient has no questionnaire with a date, or there is no common axis.
    """
    n = len(sessions)
    episode = np.full(n, np.nan)
    day = np.full(n, np.nan)
    if "session_date" in sessions and {"assessment_date", "day"} <= set(questionnaires.columns):
        q_t = _day_numbers(questionnaires["assessment_date"])
        starts = pd.DataFrame({
            "patient": questionnaires["patient_id"].astype("str").to_numpy(),
            "episode": questionnaires["episode"].to_numpy(dtype="float64") if "episode" in questionnaires
            else np.ones(len(questionnaires)),
            "start": q_t - questionnaires["day"].to_numpy(dtype="float64", na_value=np.nan)})
        starts = starts.dropna().drop_duplicates(["patient", "episode"]).sort_values("start", kind="stable")
        s = pd.DataFrame({"patient": sessions["patient_id"].astype("str").to_numpy(),
                          "t": _day_numbers(sessions["session_date"]), "row": np.arange(n)})
        s = s[~np.isnan(s["t"])].sort_values("t", kind="stable")
        back = pd.merge_asof(s, starts.rename(columns={"start": "t0"}), left_on="t", right_on="t0", by="patient",
                             direction="backward")
        fwd = pd.merge_asof(s, starts.rename(columns={"start": "t0"}), left_on="t", right_on="t0", by="patient",
                            direction="forward")
        ep = back["episode"].fillna(fwd["episode"]).to_numpy(dtype="float64")
        t0 = back["t0"].fillna(fwd["t0"]).to_numpy(dtype="float64")
        episode[back["row"].to_numpy()] = ep
        day[back["row"].to_numpy()] = back["t"].to_numpy(dtype="float64") - t0
    elif "day" in sessions:
        day = sessions["day"].to_numpy(dtype="float64", na_value=np.nan)
        code = pd.to_numeric(sessions["episode"].astype("str"), errors="coerce").to_numpy(dtype="float64") \
            if "episode" in sessions else np.full(n, np.nan)
        episode = np.where(np.isnan(code), 1.0, code)
    missing_ep, missing_day = np.isnan(episode), np.isnan(day)
    return pd.DataFrame({
        "episode": pd.arrays.IntegerArray(np.nan_to_num(episode).astype(np.int16), missing_ep),
        "study_day": pd.arrays.IntegerArray(np.nan_to_num(day).astype(np.int32), missing_day),
    }, index=sessions.index)
