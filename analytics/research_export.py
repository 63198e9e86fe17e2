"""A reproducible, de-identified research dataset for one cohort.

Files: ``patients.csv`` (one row per patient: attributes, baseline, endpoint,
outcomes, times to response/remission), ``questionnaires.csv`` (the long
table, study days only: no calendar dates, per HIPAA Safe Harbor),
``data_dictionary.csv``, ``redcap_import.csv`` with
``redcap_data_dictionary.csv``, ``cohort.json`` (definition, parameters, data
fingerprint, software version) and ``reproduce.py``, a standalone script that
recomputes the headline rates from ``questionnaires.csv`` with pandas and scipy
alone, re-implementing the definitions independently of this package.

Privacy: the dataset leaving the clinic is re-pseudonymised.  Every export
draws new random study ids (per export, so two exports cannot be linked by
their ids, even of the same or overlapping cohorts); the key (study id ->
the clinic's pseudonym) is kept in the clinic's store under the export id
written in ``cohort.json``, never in the export folder.  Without a store the
key is kept nowhere (the export cannot be linked back).  No calendar date is
written, directly or derived: study days only, a treatment-start period as a
year (a quarter only for a cohort of at least ``COHORT_QUARTER_MIN_PATIENTS``),
the year the export was made; a cohort of 1 to ``SMALL_CELL_MAX`` patients is
refused.

Why one module of ~420 lines: the files of one research export (tables, dictionaries,
REDCap files, the generated reproduce script) must agree with each other, so they are written together.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .definitions import (
    BASELINE_WINDOW_DAYS,
    COHORT_QUARTER_MIN_PATIENTS,
    REMISSION_BELOW,
    RESPONSE_FRACTION,
    SI_ITEM_POSITIVE_AT,
    SMALL_CELL_MAX,
    SPEC_VERSION,
    OutcomeDefinitions,
)
from .errors import SmallCohortError
from .exports import neutralise_formulas
from .instruments import GAD7, MADRS, PCL5, PHQ9, QIDS_SR16

__all__ = ["ResearchExport", "write_research_export", "research_sessions", "new_study_ids", "session_study_ids",
           "reproduce_script", "STUDY_ID_LETTERS"]

#: Study ids are letters only (consonants): they never look like a date, a phone number or a word.
STUDY_ID_LETTERS = np.frombuffer(b"BCDFGHJKLMNPQRST", dtype="S1")
_STUDY_ID_LENGTH = 14  # 16 letters ** 14 = 2 ** 56 ids


@dataclass(frozen=True)
class ResearchExport:
    """What :func:`write_research_export` wrote: the files, the export id, and where the key is."""

    files: list
    export_id: str
    patients: int
    key_kept_in: str  # the store's path, or "" when no key was kept

#: Other instruments whose totals ``questionnaires.csv`` carries when the data have them (outcomes and
#: ``reproduce.py`` stay on the PHQ-9; a researcher can compute another instrument's from these).
_OTHER_TOTALS = (QIDS_SR16, MADRS, PCL5)


def _letters(codes: np.ndarray) -> np.ndarray:
    """Rows of 4-bit codes as study ids ``S-XXXX...`` (vectorised)."""
    chars = STUDY_ID_LETTERS[codes].view(f"S{codes.shape[1]}").ravel()
    return np.char.add(b"S-", chars).astype(str)


def new_study_ids(n: int) -> np.ndarray:
    """``n`` distinct random study ids from the operating system's random source."""
    while True:
        raw = np.frombuffer(os.urandom(n * _STUDY_ID_LENGTH), dtype=np.uint8) % 16
        ids = _letters(raw.reshape(n, _STUDY_ID_LENGTH))
        if len(np.unique(ids)) == n:  # a clash is astronomically rare; draw again if it happens
            return ids


def session_study_ids(patient_ids: pd.Series, *, secret: str) -> pd.Series:
    """Stable study ids for a dashboard session: a keyed hash (SipHash) of the pseudonym with a random secret.

    ``secret`` is 16 characters, random per session; without it the ids cannot be linked to the pseudonyms.
    """
    h = pd.util.hash_pandas_object(patient_ids.astype("str"), index=False, hash_key=secret).to_numpy(np.uint64)
    shifts = np.arange(0, 4 * _STUDY_ID_LENGTH, 4, dtype=np.uint64)
    codes = ((h[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8)
    return pd.Series(_letters(codes), index=patient_ids.index)


_PATIENT_COLUMNS = {
    "study_id": ("text", "study id: random, new for this export; the key to the clinic's records stays in the "
                 "clinic's store"),
    "episode": ("integer", "treatment course of the patient (1, 2, ...); study days count from its start"),
    "baseline_day": ("integer", "study day of the baseline questionnaire (latest complete on days "
                                 f"{BASELINE_WINDOW_DAYS[0]} to {BASELINE_WINDOW_DAYS[1]})"),
    "baseline_total": ("integer 0-27", "PHQ-9 total at baseline"),
    "baseline_item9": ("integer 0-3", "PHQ-9 item 9 (suicidal ideation) at baseline"),
    "baseline_band": ("text", "PHQ-9 severity band at baseline (Kroenke 2001)"),
    "eligible": ("true/false", "baseline total >= min_baseline"),
    "si_at_baseline": ("true/false", "baseline item 9 >= 1"),
    "endpoint_day": ("integer", "study day of the endpoint questionnaire"),
    "endpoint_total": ("integer 0-27", "PHQ-9 total at the endpoint"),
    "endpoint_item9": ("integer 0-3", "PHQ-9 item 9 at the endpoint"),
    "endpoint_source": ("text", "'window' or 'carried forward' (LOCF)"),
    "change_pct": ("number", "(endpoint - baseline) / baseline"),
    "response": ("true/false/blank", "endpoint total <= 50% of baseline; blank = outside the denominator"),
    "remission": ("true/false/blank", "endpoint total < 5; blank = outside the denominator"),
    "si_resolved": ("true/false/blank", "endpoint item 9 = 0 among those with SI at baseline"),
    "first_response_day": ("integer", "first day in (0, T] meeting response (eligible patients)"),
    "first_remission_day": ("integer", "first day in (0, T] meeting remission (eligible patients)"),
    "last_followup_day": ("integer", "last complete questionnaire day after baseline (0 if none)"),
}


def write_research_export(questionnaires: pd.DataFrame, patients: pd.DataFrame, *, cohort: dict,
                          definitions: OutcomeDefinitions, out_dir, fingerprint: str,
                          software_version: str = "", db=None, user: str = "local",
                          sessions: pd.DataFrame | None = None) -> ResearchExport:
    """Write the re-pseudonymised research dataset of a cohort into ``out_dir``.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame (all patients; the cohort's are selected here).
    patients : pandas.DataFrame
        :func:`analytics.patient_outcomes` rows of the cohort.
    cohort : dict
        ``{"name", "definition"}``.
    db : path, optional
        The store that keeps the key (study id -> pseudonym), written before
        any file.  None: no key is kept anywhere.
    sessions : pandas.DataFrame, optional
        Canonical sessions frame: adds ``sessions.csv`` (the cohort's sessions under the
        same study ids, study days only; :func:`research_sessions`).

    Raises
    ------
    SmallCohortError
        A cohort of 0 to ``SMALL_CELL_MAX`` patients: nothing is written.
    """
    table_ids = patients["patient_id"].astype("str")
    patient_ids = pd.unique(table_ids.to_numpy())  # with every episode selected, a patient has several rows
    if len(patient_ids) <= SMALL_CELL_MAX:
        raise SmallCohortError(
            f"cohort {cohort.get('name', '')!r} has {len(patient_ids)} patient(s); a research dataset needs at least "
            f"{SMALL_CELL_MAX + 1} (small-cell rule: no group of 1 to {SMALL_CELL_MAX} leaves the clinic), so nothing was "
            "written. Widen the cohort (more sites, a longer treatment-start period).")
    export_id = str(uuid.uuid4())
    key = pd.DataFrame({"patient_id": patient_ids, "study_id": new_study_ids(len(patient_ids))})
    if db is not None:  # the key first: a dataset whose key was lost could never be linked back
        from .store import save_study_key
        save_study_key(export_id, key, cohort=str(cohort.get("name", "")), db=db, user=user)
    study_of = pd.Series(key["study_id"].to_numpy(), index=key["patient_id"].to_numpy())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the selected units' questionnaires: (patient, episode) pairs of the cohort
    units = pd.MultiIndex.from_arrays([table_ids, patients["episode"].astype("int64")])
    q_episode = questionnaires["episode"] if "episode" in questionnaires else pd.Series(1, index=questionnaires.index)
    q = questionnaires[pd.MultiIndex.from_arrays([questionnaires["patient_id"].astype("str"),
                                                  q_episode.astype("int64")]).isin(units)]
    attrs = [c for c in ("site", "clinician", "protocol", "diagnosis", "age_band", "sex") if c in patients]
    table = patients[["patient_id", *attrs, *[c for c in _PATIENT_COLUMNS if c != "study_id"]]].copy()
    table.insert(0, "study_id", study_of.reindex(table_ids).to_numpy())
    table = table.drop(columns="patient_id").sort_values(["study_id", "episode"], ignore_index=True)
    q_cols = [c for c in ["episode", "day", "infusion_number", *PHQ9.items, PHQ9.total, "complete",
                          *GAD7.items, GAD7.total, *(i.total for i in _OTHER_TOTALS)]
              if c in q]  # no calendar dates: study days only
    long = q[q_cols].copy()
    long.insert(0, "study_id", study_of.reindex(q["patient_id"].astype("str")).to_numpy())
    long = long.sort_values([c for c in ("study_id", "episode", "day") if c in long], ignore_index=True)
    written = []

    def save(frame, name):
        path = out / name
        neutralise_formulas(frame).to_csv(path, index=False)
        written.append(path)

    save(table, "patients.csv")
    save(long, "questionnaires.csv")
    dictionary = _dictionary(attrs, ["study_id", *q_cols])
    if sessions is not None:
        session_table = research_sessions(sessions, questionnaires, study_of=study_of, units=units)
        save(session_table, "sessions.csv")
        dictionary = pd.concat([dictionary, _session_dictionary(session_table.columns)], ignore_index=True)
    save(dictionary, "data_dictionary.csv")
    redcap, redcap_dd = _redcap(long)
    save(redcap, "redcap_import.csv")
    save(redcap_dd, "redcap_data_dictionary.csv")
    meta = {"cohort": {"name": _without_dates(str(cohort.get("name", ""))),
                       "definition": _coarse_definition(cohort.get("definition") or {}, len(table))},
            "export_id": export_id, "parameters": definitions.as_dict(), "data_fingerprint": fingerprint,
            "software_version": software_version, "patients": len(table), "questionnaires": len(long),
            **({"sessions": len(session_table)} if sessions is not None else {}),
            "generated_year": datetime.now(timezone.utc).year,
            "privacy": "re-pseudonymised: study ids are random and new for this export; the key to the clinic's "
                       "pseudonyms stays in the clinic's store under export_id"
                       + ("" if db is not None else " (none was kept: this export cannot be linked back)")
                       + ". Study days only; no calendar dates."}
    (out / "cohort.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    written.append(out / "cohort.json")
    (out / "reproduce.py").write_text(reproduce_script())
    written.append(out / "reproduce.py")
    return ResearchExport(written, export_id, len(table), "" if db is None else str(db))


def research_sessions(sessions: pd.DataFrame, questionnaires: pd.DataFrame, *, study_of: pd.Series,
                      units: pd.MultiIndex) -> pd.DataFrame:
    """The cohort's sessions for ``sessions.csv``: study ids of the same key, study days, no dates, no free columns.

    A session is kept when its patient and questionnaire episode (:func:`analytics.sessions.session_study_days`)
    is one of the cohort's ``units``; ``study_of`` maps the clinic's pseudonym to the export's study id.  Only the
    sessions table's own columns are written (extra text columns a clinic added are left out).
    """
    from .sessions import ADVERSE_EVENT_COLUMNS, session_study_days

    place = session_study_days(sessions, questionnaires)
    pid = sessions["patient_id"].astype("str")
    keep = pd.MultiIndex.from_arrays([pid, place["episode"].fillna(1).astype("int64")]).isin(units) \
        & pid.isin(study_of.index).to_numpy()
    cols = [c for c in ("session_number", "route", "dose_mg", "dose_mg_per_kg", "systolic_pre", "diastolic_pre",
                        "heart_rate_pre", "systolic_post", "diastolic_post", "heart_rate_post", "systolic_discharge",
                        "diastolic_discharge", "heart_rate_discharge", "spo2_lowest", "dissociation",
                        "dissociation_scale", "sedation_moaas", "minutes_monitored", *ADVERSE_EVENT_COLUMNS,
                        "completed") if c in sessions]
    out = sessions.loc[keep, cols].copy()
    out.insert(0, "study_day", place.loc[keep, "study_day"])
    out.insert(0, "episode", place.loc[keep, "episode"])
    out.insert(0, "study_id", study_of.reindex(pid[keep]).to_numpy())
    return out.sort_values(["study_id", "episode", "study_day"], ignore_index=True)


def _session_dictionary(columns) -> pd.DataFrame:
    from .sessions import ADVERSE_EVENTS

    desc = {"study_id": ("text", "study id (as in patients.csv)"),
            "episode": ("integer", "the patient's treatment course (as in questionnaires.csv)"),
            "study_day": ("integer", "study day of the session since its episode's start"),
            "session_number": ("integer", "session count within patient and episode of the source, from 1"),
            "route": ("text", "iv_ketamine, im_ketamine, intranasal_esketamine or oral_sublingual_ketamine"),
            "dose_mg": ("number", "dose, mg"), "dose_mg_per_kg": ("number", "dose, mg/kg"),
            "spo2_lowest": ("integer", "lowest SpO2, %"),
            "dissociation": ("integer", "dissociation score on the scale in dissociation_scale"),
            "dissociation_scale": ("text", "cadss (CADSS total 0-92) or 0-10 (a clinic's rating)"),
            "sedation_moaas": ("integer 0-5", "MOAA/S (5 = responds readily to name in a normal tone)"),
            "minutes_monitored": ("integer", "minutes from dosing to discharge"),
            "completed": ("true/false", "the session was completed as planned")}
    for t in ("pre", "post", "discharge"):
        for m, unit in (("systolic", "mmHg"), ("diastolic", "mmHg"), ("heart_rate", "beats/min")):
            desc[f"{m}_{t}"] = ("integer", f"{m.replace('_', ' ')} at the {t} reading, {unit}")
    for k in ADVERSE_EVENTS:
        desc[f"ae_{k}"] = ("true/false", f"adverse event at the session: {k.replace('_', ' ')}")
    return pd.DataFrame([("sessions.csv", c, *desc[c]) for c in columns],
                        columns=["table", "variable", "type", "description"])


_DATE_SHAPES = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{8}")


def _without_dates(text: str) -> str:
    """A cohort name with anything shaped like a date taken out (a name may say '2025-07-01 starters')."""
    return _DATE_SHAPES.sub("[date removed]", text)


def _coarse_definition(definition: dict, patients: int) -> dict:
    """The cohort definition without calendar dates: the treatment-start period as years, or one quarter.

    A quarter is named only when the whole period lies in one and the cohort
    has at least ``COHORT_QUARTER_MIN_PATIENTS`` patients; otherwise the
    year(s).  Dates narrower than a year would let a reader place patients in time.
    """
    out = {k: v for k, v in definition.items() if k not in ("start_from", "start_to")}
    out = {k: ([_without_dates(str(x)) for x in v] if isinstance(v, list) else v) for k, v in out.items()}
    lo, hi = (pd.to_datetime(definition.get(k), errors="coerce") if definition.get(k) else pd.NaT
              for k in ("start_from", "start_to"))
    if pd.isna(lo) and pd.isna(hi):
        return out
    if pd.notna(lo) and pd.notna(hi) and lo.to_period("Q") == hi.to_period("Q") \
            and patients >= COHORT_QUARTER_MIN_PATIENTS:
        out["treatment_start_period"] = str(lo.to_period("Q"))
    else:
        first = "" if pd.isna(lo) else str(lo.year)
        last = "" if pd.isna(hi) else str(hi.year)
        out["treatment_start_period"] = first if first == last else f"{first or 'any'} to {last or 'any'} (years)"
    return out


def _dictionary(attrs, q_cols) -> pd.DataFrame:
    rows = [("patients.csv", c, "text", f"patient attribute from the source: {c}") for c in attrs]
    rows += [("patients.csv", c, t, d) for c, (t, d) in _PATIENT_COLUMNS.items()]
    q_desc = {"study_id": ("text", "study id (as in patients.csv)"),
              "day": ("integer", "study day since the episode's start"),
              "episode": ("integer", "treatment course of the patient (1, 2, ...)"),
              "infusion_number": ("integer", "infusion the questionnaire preceded"),
              "complete": ("true/false", "all PHQ-9 answers present (else left out of outcomes)"),
              PHQ9.total: ("integer 0-27", "PHQ-9 total (blank when incomplete)"),
              GAD7.total: ("integer 0-21", "GAD-7 total"),
              **{i.total: (f"integer 0-{i.total_max}", f"{i.name} total (blank when not given or incomplete)")
                 for i in _OTHER_TOTALS}}
    for c in q_cols:
        if c in q_desc:
            kind, desc = q_desc[c]
        else:  # an item column such as phq9_3
            kind, desc = "integer 0-3", f"{'PHQ-9' if c.startswith('phq9') else 'GAD-7'} item {c.split('_')[1]}"
        rows.append(("questionnaires.csv", c, kind, desc))
    return pd.DataFrame(rows, columns=["table", "variable", "type", "description"])


def _redcap(long: pd.DataFrame):
    """A repeating 'phq9' instrument: record_id, redcap_repeat_instrument, redcap_repeat_instance, fields."""
    fields = [c for c in long.columns if c not in ("study_id", "complete")]
    rc = long[fields].copy()
    rc.insert(0, "redcap_repeat_instance", long.groupby("study_id").cumcount().to_numpy() + 1)
    rc.insert(0, "redcap_repeat_instrument", "phq9")
    rc.insert(0, "record_id", long["study_id"].to_numpy())
    rc = rc.rename(columns={"day": "study_day"})
    header = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
              "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
              "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
              "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
              "Matrix Ranking?", "Field Annotation"]
    dd = [["record_id", "phq9", "", "text", "Record ID (study id)", "", "", "", "", "", "", "", "", "", "",
           "", "", ""]]
    answers = "0, Not at all | 1, Several days | 2, More than half the days | 3, Nearly every day"
    for c in rc.columns[3:]:
        if c.startswith(("phq9_", "gad7_")) and not c.endswith("total"):
            dd.append([c, "phq9", "", "radio", c.replace("_", " item ").upper(), answers, "", "", "", "", "", "",
                       "", "", "", "", "", ""])
        else:
            dd.append([c, "phq9", "", "text", c.replace("_", " "), "", "", "integer", "", "", "", "", "", "", "",
                       "", "", ""])
    return rc, pd.DataFrame(dd, columns=header)


def reproduce_script() -> str:
    """The standalone ``reproduce.py`` of a research export, its fixed thresholds written from
    :mod:`analytics.definitions` (the parameters a user chooses are read from ``cohort.json``)."""
    rules = "\n".join(f"{name} = {value!r}" for name, value in (
        ("SPEC_VERSION", SPEC_VERSION), ("BASELINE_WINDOW_DAYS", BASELINE_WINDOW_DAYS),
        ("RESPONSE_FRACTION", RESPONSE_FRACTION), ("REMISSION_BELOW", REMISSION_BELOW),
        ("SI_ITEM_POSITIVE_AT", SI_ITEM_POSITIVE_AT)))
    return _REPRODUCE_HEAD + rules + "\n" + _REPRODUCE_BODY


_REPRODUCE_HEAD = '''"""Recompute the headline rates of this research export from questionnaires.csv.

Standalone: needs only pandas and scipy.  It re-implements the outcome
definitions recorded in cohort.json one episode at a time, so its figures are
an independent check of the tool's.  Usage:

    python reproduce.py            # prints JSON: response, remission, si_resolution
"""
import json
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest

# The fixed rules of the outcome definitions, as the tool defined them when it wrote this file.
'''

_REPRODUCE_BODY = '''
HERE = Path(__file__).resolve().parent
params = json.loads((HERE / "cohort.json").read_text())["parameters"]
if str(params.get("spec_version", SPEC_VERSION)) != SPEC_VERSION:
    raise SystemExit(f"cohort.json is spec v{params['spec_version']}, this script implements spec v{SPEC_VERSION}: "
                     "use the reproduce.py written with that export.")
week, window, min_base, mode = params["week"], params["window_days"], params["min_baseline"], params["analysis"]
T = 7 * week
lo, hi = T - window, T + window

q = pd.read_csv(HERE / "questionnaires.csv", dtype={"study_id": str})
if "episode" not in q:
    q["episode"] = 1
if "phq9_9" not in q:  # a totals-only export: item 9 unknown everywhere
    q["phq9_9"] = float("nan")
q = q[q["complete"].astype(str).str.lower() == "true"]

counts = {"response": [0, 0], "remission": [0, 0], "si_resolution": [0, 0]}
for (sid, episode), rows in q.groupby(["study_id", "episode"]):
    rows = rows.sort_values("day")
    base = rows[(rows["day"] >= BASELINE_WINDOW_DAYS[0]) & (rows["day"] <= BASELINE_WINDOW_DAYS[1])]
    if base.empty:
        continue
    b = base.iloc[-1]
    in_window = rows[(rows["day"] > 0) & (rows["day"] >= lo) & (rows["day"] <= hi)].copy()
    end = None
    if len(in_window):
        in_window["dist"] = (in_window["day"] - T).abs()
        end = in_window.sort_values(["dist", "day"]).iloc[0]
    elif mode == "locf":
        before = rows[(rows["day"] >= b["day"]) & (rows["day"] < lo)]
        end = before.iloc[-1] if len(before) else None
    eligible = b["phq9_total"] >= min_base
    si = b["phq9_9"] >= SI_ITEM_POSITIVE_AT
    for name, include, met in (
        ("response", eligible, end is not None and end["phq9_total"] <= RESPONSE_FRACTION * b["phq9_total"]),
        ("remission", eligible, end is not None and end["phq9_total"] < REMISSION_BELOW),
        # an endpoint whose item 9 is unknown leaves the SI denominator in every mode
        ("si_resolution", si and not (end is not None and pd.isna(end["phq9_9"])),
         end is not None and end["phq9_9"] == 0),
    ):
        if include and (end is not None or mode != "completer"):
            counts[name][1] += 1
            counts[name][0] += int(bool(met))

out = {}
for name, (events, n) in counts.items():
    if n == 0:
        out[name] = {"n": 0, "events": 0, "rate": None, "ci_low": None, "ci_high": None}
        continue
    ci = binomtest(events, n).proportion_ci(method="wilson")
    out[name] = {"n": n, "events": events, "rate": events / n, "ci_low": ci.low, "ci_high": ci.high}
print(json.dumps(out, indent=2))
'''
