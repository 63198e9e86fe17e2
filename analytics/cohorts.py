"""Selecting patients: treatment start dates, quarters, and attribute filters.

A patient's treatment start is ``treatment_start_date`` when given, otherwise
the date of study day 0 (``assessment_date - day``).  Filters act on whole
patients: a patient is in or out with all of their questionnaires.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DefinitionError

__all__ = ["patient_start_dates", "patient_attributes", "select_patients", "quarter_bounds", "quarter_of",
           "COHORT_FILTERS", "check_cohort_definition", "apply_cohort", "PatientIndex", "patient_index",
           "cohort_mask"]

_QUARTER = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


def _patient_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's patient as an integer code, and each code's id as text.

    The same grouping as by ``ids.astype("str")``, but a categorical column (the store's frame) gives its
    codes directly: converting millions of rows to text was most of the time of every function here.
    """
    if isinstance(ids.dtype, pd.CategoricalDtype) and not ids.isna().any():
        names = ids.cat.categories.astype("str")
        if not names.has_duplicates:  # two categories with one text (1 and "1") are one patient as text
            return ids.cat.codes.to_numpy(), names
    codes, names = pd.factorize(ids.astype("str"))
    return codes, pd.Index(names)


def _in_order_of_appearance(codes: np.ndarray) -> np.ndarray:
    """The distinct codes in order of first appearance (as ``unique`` and ``groupby(sort=False)`` give them)."""
    return pd.unique(codes)


def patient_start_dates(questionnaires: pd.DataFrame) -> pd.Series:
    """Treatment start date per patient (``NaT`` when the data have no dates)."""
    q = questionnaires
    codes, names = _patient_codes(q["patient_id"])
    if "treatment_start_date" in q:
        start = q["treatment_start_date"]
    elif "assessment_date" in q:
        start = q["assessment_date"] - pd.to_timedelta(q["day"].astype("float64"), unit="D")
    else:
        index = pd.Index(names.take(_in_order_of_appearance(codes)), name="patient_id")
        return pd.Series(pd.NaT, index=index, dtype="datetime64[s]")
    out = start.groupby(codes, sort=False).min().rename("start_date")
    out.index = pd.Index(names.take(out.index.to_numpy()), name="patient_id")
    return out


def patient_attributes(questionnaires: pd.DataFrame, columns) -> pd.DataFrame:
    """Each patient's first non-blank value of each column (site, clinician, protocol, ...)."""
    codes, names = _patient_codes(questionnaires["patient_id"])
    cols = [c for c in columns if c in questionnaires]
    if not cols:
        return pd.DataFrame(index=pd.Index(names.take(_in_order_of_appearance(codes)), name="patient_id"))
    out = questionnaires[cols].groupby(codes, sort=False, observed=True).first()
    out.index = pd.Index(names.take(out.index.to_numpy()), name="patient_id")
    return out


def quarter_bounds(quarter: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``"2026Q3"`` -> (2026-07-01, 2026-09-30), both days included.

    Raises
    ------
    DefinitionError
        When the text is not a quarter such as 2026Q3.
    """
    m = _QUARTER.match(str(quarter).strip())
    if not m:
        raise DefinitionError(f"quarter={quarter!r} is not a quarter; write it like 2026Q3 (year, Q, 1-4).")
    year, q = int(m.group(1)), int(m.group(2))
    start = pd.Timestamp(year=year, month=3 * q - 2, day=1)
    return start, start + pd.offsets.QuarterEnd(0)


def quarter_of(dates: pd.Series) -> pd.Series:
    """Quarter labels such as ``"2026Q3"`` (missing where the date is)."""
    p = pd.to_datetime(dates).dt.to_period("Q")
    return p.astype("str").str.replace(r"^(\d{4})Q", r"\1Q", regex=True).where(p.notna())


@dataclass(frozen=True)
class PatientIndex:
    """Each patient of a questionnaire frame once, by an integer code: what a cohort filter reads.

    ``codes[i]`` is row i's patient (-1: a row without an id, in no cohort); ``names[c]`` is patient c's id as
    text; ``present[c]`` says patient c has rows; ``start[c]`` is their treatment start date (NaT: unknown) and
    ``attributes`` their first non-blank value of each attribute column, in rows 0, 1, ... by code.  Built once per
    data source, it lets a filter select patients by a boolean array over patients, then rows by ``mask[codes]``,
    instead of grouping every questionnaire again.
    """

    codes: np.ndarray
    names: pd.Index
    present: np.ndarray
    start: pd.Series
    attributes: pd.DataFrame
    columns: tuple[str, ...]  # the frame's columns, for a message naming what a filter may use

    @property
    def patients(self) -> int:
        return int(np.count_nonzero(self.present))


def patient_index(questionnaires: pd.DataFrame, columns=()) -> PatientIndex:
    """The :class:`PatientIndex` of a canonical frame, with the attribute ``columns`` it has (site, clinician, ...)."""
    q = questionnaires
    codes, names = _patient_codes(q["patient_id"])
    codes = np.asarray(codes, dtype=np.int64)
    present = np.zeros(len(names), bool)
    present[codes[codes >= 0]] = True
    by_code = pd.RangeIndex(len(names))
    has = codes >= 0
    if "treatment_start_date" in q or "assessment_date" in q:
        start = q["treatment_start_date"] if "treatment_start_date" in q else \
            q["assessment_date"] - pd.to_timedelta(q["day"].astype("float64"), unit="D")
        start = start[has].groupby(codes[has], sort=False).min().reindex(by_code)
    else:
        start = pd.Series(pd.NaT, index=by_code, dtype="datetime64[s]")
    cols = [c for c in columns if c in q]
    attributes = q.loc[has, cols].groupby(codes[has], sort=False, observed=True).first().reindex(by_code) if cols \
        else pd.DataFrame(index=by_code)
    return PatientIndex(codes=codes, names=pd.Index(names), present=present, start=start.rename("start_date"),
                        attributes=attributes, columns=tuple(c for c in q.columns if c != "line"))


def cohort_mask(index: PatientIndex, *, start_from=None, start_to=None, **attribute_values) -> np.ndarray:
    """Which patients (a boolean array by code) match every filter, as :func:`select_patients` selects them.

    Raises
    ------
    DefinitionError
        A filter names a column the index has no attribute for.
    """
    keep = index.present.copy()
    if start_from is not None:
        keep &= (index.start >= pd.Timestamp(start_from)).fillna(False).to_numpy(dtype=bool)
    if start_to is not None:
        keep &= (index.start <= pd.Timestamp(start_to)).fillna(False).to_numpy(dtype=bool)
    active = {k: v for k, v in attribute_values.items() if v}
    unknown = [k for k in active if k not in index.attributes]
    if unknown:
        raise DefinitionError(f"no column {', '.join(unknown)} in the data; filter on one of "
                              f"{', '.join(index.columns)}.")
    for col, allowed in active.items():
        keep &= index.attributes[col].astype("str").isin([str(a) for a in allowed]).to_numpy(dtype=bool)
    return keep


def select_patients(questionnaires: pd.DataFrame, *, start_from=None, start_to=None,
                    **attribute_values) -> pd.DataFrame:
    """Questionnaires of the patients who match every filter.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame.
    start_from, start_to : date-like, optional
        Treatment start within these dates (both included).
    **attribute_values
        ``site=["North"]``, ``protocol=[...]``: keep patients whose value is
        one of those listed; ``None`` or an empty list means no filter.

    Raises
    ------
    DefinitionError
        A filter names a column the data do not have.
    """
    q = questionnaires
    active = {k: v for k, v in attribute_values.items() if v}
    unknown = [k for k in active if k not in q]
    if unknown:
        raise DefinitionError(f"no column {', '.join(unknown)} in the data; filter on one of "
                              f"{', '.join(c for c in q.columns if c not in ('line',))}.")
    index = patient_index(q, list(active))
    keep = cohort_mask(index, start_from=start_from, start_to=start_to, **active)
    return q[(keep[index.codes] & (index.codes >= 0))]


# ----------------------------------------------------------------------------- saved cohort definitions

#: Filters a cohort definition may hold, and what each means.
COHORT_FILTERS = {
    "site": "list of sites", "clinician": "list of clinicians", "protocol": "list of protocols",
    "diagnosis": "list of diagnoses", "age_band": "list of age bands", "sex": "list of values",
    "baseline_band": "list of PHQ-9 severity bands, e.g. \"moderate (10-14)\"",
    "si_at_baseline": "true or false", "start_from": "ISO date", "start_to": "ISO date",
    "min_infusions": "whole number", "min_questionnaires": "whole number",
}


def check_cohort_definition(definition: dict) -> dict:
    """A cohort definition with its filters checked; raises DefinitionError naming what is wrong."""
    unknown = sorted(set(definition) - set(COHORT_FILTERS))
    if unknown:
        raise DefinitionError(f"unknown cohort filter(s) {', '.join(unknown)}; allowed: "
                              + "; ".join(f"{k} ({v})" for k, v in COHORT_FILTERS.items()))
    out = {}
    for key, value in definition.items():
        if value is None or value == [] or value == "":
            continue
        if key in ("start_from", "start_to"):
            try:
                value = pd.Timestamp(value).strftime("%Y-%m-%d")
            except (ValueError, TypeError):
                raise DefinitionError(f"{key}={value!r} is not a date; use YYYY-MM-DD.") from None
        elif key == "si_at_baseline":
            if not isinstance(value, bool):
                raise DefinitionError(f"si_at_baseline={value!r}; use true or false.")
        elif key in ("min_infusions", "min_questionnaires"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DefinitionError(f"{key}={value!r}; use a whole number of 0 or more.")
        else:
            value = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        out[key] = value
    return out


def apply_cohort(questionnaires: pd.DataFrame, patients: pd.DataFrame, definition: dict) -> pd.DataFrame:
    """The patients (rows of :func:`analytics.patient_outcomes`) a cohort definition selects."""
    d = check_cohort_definition(definition)
    keep = pd.Series(True, index=patients.index)
    ids = patients["patient_id"].astype("str")
    if "start_from" in d or "start_to" in d:
        start = patient_start_dates(questionnaires).reindex(ids).to_numpy()
        start = pd.Series(start, index=patients.index)
        if "start_from" in d:
            keep &= (start >= pd.Timestamp(d["start_from"])).fillna(False)
        if "start_to" in d:
            keep &= (start <= pd.Timestamp(d["start_to"])).fillna(False)
    attrs = [k for k in ("site", "clinician", "protocol", "diagnosis", "age_band", "sex") if k in d]
    if attrs:
        missing = [k for k in attrs if k not in questionnaires]
        if missing:
            raise DefinitionError(f"the data have no column {', '.join(missing)}; the cohort cannot filter on it.")
        values = patient_attributes(questionnaires, attrs).reindex(ids)
        for k in attrs:
            keep &= values[k].astype("str").isin(d[k]).to_numpy()
    if "baseline_band" in d:
        keep &= patients["baseline_band"].astype("str").isin(d["baseline_band"]).to_numpy()
    if "si_at_baseline" in d:
        keep &= patients["si_at_baseline"].astype(bool) == d["si_at_baseline"]
    if "min_questionnaires" in d:
        keep &= patients["n_complete"] >= d["min_questionnaires"]
    if "min_infusions" in d:
        most = questionnaires.groupby(questionnaires["patient_id"].astype("str"))["infusion_number"].max() \
            if "infusion_number" in questionnaires else pd.Series(dtype="float64")
        keep &= (most.reindex(ids).to_numpy(dtype="float64", na_value=np.nan) >= d["min_infusions"])
    return patients[keep.to_numpy()]
