"""A reproducible, de-identified research dataset for one cohort.

Files: ``patients.csv`` (one row per patient: attributes, baseline, endpoint,
outcomes, times to response/remission), ``questionnaires.csv`` (the long
table, study days only: no calendar dates, per HIPAA Safe Harbor),
``data_dictionary.csv``, ``redcap_import.csv`` with
``redcap_data_dictionary.csv``, ``cohort.json`` (definition, parameters, data
fingerprint, software version) and ``reproduce.py``, a standalone script that
recomputes the headline rates from ``questionnaires.csv`` with pandas and scipy
alone, re-implementing the definitions independently of this package.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .definitions import OutcomeDefinitions
from .exports import neutralise_formulas
from .instruments import GAD7, PHQ9

__all__ = ["write_research_export", "REPRODUCE_SCRIPT"]

_PATIENT_COLUMNS = {
    "patient_id": ("text", "study pseudonym (as in the source; no direct identifiers)"),
    "episode": ("integer", "treatment course of the patient (1, 2, ...); study days count from its start"),
    "baseline_day": ("integer", "study day of the baseline questionnaire (latest complete on days -30 to 0)"),
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
                          software_version: str = "") -> list[Path]:
    """Write the research dataset of a cohort into ``out_dir``.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame (all patients; the cohort's are selected here).
    patients : pandas.DataFrame
        :func:`analytics.patient_outcomes` rows of the cohort.
    cohort : dict
        ``{"name", "definition"}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the selected units' questionnaires: (patient, episode) pairs of the cohort
    units = pd.MultiIndex.from_arrays([patients["patient_id"].astype("str"), patients["episode"].astype("int64")])
    q_episode = questionnaires["episode"] if "episode" in questionnaires else pd.Series(1, index=questionnaires.index)
    q = questionnaires[pd.MultiIndex.from_arrays([questionnaires["patient_id"].astype("str"),
                                                  q_episode.astype("int64")]).isin(units)]
    attrs = [c for c in ("site", "clinician", "protocol", "diagnosis", "age_band", "sex") if c in patients]
    p_cols = ["patient_id", *attrs, *[c for c in _PATIENT_COLUMNS if c != "patient_id"]]
    table = patients[p_cols].copy()
    table["patient_id"] = table["patient_id"].astype("str")
    q_cols = [c for c in ["patient_id", "episode", "day", "infusion_number", *PHQ9.items, PHQ9.total, "complete",
                          *GAD7.items, GAD7.total] if c in q]  # no calendar dates: study days only
    long = q[q_cols].assign(patient_id=q["patient_id"].astype("str")).sort_values(
        [c for c in ("patient_id", "episode", "day") if c in q_cols])
    written = []

    def save(frame, name):
        path = out / name
        neutralise_formulas(frame).to_csv(path, index=False)
        written.append(path)

    save(table, "patients.csv")
    save(long, "questionnaires.csv")
    save(_dictionary(attrs, q_cols), "data_dictionary.csv")
    redcap, redcap_dd = _redcap(long)
    save(redcap, "redcap_import.csv")
    save(redcap_dd, "redcap_data_dictionary.csv")
    meta = {"cohort": cohort, "parameters": definitions.as_dict(), "data_fingerprint": fingerprint,
            "software_version": software_version, "patients": len(table), "questionnaires": len(long),
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "privacy": "study days only (no calendar dates); pseudonyms as in the source"}
    (out / "cohort.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    written.append(out / "cohort.json")
    (out / "reproduce.py").write_text(REPRODUCE_SCRIPT)
    written.append(out / "reproduce.py")
    return written


def _dictionary(attrs, q_cols) -> pd.DataFrame:
    rows = [("patients.csv", c, "text", f"patient attribute from the source: {c}") for c in attrs]
    rows += [("patients.csv", c, t, d) for c, (t, d) in _PATIENT_COLUMNS.items()]
    q_desc = {"patient_id": ("text", "study pseudonym"), "day": ("integer", "study day since the episode's start"),
              "episode": ("integer", "treatment course of the patient (1, 2, ...)"),
              "infusion_number": ("integer", "infusion the questionnaire preceded"),
              "complete": ("true/false", "all PHQ-9 answers present (else left out of outcomes)"),
              PHQ9.total: ("integer 0-27", "PHQ-9 total (blank when incomplete)"),
              GAD7.total: ("integer 0-21", "GAD-7 total")}
    for c in q_cols:
        if c in q_desc:
            kind, desc = q_desc[c]
        else:  # an item column such as phq9_3
            kind, desc = "integer 0-3", f"{'PHQ-9' if c.startswith('phq9') else 'GAD-7'} item {c.split('_')[1]}"
        rows.append(("questionnaires.csv", c, kind, desc))
    return pd.DataFrame(rows, columns=["table", "variable", "type", "description"])


def _redcap(long: pd.DataFrame):
    """A repeating 'phq9' instrument: record_id, redcap_repeat_instrument, redcap_repeat_instance, fields."""
    fields = [c for c in long.columns if c not in ("patient_id", "complete")]
    rc = long[fields].copy()
    rc.insert(0, "redcap_repeat_instance", long.groupby("patient_id").cumcount().to_numpy() + 1)
    rc.insert(0, "redcap_repeat_instrument", "phq9")
    rc.insert(0, "record_id", long["patient_id"].to_numpy())
    rc = rc.rename(columns={"day": "study_day"})
    header = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
              "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
              "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
              "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
              "Matrix Ranking?", "Field Annotation"]
    dd = [["record_id", "phq9", "", "text", "Record ID (study pseudonym)", "", "", "", "", "", "", "", "", "", "",
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


REPRODUCE_SCRIPT = '''"""Recompute the headline rates of this research export from questionnaires.csv.

Standalone: needs only pandas and scipy.  It re-implements the outcome
definitions recorded in cohort.json (spec v2) one episode at a time, so its
figures are an independent check of the tool's.  Usage:

    python reproduce.py            # prints JSON: response, remission, si_resolution
"""
import json
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest

HERE = Path(__file__).resolve().parent
params = json.loads((HERE / "cohort.json").read_text())["parameters"]
week, window, min_base, mode = params["week"], params["window_days"], params["min_baseline"], params["analysis"]
T = 7 * week
lo, hi = T - window, T + window

q = pd.read_csv(HERE / "questionnaires.csv", dtype={"patient_id": str})
if "episode" not in q:
    q["episode"] = 1
if "phq9_9" not in q:  # a totals-only export: item 9 unknown everywhere
    q["phq9_9"] = float("nan")
q = q[q["complete"].astype(str).str.lower() == "true"]

counts = {"response": [0, 0], "remission": [0, 0], "si_resolution": [0, 0]}
for (pid, episode), rows in q.groupby(["patient_id", "episode"]):
    rows = rows.sort_values("day")
    base = rows[(rows["day"] >= -30) & (rows["day"] <= 0)]
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
    si = b["phq9_9"] >= 1
    for name, include, met in (
        ("response", eligible, end is not None and end["phq9_total"] <= 0.5 * b["phq9_total"]),
        ("remission", eligible, end is not None and end["phq9_total"] < 5),
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
