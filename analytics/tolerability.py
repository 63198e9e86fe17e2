"""Tolerability and monitoring summaries of the sessions table (pure functions).

Every function takes the canonical sessions frame of :func:`analytics.sessions.load_sessions`
plus keyword-only thresholds and returns a tidy frame: one row per group with its
n next to every figure, so a rate never travels without its denominator.  A group
with no sessions is absent (no data), never 0%.  Thresholds are defined once, in
:mod:`analytics.definitions`, with where each default comes from (``TOLERABILITY_SOURCES``).

These summaries inform review of a clinic's records; they are not clinical advice
and do not say whether any one session was managed well.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .definitions import (  # the thresholds, with their sources, are defined there
    DIASTOLIC_READING_OVER,
    DIASTOLIC_RISE_AT,
    MIN_MONITORING_MINUTES,
    SEDATION_MOAAS_DEEP_AT_OR_BELOW,
    SYSTOLIC_READING_OVER,
    SYSTOLIC_RISE_AT,
    TOLERABILITY_DOSE_BANDS_MG,
    TOLERABILITY_DOSE_BANDS_MG_PER_KG,
)
from .errors import DefinitionError
from .sessions import ADVERSE_EVENTS, TIME_POINTS
from .statistics import wilson_proportion
from .suppression import suppress_small_cells

__all__ = [
    "SYSTOLIC_RISE_AT",
    "DIASTOLIC_RISE_AT",
    "SYSTOLIC_READING_OVER",
    "DIASTOLIC_READING_OVER",
    "MIN_MONITORING_MINUTES",
    "DOSE_BANDS_MG_PER_KG",
    "DOSE_BANDS_MG",
    "blood_pressure_rise",
    "blood_pressure_summary",
    "dissociation_sedation_by",
    "adverse_event_rates",
    "stopped_early",
    "monitoring_completeness",
    "dose_band",
    "tolerability_table",
]

DOSE_BANDS_MG_PER_KG = TOLERABILITY_DOSE_BANDS_MG_PER_KG  # presentation bands (analytics/definitions.py)
DOSE_BANDS_MG = TOLERABILITY_DOSE_BANDS_MG


def _check_threshold(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise DefinitionError(f"{name}={value!r} is out of range; use a number from {lo} to {hi}.")


def blood_pressure_rise(sessions: pd.DataFrame, *, systolic_rise_at: int = SYSTOLIC_RISE_AT,
                        diastolic_rise_at: int = DIASTOLIC_RISE_AT,
                        systolic_over: int = SYSTOLIC_READING_OVER,
                        diastolic_over: int = DIASTOLIC_READING_OVER) -> pd.DataFrame:
    """Per session: post-dose minus pre-dose blood pressure and readings over thresholds.

    Returns one row per session with ``systolic_rise``, ``diastolic_rise`` (missing
    when either reading is missing), ``rise_over`` (systolic rise >= ``systolic_rise_at``
    or diastolic rise >= ``diastolic_rise_at``; missing when no pair is complete), and
    ``over_<time point>`` for each reading above ``systolic_over`` or ``diastolic_over``
    (strictly above; missing when the reading was not taken).
    """
    _check_threshold("systolic_rise_at", systolic_rise_at, 1, 200)
    _check_threshold("diastolic_rise_at", diastolic_rise_at, 1, 200)
    _check_threshold("systolic_over", systolic_over, 60, 260)
    _check_threshold("diastolic_over", diastolic_over, 30, 160)
    out = sessions[["patient_id", "session_number", "route"]].copy()

    def num(col):
        return sessions[col].to_numpy(dtype="float64", na_value=np.nan) if col in sessions \
            else np.full(len(sessions), np.nan)

    s_rise = num("systolic_post") - num("systolic_pre")
    d_rise = num("diastolic_post") - num("diastolic_pre")
    out["systolic_rise"] = pd.array(s_rise, dtype="Float64")
    out["diastolic_rise"] = pd.array(d_rise, dtype="Float64")
    with np.errstate(invalid="ignore"):
        s_hit, d_hit = s_rise >= systolic_rise_at, d_rise >= diastolic_rise_at
    known = ~np.isnan(s_rise) | ~np.isnan(d_rise)
    # a hit on either counts; no hit is "no" only when the pair(s) that exist were checked
    out["rise_over"] = pd.array(np.where(known, s_hit | d_hit, False), dtype="boolean")
    out.loc[~known, "rise_over"] = pd.NA
    for t in TIME_POINTS:
        s, d = num(f"systolic_{t}"), num(f"diastolic_{t}")
        with np.errstate(invalid="ignore"):
            hit = (s > systolic_over) | (d > diastolic_over)
        taken = ~np.isnan(s) & ~np.isnan(d)
        col = pd.array(np.where(taken, hit, False), dtype="boolean")
        col[~taken] = pd.NA
        out[f"over_{t}"] = col
    return out


def blood_pressure_summary(sessions: pd.DataFrame, **thresholds) -> pd.DataFrame:
    """Sessions with a rise over the thresholds and readings over, as rates with Wilson intervals.

    One row per measure: ``measure``, ``events``, ``n`` (sessions with the readings
    needed), ``rate``, ``ci_low``, ``ci_high`` and ``definition``.
    """
    per = blood_pressure_rise(sessions, **thresholds)
    s_at = thresholds.get("systolic_rise_at", SYSTOLIC_RISE_AT)
    d_at = thresholds.get("diastolic_rise_at", DIASTOLIC_RISE_AT)
    s_over = thresholds.get("systolic_over", SYSTOLIC_READING_OVER)
    d_over = thresholds.get("diastolic_over", DIASTOLIC_READING_OVER)
    measures = [("rise_over", f"post-dose minus pre-dose rise >= {s_at} mmHg systolic or >= {d_at} mmHg diastolic")]
    measures += [(f"over_{t}", f"{t} reading > {s_over} systolic or > {d_over} diastolic mmHg") for t in TIME_POINTS]
    rows = []
    for col, text in measures:  # four measures, not rows
        values = per[col]
        rows.append(_rate_row(col, int(values.sum(skipna=True)), int(values.notna().sum()), text))
    return pd.DataFrame(rows)


def _rate_row(measure, events, n, definition, **extra) -> dict:
    p = wilson_proportion(events, n)
    return {**extra, "measure": measure, "events": events, "n": n, "rate": p.estimate, "ci_low": p.ci_low,
            "ci_high": p.ci_high, "definition": definition, "warning": p.warning}


def dose_band(sessions: pd.DataFrame, *, mg_per_kg_bands=DOSE_BANDS_MG_PER_KG, mg_bands=DOSE_BANDS_MG) -> pd.Series:
    """Dose band label of each session: mg/kg when given, else mg (e.g. ``"0.5-0.75 mg/kg"``, ``"84+ mg"``).

    Bands are closed on the left: 0.75 mg/kg is in ``"0.75-1 mg/kg"``, 84 mg in ``"84+ mg"``.
    """
    def cut(values, edges, unit):
        labels = [f"{lo:g}-{hi:g} {unit}" if np.isfinite(hi) else f"{lo:g}+ {unit}"
                  for lo, hi in zip(edges[:-1], edges[1:])]
        return pd.cut(values, bins=list(edges), labels=labels, right=False).astype("object")

    per_kg = sessions["dose_mg_per_kg"].astype("Float64").astype("float64") if "dose_mg_per_kg" in sessions \
        else pd.Series(np.nan, index=sessions.index)
    mg = sessions["dose_mg"].astype("Float64").astype("float64") if "dose_mg" in sessions \
        else pd.Series(np.nan, index=sessions.index)
    band = cut(per_kg, mg_per_kg_bands, "mg/kg")
    band = band.where(per_kg.notna(), cut(mg, mg_bands, "mg"))
    return band.rename("dose_band")


def dissociation_sedation_by(sessions: pd.DataFrame, *, by: str = "session_number") -> pd.DataFrame:
    """Dissociation (per scale) and sedation (MOAA/S) summarised by session number or dose band.

    ``by`` is ``"session_number"`` or ``"dose_band"``.  One row per group and measure
    with ``n`` (sessions with a score), ``mean``, ``median``, ``q1``, ``q3``; dissociation
    rows are kept apart per scale (a CADSS total and a 0-10 rating never share a row).
    For MOAA/S lower is deeper sedation; ``share_moaas_le_3`` is the share of sessions
    at 3 or below (responds only after loud or repeated calling of the name, or deeper).
    """
    if by not in ("session_number", "dose_band"):
        raise DefinitionError(f"by={by!r} is not a known grouping; use session_number or dose_band.")
    frame = sessions.assign(dose_band=dose_band(sessions)) if by == "dose_band" else sessions
    keys = frame[by].astype("object") if by == "dose_band" else frame[by]
    parts = []
    if "dissociation" in frame:
        scale = frame["dissociation_scale"]
        measure = scale.cat.rename_categories([f"dissociation ({c})" for c in scale.cat.categories]).astype("object")
        parts.append(pd.DataFrame({by: keys, "measure": measure,
                                   "score": frame["dissociation"].to_numpy(dtype="float64", na_value=np.nan)}))
    if "sedation_moaas" in frame:
        parts.append(pd.DataFrame({by: keys, "measure": "sedation (MOAA/S)",
                                   "score": frame["sedation_moaas"].to_numpy(dtype="float64", na_value=np.nan)}))
    if not parts:
        return pd.DataFrame(columns=[by, "measure", "n", "mean", "median", "q1", "q3", "share_moaas_le_3"])
    long = pd.concat(parts, ignore_index=True).dropna(subset=["score"])
    long["le3"] = long["score"] <= SEDATION_MOAAS_DEEP_AT_OR_BELOW
    g = long.groupby([by, "measure"], sort=True)
    out = g["score"].agg(n="size", mean="mean", median="median").reset_index()
    out["q1"] = g["score"].quantile(0.25).to_numpy()
    out["q3"] = g["score"].quantile(0.75).to_numpy()
    out["share_moaas_le_3"] = np.where(out["measure"] == "sedation (MOAA/S)", g["le3"].mean().to_numpy(), np.nan)
    return out


def adverse_event_rates(sessions: pd.DataFrame) -> pd.DataFrame:
    """Adverse-event rates per session and per patient, with Wilson 95% intervals.

    Per session: sessions with the event / all sessions.  Per patient: patients with
    the event at any session / patients with any session.  One row per event and unit,
    plus ``any`` (at least one event of any kind).
    """
    cols = {k: sessions[f"ae_{k}"].to_numpy(dtype=bool) for k in ADVERSE_EVENTS}
    cols["any"] = np.logical_or.reduce(list(cols.values())) if cols else np.zeros(len(sessions), bool)
    flags = pd.DataFrame(cols)
    pid = sessions["patient_id"]
    flags["patient"] = pid.cat.codes.to_numpy() if isinstance(pid.dtype, pd.CategoricalDtype) \
        else pid.astype("str").to_numpy()
    per_patient = flags.groupby("patient", sort=False).any()
    rows = []
    for k in [*ADVERSE_EVENTS, "any"]:  # six events, not rows
        rows.append(_rate_row(k, int(flags[k].sum()), len(flags), f"sessions with {k.replace('_', ' ')} / sessions",
                              unit="session"))
        rows.append(_rate_row(k, int(per_patient[k].sum()), len(per_patient),
                              f"patients with {k.replace('_', ' ')} at any session / patients", unit="patient"))
    return pd.DataFrame(rows).rename(columns={"measure": "event"})


def stopped_early(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions not completed, overall and by route, with Wilson intervals."""
    stopped = ~sessions["completed"].to_numpy(dtype=bool)
    rows = [_rate_row("stopped early", int(stopped.sum()), len(stopped), "sessions not completed / sessions",
                      route="all")]
    by_route = pd.Series(stopped).groupby(sessions["route"].to_numpy(), sort=True).agg(["sum", "size"])
    for r, (events, n) in by_route.iterrows():  # one row per route, not per session
        rows.append(_rate_row("stopped early", int(events), int(n), "sessions not completed / sessions", route=str(r)))
    return pd.DataFrame(rows)


def monitoring_completeness(sessions: pd.DataFrame, *, min_minutes: dict | None = None) -> pd.DataFrame:
    """Post-dose check recorded, and monitoring at least the minimum, by route.

    ``min_minutes`` maps a route to its minimum monitoring minutes (default
    :data:`MIN_MONITORING_MINUTES`: 120 for intranasal esketamine); routes not in it
    get no duration measure.  Only completed sessions count (a session stopped
    early has its own measure).  Rows: ``route``, ``measure``, ``events`` (sessions
    meeting it), ``n``, ``rate`` and the interval.  A session with no minutes recorded
    counts as not meeting the minimum, and the definition says so.
    """
    minimum = MIN_MONITORING_MINUTES if min_minutes is None else dict(min_minutes)
    for route, m in minimum.items():
        _check_threshold(f"min_minutes[{route!r}]", m, 0, 1440)
    done = sessions["completed"].to_numpy(dtype=bool)
    route = np.asarray(sessions["route"].cat.categories.astype("str"))[sessions["route"].cat.codes.to_numpy()] \
        if isinstance(sessions["route"].dtype, pd.CategoricalDtype) else sessions["route"].astype("str").to_numpy()

    def num(col):
        return sessions[col].to_numpy(dtype="float64", na_value=np.nan) if col in sessions \
            else np.full(len(sessions), np.nan)

    post = ~np.isnan(num("systolic_post")) & ~np.isnan(num("diastolic_post"))
    minutes = num("minutes_monitored")
    need = pd.Series(route).map(minimum).to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        enough = minutes >= need
    per = pd.DataFrame({"route": route, "post": post, "enough": enough})[done] \
        .groupby("route", sort=True).agg(post=("post", "sum"), enough=("enough", "sum"), n=("post", "size"))
    rows = []
    for r, counts in per.iterrows():  # one row per route, not per session
        rows.append(_rate_row("post-dose blood pressure recorded", int(counts["post"]), int(counts["n"]),
                              "completed sessions with systolic_post and diastolic_post / completed sessions",
                              route=r))
        if r in minimum:
            rows.append(_rate_row(f"monitored >= {minimum[r]:g} minutes", int(counts["enough"]), int(counts["n"]),
                                  f"completed sessions with minutes_monitored >= {minimum[r]:g} / completed "
                                  "sessions (blank minutes count as not met)", route=r))
    return pd.DataFrame(rows, columns=["route", "measure", "events", "n", "rate", "ci_low", "ci_high", "definition",
                                       "warning"])


def tolerability_table(sessions: pd.DataFrame, *, patients=None, suppression: bool = True,
                       systolic_rise_at: int = SYSTOLIC_RISE_AT, diastolic_rise_at: int = DIASTOLIC_RISE_AT,
                       systolic_over: int = SYSTOLIC_READING_OVER, diastolic_over: int = DIASTOLIC_READING_OVER,
                       min_minutes: dict | None = None) -> pd.DataFrame:
    """One aggregate table of tolerability for an export, small cells suppressed by default.

    Rows: ``measure``, ``unit`` (session or patient), ``route`` (``all`` and each
    route; the route rows of a measure add up to its ``all`` row, so suppression is
    complementary within a measure), ``n``, ``events``, ``rate``, ``ci_low``,
    ``ci_high``, ``definition`` and ``suppressed``.  Measures: blood-pressure rise over
    the thresholds, readings over at each time point, sessions stopped early, each
    adverse event and any (per session, and per patient for all routes), post-dose
    blood pressure recorded and monitoring at least the minimum (completed sessions).

    Parameters
    ----------
    sessions : pandas.DataFrame
        Canonical sessions frame.
    patients : iterable of str, optional
        Keep only these patients' sessions (the export's cohort).
    suppression : bool
        Hide counts from 1 to ``SMALL_CELL_MAX`` and the cells that would reveal them
        (:func:`analytics.suppression.suppress_small_cells`).
    """
    if patients is not None:
        keep = sessions["patient_id"].astype("str").isin(pd.Index(pd.Series(list(patients), dtype="str")))
        sessions = sessions[keep.to_numpy()]
    minimum = MIN_MONITORING_MINUTES if min_minutes is None else dict(min_minutes)
    per = blood_pressure_rise(sessions, systolic_rise_at=systolic_rise_at, diastolic_rise_at=diastolic_rise_at,
                              systolic_over=systolic_over, diastolic_over=diastolic_over)
    route = sessions["route"].astype("str").to_numpy()
    done = sessions["completed"].to_numpy(dtype=bool)

    def num(col):
        return sessions[col].to_numpy(dtype="float64", na_value=np.nan) if col in sessions \
            else np.full(len(sessions), np.nan)

    def flags(values, known):
        out = pd.array(np.asarray(values, dtype=bool), dtype="boolean")
        out[~np.asarray(known, dtype=bool)] = pd.NA
        return out

    rise = f"post-dose minus pre-dose >= {systolic_rise_at} mmHg systolic or >= {diastolic_rise_at} mmHg diastolic"
    over = f"> {systolic_over} systolic or > {diastolic_over} diastolic mmHg"
    need = pd.Series(route).map(minimum).to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        enough = num("minutes_monitored") >= need
    post = ~np.isnan(num("systolic_post")) & ~np.isnan(num("diastolic_post"))
    measures = [
        ("blood-pressure rise", per["rise_over"].array, f"sessions with a rise {rise} / sessions with both readings"),
        *((f"reading over ({t})", per[f"over_{t}"].array, f"sessions with the {t} reading {over} / sessions with "
           f"that reading") for t in TIME_POINTS),
        ("stopped early", flags(~done, np.ones(len(done))), "sessions not completed / sessions"),
        *((f"adverse event: {k.replace('_', ' ')}", flags(sessions[f"ae_{k}"], np.ones(len(done))),
           f"sessions with {k.replace('_', ' ')} / sessions") for k in ADVERSE_EVENTS),
        ("adverse event: any", flags(np.logical_or.reduce([sessions[f"ae_{k}"].to_numpy(dtype=bool)
                                                          for k in ADVERSE_EVENTS]), np.ones(len(done))),
         "sessions with any adverse event / sessions"),
        ("post-dose blood pressure recorded", flags(post, done),
         "completed sessions with systolic_post and diastolic_post / completed sessions"),
        ("monitored at least the minimum", flags(enough, done & ~np.isnan(need)),
         "completed sessions with minutes_monitored >= the route's minimum ("
         + ", ".join(f"{r}: {m:g} min" for r, m in minimum.items()) + "; blank counts as not met) / completed "
         "sessions of those routes"),
    ]
    long = pd.concat([pd.DataFrame({"measure": name, "route": route, "value": values, "definition": text})
                      for name, values, text in measures], ignore_index=True)  # about 14 measures, not rows
    long = long[long["value"].notna()]
    long["value"] = long["value"].astype(bool)
    by_route = long.groupby(["measure", "definition", "route"], sort=False)["value"].agg(n="size", events="sum")
    by_route = by_route.reset_index()
    total = by_route.groupby(["measure", "definition"], sort=False)[["n", "events"]].sum()
    # a measure with no session to count (no discharge readings, say) keeps its row: n = 0 reads "no data"
    every = pd.MultiIndex.from_tuples([(name, text) for name, _, text in measures], names=["measure", "definition"])
    total = total.reindex(every, fill_value=0).reset_index()
    total["route"] = "all"
    # the monitoring minimum is set per route: no all-routes row (its routes would not add up to one rule)
    total = total[total["measure"] != "monitored at least the minimum"]
    rows = pd.concat([total, by_route], ignore_index=True).assign(unit="session")
    # per patient: patients with the event at any of their sessions / patients with any session (all routes)
    pid = sessions["patient_id"].astype("str").to_numpy()
    events = pd.DataFrame({k: sessions[f"ae_{k}"].to_numpy(dtype=bool) for k in ADVERSE_EVENTS})
    events["any"] = events.any(axis=1)
    per_patient = events.groupby(pid, sort=False).any()
    patient_rows = pd.DataFrame({
        "measure": [f"adverse event: {k.replace('_', ' ')}" for k in per_patient.columns],
        "definition": [f"patients with {k.replace('_', ' ')} at any session / patients with a session"
                       for k in per_patient.columns],
        "route": "all", "n": len(per_patient), "events": per_patient.sum().to_numpy(dtype="int64"),
        "unit": "patient"})
    table = pd.concat([rows, patient_rows], ignore_index=True)
    order = {name: i for i, (name, _, _) in enumerate(measures)}
    table = table.assign(_o=table["measure"].map(order), _u=table["unit"] == "patient",
                         _r=table["route"] != "all").sort_values(["_o", "_u", "_r", "route"], kind="stable")
    table = table.drop(columns=["_o", "_u", "_r"]).reset_index(drop=True)
    table["n"] = table["n"].astype("int64")
    table["events"] = table["events"].astype("int64")
    intervals = [wilson_proportion(int(e), int(n)) for e, n in zip(table["events"], table["n"])]  # tens of rows
    table["rate"] = [p.estimate for p in intervals]
    table["ci_low"] = [p.ci_low for p in intervals]
    table["ci_high"] = [p.ci_high for p in intervals]
    table = table[["measure", "unit", "route", "n", "events", "rate", "ci_low", "ci_high", "definition"]]
    if not suppression:
        return table.assign(suppressed="")
    return suppress_small_cells(table, group_by=("measure", "unit"), dimension_column="route",
                                total_dimension="all")
