"""Quality-measure style outcomes with long follow-up (CMS159, HEDIS DRR-E, CMS160 / DMS-E style).

* Index event: the patient's first complete PHQ-9 above 9 (with a depression
  diagnosis when a ``diagnosis`` column exists).
* Remission at 12 months (after CMS159v12 / MIPS 370 / NQF 0710): the **most
  recent** complete PHQ-9 in the measurement window, 365 days after the index
  +/- ``window_days`` (default 60, CMS159v12; v6 used 30), is below 5.
* Response and remission at 4-8 months (after HEDIS DRR-E): the latest PHQ-9
  120-240 days after the index; response = a fall of at least 50% from the
  index score, remission = below 5.
* PHQ-9 utilisation (after CMS160 / HEDIS DMS-E): among patients in care during
  a four-month period (January-April, May-August, September-December: first
  questionnaire on or before its end, last on or after its start), the share
  with a complete PHQ-9 in it.

The denominator is every index patient whose window (or period) *closes* in
the reporting period, so everyone in it has had the whole window; no PHQ-9 in
the window counts as not met (as in CMS159).  Denominator exclusions
(bipolar disorder, personality disorder, psychotic disorders, pervasive
developmental disorder; death, hospice, palliative care, long-term
nursing-home residence) apply when the data carry them; each measure says
which it could not check.  Every measure carries a patient-level list (for
the clinic director, to audit a number) and, when an age band or age exists,
the 12-17 / 18+ strata.  These are measure-*style* figures for internal and
registry reporting, not certified measure submissions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .definitions import (
    QUALITY_12M_DAYS,
    QUALITY_12M_WINDOW_DAYS,
    QUALITY_ADOLESCENT_FROM_AGE,
    QUALITY_ADULT_FROM_AGE,
    QUALITY_AGE_STRATA,
    QUALITY_DEPRESSION_PATTERN,
    QUALITY_DIAGNOSIS_EXCLUSIONS,
    QUALITY_DRR_WINDOW_DAYS,
    QUALITY_INDEX_ABOVE,
    QUALITY_SPECIFICATIONS,
    QUALITY_STATUS_EXCLUSIONS,
    QUALITY_UTILISATION_PERIOD_STARTS,
    REMISSION_BELOW,
    RESPONSE_MIN_FALL,
)
from .outcomes import meets_remission, meets_response
from .statistics import Proportion, wilson_proportion

__all__ = ["QualityMeasure", "quality_measures", "quality_audit_list", "MEASURE_STYLE_LABEL"]

#: Printed with every measure.
MEASURE_STYLE_LABEL = "measure-style, not certified"
INDEX_ABOVE = QUALITY_INDEX_ABOVE  # kept for callers of the earlier name
_TRUE = {"1", "true", "yes", "y", "t"}
#: The age stratum outside the measure (younger than its adolescent stratum).
_UNDER_AGE = f"under {QUALITY_ADOLESCENT_FROM_AGE}"
_LIST_COLUMNS = ["patient_id", "age_stratum", "index_date", "index_score", "excluded", "in_denominator",
                 "measured_date", "measured_score", "met"]


@dataclass(frozen=True)
class QualityMeasure:
    """One measure: its name, plain-words definition, result, strata and audit list.

    ``patients`` is the patient-level list behind the number (one row per
    candidate patient: exclusion, whether in the denominator, the
    questionnaire that decided it, met or not): for the clinic director only,
    never for export.
    """

    name: str
    definition: str
    result: Proportion
    specification: str = ""
    label: str = MEASURE_STYLE_LABEL
    strata: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["stratum", "n", "events", "rate", "ci_low", "ci_high"]))
    exclusions_checked: tuple = ()
    exclusions_unchecked: tuple = ()
    patients: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_LIST_COLUMNS))


def quality_measures(questionnaires: pd.DataFrame, patients: pd.DataFrame, *, period_start, period_end,
                     window_days: int = QUALITY_12M_WINDOW_DAYS) -> list[QualityMeasure]:
    """12-month remission, 4-8-month response and remission, and PHQ-9 utilisation, for the reporting period.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame (with ``assessment_date``; attribute columns such as
        ``diagnosis``, ``age_band`` or the exclusion flags are read from it).
    patients : pandas.DataFrame
        The patients to consider (``patient_id``), e.g. :func:`analytics.patient_outcomes`.
    period_start, period_end : date-like
        The reporting period (both days included).
    window_days : int
        Half-width of the 12-month window (default 60).

    Returns
    -------
    list of QualityMeasure
        Remission at 12 months, response at 4-8 months, remission at 4-8
        months, then one utilisation measure per four-month period closing in
        the reporting period (or one "no data" utilisation measure when none does).
    """
    lo, hi = pd.Timestamp(period_start), pd.Timestamp(period_end)
    ids = set(patients["patient_id"].astype("str"))
    q = questionnaires[questionnaires["patient_id"].astype("str").isin(ids)]
    q = q.assign(patient_id=q["patient_id"].astype("str"))
    checked, unchecked = _exclusion_coverage(q)
    if "assessment_date" not in q or q["assessment_date"].isna().all():
        return _without_dates(window_days, checked, unchecked)
    q = q[q["assessment_date"].notna()].assign(assessment_date=pd.to_datetime(q["assessment_date"]))
    people = _patient_attributes(q)
    done = q[q["complete"].astype(bool)].sort_values(["patient_id", "assessment_date"], kind="stable")
    elevated = done[done["phq9_total"] > QUALITY_INDEX_ABOVE].drop_duplicates("patient_id")
    index = people.join(elevated.set_index("patient_id")[["assessment_date", "phq9_total"]]
                        .rename(columns={"assessment_date": "index_date", "phq9_total": "index_score"}), how="inner")
    index = index[index["depression"]]
    follow = done[["patient_id", "assessment_date", "phq9_total"]].merge(
        index[["index_date"]], left_on="patient_id", right_index=True)
    follow["after"] = (follow["assessment_date"] - follow["index_date"]).dt.days

    results = []
    lo12, hi12 = QUALITY_12M_DAYS - window_days, QUALITY_12M_DAYS + window_days
    name, text = _names(window_days)[0]
    results.append(_windowed(index, follow, lo12, hi12, lo, hi, name, text, QUALITY_SPECIFICATIONS["remission_12m"],
                             lambda score, base: meets_remission(score), checked, unchecked))
    a, b = QUALITY_DRR_WINDOW_DAYS
    (n2, t2), (n3, t3) = _names(window_days)[1:]
    results.append(_windowed(index, follow, a, b, lo, hi, n2, t2, QUALITY_SPECIFICATIONS["drr"],
                             meets_response, checked, unchecked))
    results.append(_windowed(index, follow, a, b, lo, hi, n3, t3, QUALITY_SPECIFICATIONS["drr"],
                             lambda score, base: meets_remission(score), checked, unchecked))
    results += _utilisation(q, people, lo, hi, checked, unchecked)
    return results


def quality_audit_list(measures: list[QualityMeasure]) -> pd.DataFrame:
    """Every measure's patient-level list in one frame (``measure`` first): for the clinic director only."""
    parts = [m.patients.assign(measure=m.name) for m in measures if len(m.patients)]
    if not parts:
        return pd.DataFrame(columns=["measure", *_LIST_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    return out[["measure", *_LIST_COLUMNS]]


def _windowed(index, follow, first_day, last_day, lo, hi, name, text, spec, meets, checked, unchecked):
    """The most recent complete PHQ-9 ``first_day``-``last_day`` days after the index meets the criterion."""
    closes = index["index_date"] + pd.Timedelta(days=last_day)
    cand = index[closes.between(lo, hi)]
    denom = cand[cand["excluded"] == ""]
    w = follow[follow["patient_id"].isin(denom.index) & follow["after"].between(first_day, last_day)]
    pick = w.drop_duplicates("patient_id", keep="last").set_index("patient_id")  # sorted by date: most recent
    listing = pd.DataFrame({"patient_id": cand.index, "age_stratum": cand["age_stratum"].to_numpy(),
                            "index_date": cand["index_date"].to_numpy(), "index_score": cand["index_score"].to_numpy(),
                            "excluded": cand["excluded"].to_numpy(),
                            "in_denominator": (cand["excluded"] == "").to_numpy()})
    listing["measured_date"] = pick["assessment_date"].reindex(listing["patient_id"]).to_numpy()
    listing["measured_score"] = pick["phq9_total"].reindex(listing["patient_id"]).to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        met = meets(listing["measured_score"].to_numpy(dtype="float64"),
                    listing["index_score"].to_numpy(dtype="float64"))
    listing["met"] = pd.array(np.where(listing["in_denominator"], met, False), dtype="boolean")
    listing.loc[~listing["in_denominator"], "met"] = pd.NA
    result = wilson_proportion(int(listing["met"].fillna(False).sum()), int(listing["in_denominator"].sum()))
    return QualityMeasure(name, text + _exclusion_text(checked, unchecked), result, spec,
                          strata=_strata(listing), exclusions_checked=checked, exclusions_unchecked=unchecked,
                          patients=listing[_LIST_COLUMNS])


def _utilisation(q, people, lo, hi, checked, unchecked):
    """One measure per four-month period ending in the reporting period."""
    spec = QUALITY_SPECIFICATIONS["utilisation"]
    ends = []
    for year in range(lo.year, hi.year + 1):
        for month in QUALITY_UTILISATION_PERIOD_STARTS:
            start = pd.Timestamp(year=year, month=month, day=1)
            end = start + pd.DateOffset(months=4) - pd.Timedelta(days=1)
            if lo <= end <= hi:
                ends.append((start, end))
    text = ("Patients with depression in care during the four-month period (first questionnaire on or before its "
            "end, last on or after its start); met = a complete PHQ-9 dated in the period. Periods: January-April, "
            "May-August, September-December; those ending in the reporting period are reported.")
    if not ends:
        return [QualityMeasure("PHQ-9 utilisation (CMS160 / DMS-E-style)",
                               text + " No four-month period ends in this reporting period: no data."
                               + _exclusion_text(checked, unchecked), wilson_proportion(0, 0), spec,
                               exclusions_checked=checked, exclusions_unchecked=unchecked)]
    span = q.groupby("patient_id")["assessment_date"].agg(["min", "max"])
    done = q[q["complete"].astype(bool)]
    out = []
    for start, end in ends:  # at most a handful of periods, each vectorised over patients
        cand = people[people["depression"]].join(span, how="inner")
        cand = cand[(cand["min"] <= end) & (cand["max"] >= start)]
        inside = done[done["assessment_date"].between(start, end)].drop_duplicates("patient_id", keep="last")
        inside = inside.set_index("patient_id")
        listing = pd.DataFrame({"patient_id": cand.index, "age_stratum": cand["age_stratum"].to_numpy(),
                                "index_date": pd.NaT, "index_score": np.nan, "excluded": cand["excluded"].to_numpy(),
                                "in_denominator": (cand["excluded"] == "").to_numpy()})
        listing["measured_date"] = inside["assessment_date"].reindex(listing["patient_id"]).to_numpy()
        listing["measured_score"] = inside["phq9_total"].reindex(listing["patient_id"]).to_numpy(dtype="float64")
        listing["met"] = pd.array(listing["measured_date"].notna().to_numpy(), dtype="boolean")
        listing.loc[~listing["in_denominator"], "met"] = pd.NA
        result = wilson_proportion(int(listing["met"].fillna(False).sum()), int(listing["in_denominator"].sum()))
        label = f"{start:%b} - {end:%b %Y}"
        out.append(QualityMeasure(f"PHQ-9 utilisation, {label} (CMS160 / DMS-E-style)",
                                  text + _exclusion_text(checked, unchecked), result, spec, strata=_strata(listing),
                                  exclusions_checked=checked, exclusions_unchecked=unchecked,
                                  patients=listing[_LIST_COLUMNS]))
    return out


def _patient_attributes(q: pd.DataFrame) -> pd.DataFrame:
    """Per patient: depression diagnosis, exclusion reasons ("" = none) and age stratum."""
    ids = pd.Index(sorted(q["patient_id"].unique()), name="patient_id")
    out = pd.DataFrame(index=ids)
    reasons = pd.Series("", index=ids)
    if "diagnosis" in q:
        text = q["diagnosis"].astype("string").str.lower().fillna("")
        depression = text.str.contains(QUALITY_DEPRESSION_PATTERN, regex=True)
        out["depression"] = depression.groupby(q["patient_id"]).any().reindex(ids, fill_value=False)
        for reason, pattern in QUALITY_DIAGNOSIS_EXCLUSIONS.items():
            hit = text.str.contains(pattern, regex=True).groupby(q["patient_id"]).any().reindex(ids, fill_value=False)
            reasons = reasons.where(~hit, reasons + np.where(reasons == "", "", "; ") + reason)
    else:
        out["depression"] = True  # no diagnosis column: every patient is taken as treated for depression
    for reason, column in QUALITY_STATUS_EXCLUSIONS.items():
        if column in q:
            flag = q[column].astype("string").str.strip().str.lower().isin(_TRUE)
            hit = flag.groupby(q["patient_id"]).any().reindex(ids, fill_value=False)
            reasons = reasons.where(~hit, reasons + np.where(reasons == "", "", "; ") + reason)
    out["excluded"] = reasons
    out["age_stratum"] = _age_strata(q, ids)
    young = out["age_stratum"] == _UNDER_AGE
    out.loc[young, "excluded"] = np.where(out.loc[young, "excluded"] == "", f"{_UNDER_AGE} (outside the measure)",
                                          out.loc[young, "excluded"] + f"; {_UNDER_AGE} (outside the measure)")
    return out


def _age_strata(q: pd.DataFrame, ids: pd.Index) -> pd.Series:
    """``12-17``, ``18+``, ``under 12`` or ``not recorded`` from an age or an age band (first value per patient)."""
    age_col = next((c for c in ("age", "age_years", "age_at_start", "age_at_treatment") if c in q), None)
    if age_col is not None:
        age = pd.to_numeric(q[age_col], errors="coerce").astype("float64").groupby(q["patient_id"]).first().reindex(ids)
        low = high = age
    elif "age_band" in q:
        band = q["age_band"].astype("string").groupby(q["patient_id"]).first().reindex(ids).fillna("")
        parts = band.str.extract(r"^\s*(\d+)\s*(?:[-\u2013]\s*(\d+)|(\+))?\s*$")
        low = pd.to_numeric(parts[0], errors="coerce").astype("float64")
        high = pd.to_numeric(parts[1], errors="coerce").astype("float64").where(parts[2].isna(), np.inf)
        high = high.where(high.notna() | low.isna(), low)
    else:
        return pd.Series("not recorded", index=ids)
    adult, adolescent = QUALITY_ADULT_FROM_AGE, QUALITY_ADOLESCENT_FROM_AGE
    strata = np.select([low >= adult, (low >= adolescent) & (high < adult), high < adolescent],
                       [QUALITY_AGE_STRATA[1], QUALITY_AGE_STRATA[0], _UNDER_AGE], default="not recorded")
    return pd.Series(strata, index=ids)


def _strata(listing: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if (listing["age_stratum"] != "not recorded").any():
        for stratum in (*QUALITY_AGE_STRATA, "not recorded"):
            part = listing[listing["in_denominator"] & (listing["age_stratum"] == stratum)]
            if stratum == "not recorded" and part.empty:
                continue
            p = wilson_proportion(int(part["met"].fillna(False).sum()), len(part))
            rows.append({"stratum": stratum, "n": p.n, "events": p.events, "rate": p.estimate, "ci_low": p.ci_low,
                         "ci_high": p.ci_high})
    return pd.DataFrame(rows, columns=["stratum", "n", "events", "rate", "ci_low", "ci_high"])


def _exclusion_coverage(q: pd.DataFrame) -> tuple[tuple, tuple]:
    checked, unchecked = [], []
    for reason in QUALITY_DIAGNOSIS_EXCLUSIONS:
        (checked if "diagnosis" in q else unchecked).append(reason)
    for reason, column in QUALITY_STATUS_EXCLUSIONS.items():
        (checked if column in q else unchecked).append(reason)
    return tuple(checked), tuple(unchecked)


def _exclusion_text(checked, unchecked) -> str:
    return (f" Exclusions applied: {', '.join(checked) or 'none'}. Not checked (the data do not record them): "
            f"{', '.join(unchecked) or 'none'}. {MEASURE_STYLE_LABEL.capitalize()}.")


def _without_dates(window_days, checked, unchecked):
    names = _names(window_days)
    specs = [QUALITY_SPECIFICATIONS["remission_12m"], QUALITY_SPECIFICATIONS["drr"], QUALITY_SPECIFICATIONS["drr"]]
    out = [QualityMeasure(n, d + " No assessment dates: these measures need calendar dates." +
                          _exclusion_text(checked, unchecked), wilson_proportion(0, 0), s,
                          exclusions_checked=checked, exclusions_unchecked=unchecked)
           for (n, d), s in zip(names, specs)]
    out.append(QualityMeasure("PHQ-9 utilisation (CMS160 / DMS-E-style)", "No assessment dates: no data." +
                              _exclusion_text(checked, unchecked), wilson_proportion(0, 0),
                              QUALITY_SPECIFICATIONS["utilisation"], exclusions_checked=checked,
                              exclusions_unchecked=unchecked))
    return out


def _names(window_days: int):
    base = (f"Index: the first complete PHQ-9 > {QUALITY_INDEX_ABOVE} (with a depression diagnosis when the data "
            "record diagnoses). Denominator: index patients whose window closes in the reporting period; no PHQ-9 "
            "in the window counts as not met.")
    lo, hi = QUALITY_DRR_WINDOW_DAYS
    return [
        ("Remission at 12 months (CMS159-style)",
         f"PHQ-9 < {REMISSION_BELOW} on the most recent complete questionnaire {QUALITY_12M_DAYS} ± {window_days} "
         "days after the index. " + base),
        ("Response at 4-8 months (HEDIS DRR-E-style)",
         f"PHQ-9 fall of at least {RESPONSE_MIN_FALL:.0%} from the index score on the latest complete questionnaire "
         f"{lo}-{hi} days after the index. " + base),
        ("Remission at 4-8 months (HEDIS DRR-E-style)",
         f"PHQ-9 < {REMISSION_BELOW} on the latest complete questionnaire {lo}-{hi} days after the index. " + base),
    ]

