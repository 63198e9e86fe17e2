"""Plain-language formatting of numbers and tables for people (pure: no Streamlit).

Rates are percentages, differences are percentage points, p-values are rounded the way a
journal prints them, and tables carry readable headers with no ``None``, ``nan`` or
``True/False`` cells.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .definitions import SIGNIFICANCE_LEVEL, SMALL_CELL_MAX

__all__ = ["NO_DATA", "HEADERS", "GLOSSARY", "percent", "percent_interval", "points", "points_interval",
           "p_value", "readable_header", "readable_table", "cohort_sentence"]

#: What a missing rate reads as: n = 0 is "no data", never 0%.
NO_DATA = "no data"

#: Code-style column names and their plain headers.
HEADERS = {
    "patient_id": "Patient", "study_id": "Study id", "group": "Group", "metric": "Outcome", "label": "Outcome",
    "n": "n", "events": "Events", "rate": "Rate", "ci_low": "95% CI low", "ci_high": "95% CI high",
    "method": "Method", "analysis": "Analysis", "warning": "Note", "start_quarter": "Quarter of treatment start",
    "site": "Site", "clinician": "Clinician", "protocol": "Protocol", "baseline_band": "Baseline severity",
    "diff_ci_low": "Difference, 95% CI low", "diff_ci_high": "Difference, 95% CI high",
    "difference": "Difference", "p_value": "p", "p_adjusted": "p (adjusted)", "test": "Test",
    "comparable": "Like for like", "reason": "Why", "in_denominator": "In the denominator",
    "measure": "Measure", "numerator": "Numerator", "denominator": "Denominator", "quarter": "Quarter",
    "line": "Line", "column": "Column", "value": "Value", "problem": "Problem", "day": "Study day",
    "week": "Week", "at_risk": "Number at risk", "estimate": "Estimate", "std_error": "Standard error",
    "coef": "Coefficient", "term": "Term", "name": "Name", "definition": "Definition", "created": "Saved",
    "created_at": "Saved", "status": "Status", "mean": "Mean", "sd": "SD", "share_of_first": "Share of the first",
    "response": "Response", "remission": "Remission", "si_resolution": "SI resolution", "episode": "Episode",
    "assessment_date": "Date", "infusion_number": "Infusion", "phq9_total": "PHQ-9 total", "gad7_total": "GAD-7 total",
    "complete": "Complete", "last_date": "Last questionnaire", "last_day": "Study day (last)",
    "item9_latest": "Item 9 (latest)", "item9_previous": "Item 9 (previous)", "item9_baseline": "Item 9 (baseline)",
    "phq9_total_latest": "PHQ-9 (latest)", "age_stratum": "Age group", "index_score": "Index PHQ-9",
    "measured_score": "Measured PHQ-9", "met": "Met", "group_a": "Group A", "group_b": "Group B",
    "odds_ratio": "Odds ratio", "or_ci_low": "Odds ratio, 95% CI low", "or_ci_high": "Odds ratio, 95% CI high",
    "p_holm": "p (Holm-adjusted)", "z": "z statistic", "df": "Degrees of freedom",
}
_ITEM = re.compile(r"^(phq9|gad7)_(\d+)$")
_TREATMENT_TERM = re.compile(r"^C\((?P<var>[^)]+)\)\[T\.(?P<level>.+)\]$")


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def percent(value, *, decimals: int = 1) -> str:
    """A share 0-1 as a percentage (``0.1875 -> "18.8%"``); missing -> "no data"."""
    if _missing(value):
        return NO_DATA
    return f"{float(value) * 100:.{decimals}f}%"


def percent_interval(low, high, *, decimals: int = 1) -> str:
    """``"15.7–24.7%"``; "undefined" when either end is missing."""
    if _missing(low) or _missing(high):
        return "undefined"
    return f"{float(low) * 100:.{decimals}f}–{float(high) * 100:.{decimals}f}%"


def points(value, *, decimals: int = 1) -> str:
    """A difference of two shares in percentage points, signed: ``0.031 -> "+3.1 pp"``; missing -> ""."""
    if _missing(value):
        return ""
    v = float(value) * 100
    if round(v, decimals) == 0:
        v = 0.0  # no "-0.0 pp"
    return f"{v:+.{decimals}f} pp"


def points_interval(low, high, *, decimals: int = 1) -> str:
    """``"-2.0 to +5.5 pp"``; "" when either end is missing."""
    if _missing(low) or _missing(high):
        return ""
    return f"{points(low, decimals=decimals)[:-3]} to {points(high, decimals=decimals)}"


def p_value(p) -> str:
    """A p-value as printed in a journal: ``p < 0.001``, ``p = 0.003``, ``p = 0.04``, ``p = 0.05``.

    Below 0.01 three decimals, otherwise two; a value that would round to 0.05 from below
    keeps its digits (``"p = 0.05"`` would hide that it is below 0.05), so ``0.0495`` reads
    ``p = 0.0495``. Missing -> "".
    """
    if _missing(p):
        return ""
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    if p < SIGNIFICANCE_LEVEL and round(p, 2) >= SIGNIFICANCE_LEVEL:
        return f"p = {p:.4f}".rstrip("0")
    if p > 0.99:
        return "p > 0.99"
    return f"p = {p:.2f}"


def readable_header(name) -> str:
    """A plain header for a code-style column name (``diff_ci_low``, ``C(group)[T.Westlake]``)."""
    name = str(name)
    if name in HEADERS:
        return HEADERS[name]
    item = _ITEM.match(name)
    if item:
        return f"{'PHQ-9' if item[1] == 'phq9' else 'GAD-7'} item {item[2]}"
    term = _TREATMENT_TERM.match(name)
    if term:
        return f"{readable_header(term['var'])}: {term['level']} (vs reference)"
    if name == "Intercept":
        return "Intercept (reference group)"
    if "_" in name or (name.islower() and name.isidentifier() and len(name) > 1):
        text = name.replace("_", " ").strip()
        return text[:1].upper() + text[1:]
    return name


def _cell_text(value) -> object:
    if _missing(value):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return value


def readable_table(frame: pd.DataFrame, *, percent_columns=(), points_columns=(), p_columns=()) -> pd.DataFrame:
    """A copy of ``frame`` for people: readable headers, yes/no, "—" for missing, rates as percentages.

    Columns named in ``percent_columns`` (or called ``rate``, ``ci_low``, ``ci_high``) become
    percentages, ``points_columns`` percentage points, ``p_columns`` (or ``p_value``) rounded p-values.
    Number columns without a missing value stay numbers (so they sort).
    """
    out = frame.copy()
    if isinstance(out.index, pd.MultiIndex) or out.index.name is not None:
        out = out.reset_index()
    pct = set(percent_columns) | ({"rate", "ci_low", "ci_high"} & set(out.columns))
    pts = set(points_columns) | ({"difference", "diff_ci_low", "diff_ci_high"} & set(out.columns))
    pv = set(p_columns) | ({"p_value", "p_adjusted", "p_holm"} & set(out.columns))
    for col in out.columns:
        s = out[col]
        if s.dtype.kind == "f" and col not in pct | pts | pv:
            s = out[col] = s.round(3)  # no 1.179182: three decimals are plenty for a person
        if col in pct:
            out[col] = [percent(v) for v in s]
        elif col in pts:
            out[col] = [points(v) for v in s]
        elif col in pv:
            out[col] = [p_value(v) for v in s]
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[col] = [("—" if _missing(v) else f"{v:%Y-%m-%d}") for v in s]
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[col] = [_cell_text(v) for v in s]
        elif pd.api.types.is_numeric_dtype(s.dtype):
            if s.isna().any():  # a column of numbers with gaps: numbers as text beside the "—"
                out[col] = [("—" if _missing(v) else (f"{v:g}" if isinstance(v, float) else str(v))) for v in s]
        elif s.isna().any() or s.dtype == object:
            out[col] = pd.Series([_cell_text(v) for v in s], index=s.index, dtype=object)
    out.columns = [readable_header(c) for c in out.columns]
    return out


def cohort_sentence(definition: dict) -> str:
    """A saved cohort's definition as a sentence: ``{"site": ["North"], "start_from": ...}`` -> "Patients ..."."""
    if not definition:
        return "All patients."
    parts = []
    lo, hi = definition.get("start_from"), definition.get("start_to")
    if lo and hi:
        parts.append(f"whose treatment started between {lo} and {hi}")
    elif lo:
        parts.append(f"whose treatment started on or after {lo}")
    elif hi:
        parts.append(f"whose treatment started on or before {hi}")
    for key, value in definition.items():
        if key in ("start_from", "start_to") or value in (None, [], (), ""):
            continue
        values = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        joined = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
        parts.append(f"with {readable_header(key).lower()} {joined}")
    return ("Patients " + " and ".join(parts) + ".") if parts else "All patients."


#: One sentence per term, for the glossary page and help tooltips.
GLOSSARY = {
    "Kaplan-Meier": "An estimate of the share of patients who reached an outcome by a given day that counts each "
                    "patient only for as long as they were followed, so patients who stopped early neither count "
                    "as failures nor vanish.",
    "Wilson interval": "The 95% confidence interval used for a simple share (events out of n); it stays sensible "
                       "for small n and for shares near 0% or 100%.",
    "Newcombe interval": "The 95% confidence interval for the difference between two shares, built from each "
                         "share's Wilson interval.",
    "Completers only": "Counts only eligible patients who had a questionnaire in the endpoint window; those "
                       "without one are left out of the denominator.",
    "Intention to treat (ITT)": "Counts every eligible patient; a patient with no questionnaire in the endpoint "
                                "window counts as not having reached the outcome.",
    "Last observation carried forward (LOCF)": "Counts every eligible patient, using their last questionnaire "
                                               "before the endpoint window (possibly the baseline) when there is "
                                               "none in the window.",
    "Study day": "Days since the start of a patient's treatment episode (day 0 is the start), used instead of "
                 "calendar dates so patients can be lined up and dates never leave the clinic.",
    "Episode": "One treatment course of a patient, from a treatment start date to the next; a re-induction "
               "starts a second episode.",
    "Spec version": "The version of the written outcome definitions (windows, thresholds, counting rules) behind "
                    "every figure, so two figures with the same version were computed the same way.",
    "Like for like": "A published figure measured the same way as the clinic's (instrument, definition, method, "
                     "analysis, timepoint and population); only then is a statistical test shown.",
    "Percentage points (pp)": "The difference between two percentages: from 20% to 25% is +5 pp (a 25% relative "
                              "increase).",
    "Suppression": f"Hiding any count from 1 to {SMALL_CELL_MAX} patients (and any figure from which it could be worked out) in "
                   "shared reports, so no small group of patients can be recognised.",
}
