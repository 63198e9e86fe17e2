"""The quarterly outcome export: a report a clinic can send to a board, payer or registry.

Safe by default: aggregate figures only (no pseudonym, no patient-level date, no
free text), small cells suppressed (:mod:`analytics.suppression`), spreadsheet
formulas neutralised (:mod:`analytics.exports`).  Four files: ``summary.csv``,
``outcomes_<quarter>.xlsx``, ``report_<quarter>.html`` (self-contained, prints
cleanly) and ``manifest.json`` (everything needed to reproduce it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .published import compare_with_benchmarks
from .comparisons import holm_adjust
from .cohorts import patient_start_dates, quarter_bounds, select_patients
from .definitions import (
    ANALYSIS_MODE_LABELS,
    QUALITY_12M_WINDOW_DAYS,
    SMALL_CELL_MAX,
    SPEC_VERSION,
    OutcomeDefinitions,
)
from .errors import AnalyticsError, NoDataForQuarterError
from .exports import neutralise_formulas
from .outcomes import METRICS, cumulative_rate, patient_outcomes, remission_rate, response_rate, si_resolution_rate
from .quality import quality_measures
from .quarterly_report import html_report
from .safety import si_change_rates
from .suppression import SUPPRESSED_COUNT, SuppressionMasks, render_suppressed, small_cell_masks, suppress_small_cells

__all__ = ["NoDataForQuarterError", "QuarterlyExport", "quarterly_export", "write_quarterly_export", "hashed_source",
           "INTERNAL_NOTICE", "EXPORT_FORMATS"]

INTERNAL_NOTICE = "INTERNAL – contains small cells"
EXPORT_FORMATS = ("csv", "xlsx", "html")
STRATA = ("site", "protocol", "baseline_band")
NOT_RECORDED = "(not recorded)"
_ALL_METRICS = {**METRICS, "cumulative_response": "Response reached by week W (Kaplan-Meier)",
                "cumulative_remission": "Remission reached by week W (Kaplan-Meier)"}


@dataclass(frozen=True)
class QuarterlyExport:
    """Every table of one quarter's export, already suppressed unless ``suppression`` is False."""

    quarter: str
    definitions: OutcomeDefinitions
    suppression: bool
    summary: pd.DataFrame
    trend: pd.DataFrame
    safety: pd.DataFrame
    completeness: pd.DataFrame
    quality: pd.DataFrame
    definitions_table: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    raw_summary: pd.DataFrame = field(default=None, repr=False)  # unsuppressed, for tests and internal use


def _rates(patients: pd.DataFrame, d: OutcomeDefinitions) -> dict:
    return {"response": response_rate(patients), "remission": remission_rate(patients),
            "si_resolution": si_resolution_rate(patients),
            "cumulative_response": cumulative_rate(patients, metric="response", definitions=d),
            "cumulative_remission": cumulative_rate(patients, metric="remission", definitions=d)}


def _rate_rows(rates: dict, **keys) -> list[dict]:
    return [{**keys, "metric": m, "label": _ALL_METRICS[m], "n": r.n, "events": r.events, "rate": r.estimate,
             "ci_low": r.ci_low, "ci_high": r.ci_high, "method": r.method} for m, r in rates.items()]


def _summary(patients: pd.DataFrame, d: OutcomeDefinitions) -> pd.DataFrame:
    groups = [("overall", "all patients", patients)]
    for dim in STRATA:
        if dim in patients:
            values = patients[dim].astype("object").where(patients[dim].notna(), NOT_RECORDED).astype("str")
            order = list(patients[dim].cat.categories) if isinstance(patients[dim].dtype, pd.CategoricalDtype) \
                else sorted(values.unique())
            for stratum in [v for v in order if (values == v).any()] + \
                    ([NOT_RECORDED] if (values == NOT_RECORDED).any() else []):
                groups.append((dim, stratum, patients[(values == stratum).to_numpy()]))
    rows = []
    for dim, stratum, part in groups:  # a handful of strata, not patients
        rates = _rates(part, d)
        own = _rate_rows(rates, dimension=dim, stratum=stratum)
        for row in own:
            rows.append({**row, "benchmark_id": ""})
        # a site, protocol or band is a stratum: like for like only with a figure reported for that stratum
        comp = compare_with_benchmarks(rates, definitions=d, stratum=None if dim == "overall" else (dim, stratum))
        by_metric = {r["metric"]: r for r in own}
        for b in comp.to_dict("records"):
            metric = b["metric"] if b["clinic_estimate"] == "snapshot" else f"cumulative_{b['metric']}"
            rows.append({**by_metric[metric], **_comparison_fields(b)})
    cols = ["dimension", "stratum", "metric", "label", "n", "events", "rate", "ci_low", "ci_high", "method",
            "benchmark_id", *_COMPARISON_COLUMNS]
    return _holm_within(pd.DataFrame(rows).reindex(columns=cols))


#: What a row carries about its published comparison (p-values only for like-for-like rows).
_COMPARISON_COLUMNS = ["benchmark_rate", "published_uncertainty", "difference", "diff_ci_low", "diff_ci_high",
                       "p_value", "p_holm", "test", "comparable", "reason"]
#: Columns computed from a row's counts, hidden with its events.
_DERIVED = ("rate", "ci_low", "ci_high", "difference", "diff_ci_low", "diff_ci_high", "p_value", "p_holm")


def _comparison_fields(b: dict) -> dict:
    return {"benchmark_id": b["id"], "benchmark_rate": b["rate"], "published_uncertainty": b["uncertainty_note"],
            "difference": b["difference"], "diff_ci_low": b["diff_ci_low"], "diff_ci_high": b["diff_ci_high"],
            "p_value": b["p_value"], "test": b["test"], "comparable": b["comparable"], "reason": b["reason"]}


def _holm_within(table: pd.DataFrame) -> pd.DataFrame:
    """Holm's adjustment over every p-value of one table (the family is the table)."""
    p = pd.to_numeric(table["p_value"], errors="coerce").astype("float64")
    table["p_holm"] = holm_adjust(p.to_numpy()) if len(table) else []
    table["p_holm"] = table["p_holm"].astype(object).where(p.notna(), None)
    return table


def quarterly_export(questionnaires: pd.DataFrame, *, quarter: str, definitions: OutcomeDefinitions | None = None,
                     suppression: bool = True, qm_window_days: int = QUALITY_12M_WINDOW_DAYS,
                     source: dict | None = None,
                     software_version: str = "") -> QuarterlyExport:
    """Build every table of a quarter's export.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame with calendar dates.
    quarter : str
        ``"2026Q3"``: the cohort is the patients whose treatment started in it.
    suppression : bool
        Small-cell suppression (default).  False is for internal use only and
        marks every output "INTERNAL – contains small cells".
    source : dict, optional
        Where the data came from (file and SHA-256, or store and import ids), for the manifest.
        Only hashes reach the manifest (:func:`hashed_source`): a file or folder
        name can carry a patient's name or birth date.

    Raises
    ------
    DefinitionError
        Malformed quarter.
    NoDataForQuarterError
        No patient started treatment in the quarter.
    """
    d = definitions or OutcomeDefinitions()
    lo, hi = quarter_bounds(quarter)
    label = f"{lo.year}Q{(lo.month - 1) // 3 + 1}"
    if "assessment_date" not in questionnaires:
        raise NoDataForQuarterError("these data have study days but no calendar dates, so there are no quarters; "
                                    "export needs assessment_date (and ideally treatment_start_date).")
    cohort = select_patients(questionnaires, start_from=lo, start_to=hi)
    if cohort.empty:
        starts = patient_start_dates(questionnaires).dropna()
        span = f"{starts.min():%Y-%m-%d} to {starts.max():%Y-%m-%d}" if len(starts) else "none"
        raise NoDataForQuarterError(f"no patient started treatment in {label} ({lo:%Y-%m-%d} to {hi:%Y-%m-%d}); "
                                    f"treatment starts in these data run from {span}. Choose another quarter.")
    patients = patient_outcomes(cohort, definitions=d)
    raw_summary = _summary(patients, d)
    raw_summary["label"] = raw_summary["label"].str.replace("week W", f"week {d.week}")

    # trend: the cohorts of the last eight quarters, this one last
    trend_rows = []
    for k in range(7, -1, -1):
        q_lo = (lo - pd.DateOffset(months=3 * k))
        q_label = f"{q_lo.year}Q{(q_lo.month - 1) // 3 + 1}"
        part = select_patients(questionnaires, start_from=q_lo, start_to=q_lo + pd.offsets.QuarterEnd(0))
        pats = patient_outcomes(part, definitions=d, attributes=False) if len(part) else patients.iloc[0:0]
        trend_rows += _rate_rows(_rates(pats, d), quarter=q_label)
    trend = pd.DataFrame(trend_rows)
    trend["label"] = trend["label"].str.replace("week W", f"week {d.week}")

    si = si_change_rates(patients)
    safety_rows = [
        {"measure": "Patients with SI at baseline (item 9 >= 1)", "n": len(patients),
         "events": int(patients["si_at_baseline"].sum())},
        {"measure": "SI resolved at the endpoint (item 9 = 0), among those with SI at baseline",
         **_counts(si_resolution_rate(patients))},
        {"measure": "SI worsened at the endpoint (item 9 above baseline)", **_counts(si["si_worsened"])},
        {"measure": "New SI at the endpoint (item 9 = 0 at baseline, >= 1 at endpoint)", **_counts(si["si_new"])},
    ]
    # spec v2: totals-only questionnaires leave item 9 unknown; say how many are outside the SI figures
    safety_rows += [
        {"measure": "Baseline item 9 unknown (totals only): in no SI denominator", "n": len(patients),
         "events": int(patients["si_unknown"].sum())},
        {"measure": "SI at baseline but endpoint item 9 unknown: out of the SI denominator",
         "n": int(patients["si_at_baseline"].sum()), "events": int(patients["si_endpoint_unknown"].sum())},
    ]
    bench = compare_with_benchmarks({"si_worsened": si["si_worsened"]}, definitions=d, metrics=("si_worsened",))
    for b in bench.to_dict("records"):
        safety_rows[2].update(_comparison_fields(b))
    safety = pd.DataFrame(safety_rows)
    if "p_value" in safety:
        safety = _holm_within(safety)
    safety["rate"] = [_share(r["events"], r["n"]) for r in safety_rows]

    in_quarter = questionnaires["assessment_date"].between(lo, hi)
    q_in = questionnaires[in_quarter]
    eligible = patients[patients["eligible"]]
    completeness = pd.DataFrame([
        {"measure": "New treatment starts (the quarter's cohort)", "n": len(patients), "events": len(patients)},
        {"measure": "Cohort patients with a baseline", "n": len(patients),
         "events": int(patients["baseline_day"].notna().sum())},
        {"measure": f"Eligible patients with a week-{d.week} endpoint in the window", "n": len(eligible),
         "events": int(eligible["endpoint_day"].notna().sum() if d.analysis != "locf" else
                       (eligible["endpoint_source"] == "window").sum())},
        {"measure": "Questionnaires in the quarter that were incomplete", "n": len(q_in),
         "events": int((~q_in["complete"]).sum())},
        {"measure": "Patients with a questionnaire in the quarter (activity)", "n": int(q_in["patient_id"].nunique()),
         "events": int(q_in["patient_id"].nunique())},
    ])
    completeness["rate"] = [_share(e, n) for e, n in zip(completeness["events"], completeness["n"])]

    qm = quality_measures(questionnaires, patient_outcomes(questionnaires, definitions=d, attributes=False),
                          period_start=lo, period_end=hi, window_days=qm_window_days)
    # one row per measure, then its age strata (12-17, 18+) when the data have an age band
    quality = pd.DataFrame([{"measure": m.name, "stratum": s["stratum"], "n": s["n"], "events": s["events"],
                             "rate": s["rate"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                             "specification": m.specification, "definition": m.definition}
                            for m in qm for s in [{"stratum": "all ages", "n": m.result.n, "events": m.result.events,
                                                   "rate": m.result.estimate, "ci_low": m.result.ci_low,
                                                   "ci_high": m.result.ci_high}] + m.strata.to_dict("records")])

    if suppression:
        summary, trend_out, safety, completeness = _suppress_together(raw_summary, trend, safety, completeness,
                                                                      label)
        # the age strata add up to the measure's "all ages" row: complementary suppression within a measure
        quality = suppress_small_cells(quality, group_by=("measure",), dimension_column="stratum",
                                       total_dimension="all ages")
    else:
        summary, trend_out = raw_summary.assign(suppressed=""), trend.assign(suppressed="")

    params = {**d.as_dict(), "quarter": label, "quarter_start": f"{lo:%Y-%m-%d}", "quarter_end": f"{hi:%Y-%m-%d}",
              "quality_measure_window_days": qm_window_days, "small_cell_suppression": suppression}
    definitions_table = pd.DataFrame(
        [(k, json.dumps(v) if isinstance(v, list) else str(v)) for k, v in params.items()]
        + [("methods", d.describe()), ("analysis mode", ANALYSIS_MODE_LABELS[d.analysis]),
           ("cohort", f"patients whose treatment started in {label}; outcomes at week {d.week} from their start"),
           ("suppression", f"counts from 1 to {SMALL_CELL_MAX}, and values from which one could be derived, are "
                           "hidden (CMS cell-size rule, with complementary suppression across strata and across this "
                           f"export's tables); {SUPPRESSED_COUNT} marks a hidden count from 1 to {SMALL_CELL_MAX}, "
                           "'suppressed' any other hidden value"
            if suppression else INTERNAL_NOTICE),
           ("comparisons", "published figures are like for like only when instrument, definition, method, analysis, "
                           "timepoint and population match (a site, protocol or baseline band is never like for like "
                           "with a whole-cohort figure); the reason column says what differs. Only like-for-like "
                           "rows carry a p-value, and the test includes the published figure's own uncertainty "
                           "(published_uncertainty)"),
           ("multiplicity", "p_holm: Holm's adjustment over all the p-values of the same table; the board report "
                            "(HTML) shows estimates and 95% intervals and no p-values"),
           ("privacy", "aggregate figures only: no patient pseudonym, no patient-level date, no free text"),
           ("disclaimer", "this report informs clinical review; it does not give clinical advice")],
        columns=["item", "value"])
    manifest = {
        "spec_version": SPEC_VERSION, "quarter": label, "parameters": params, "source": hashed_source(source),
        "software_version": software_version, "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "small_cell_suppression": suppression, "notice": "" if suppression else INTERNAL_NOTICE,
        "cohort_patients": completeness["n"].iloc[0] if suppression else len(patients),
        "row_counts": {"summary": len(summary), "trend": len(trend_out), "safety": len(safety),
                       "completeness": len(completeness), "quality_measures": len(quality)},
    }
    return QuarterlyExport(label, d, suppression, summary, trend_out, safety, completeness, quality,
                           definitions_table, manifest, raw_summary)


def _suppress_together(raw_summary, trend, safety, completeness, quarter):
    """Suppress the tables of one export so that no count is shown in one and hidden in another.

    The summary's overall rows are the trend's row for this quarter; the
    safety table's SI resolution is the summary's; the cohort, its eligible
    patients, completers and SI counts recur in the safety and completeness
    tables.  A count hidden in one table is hidden wherever it is published
    (matched by meaning where the tables share a row, by value among the
    cohort-level counts otherwise: over-hiding a coincidence is the safe
    error), then the complements are chosen again, until nothing changes.
    """
    own = (raw_summary["benchmark_id"] == "").to_numpy()
    s_own = raw_summary[own].reset_index(drop=True)
    frames = {"summary": s_own, "trend": trend.reset_index(drop=True), "safety": safety.reset_index(drop=True),
              "completeness": completeness.reset_index(drop=True)}
    options = {"summary": dict(group_by=("metric", "dimension")),
               "trend": dict(group_by=("metric",), complementary=False),
               "safety": dict(group_by=("measure",), complementary=False),
               "completeness": dict(group_by=("measure",), complementary=False)}
    force = {k: [np.zeros(len(f), dtype=bool), np.zeros(len(f), dtype=bool)] for k, f in frames.items()}
    # the same quantity in two tables: (table, row) pairs whose n and events are equal by construction
    overall = {m: i for i, m in zip(np.flatnonzero(s_own["dimension"] == "overall"),
                                   s_own.loc[s_own["dimension"] == "overall", "metric"])}
    now = {m: i for i, m in zip(np.flatnonzero(frames["trend"]["quarter"] == quarter),
                               frames["trend"].loc[frames["trend"]["quarter"] == quarter, "metric"])}
    same_rows = [(("summary", overall[m]), ("trend", now[m])) for m in overall if m in now]
    if "si_resolution" in overall:
        same_rows.append((("summary", overall["si_resolution"]), ("safety", 1)))
    pool = [("summary", i) for i in overall.values()] + [("trend", i) for i in now.values()] + \
        [("safety", i) for i in range(len(frames["safety"]))] + \
        [("completeness", i) for i in range(len(frames["completeness"]))]
    while True:
        masks = {k: small_cell_masks(f, force_n=force[k][0], force_events=force[k][1], **options[k])
                 for k, f in frames.items()}
        hide = {k: [m.hide_n.copy(), m.hide_events.copy()] for k, m in masks.items()}
        for a, b in same_rows:
            for kind in (0, 1):
                either = hide[a[0]][kind][a[1]] or hide[b[0]][kind][b[1]]
                hide[a[0]][kind][a[1]] = hide[b[0]][kind][b[1]] = either
        hidden_values = {int(frames[t].loc[i, col]) for t, i in pool for kind, col in ((0, "n"), (1, "events"))
                         if hide[t][kind][i]} - {0}  # a hidden 0 is the event count of a hidden row: no count itself
        for t, i in pool:
            for kind, col in ((0, "n"), (1, "events")):
                if int(frames[t].loc[i, col]) in hidden_values:
                    hide[t][kind][i] = True
        for k in hide:  # a hidden n hides the whole row
            hide[k][1] |= hide[k][0]
        if all((hide[k][0] == masks[k].hide_n).all() and (hide[k][1] == masks[k].hide_events).all() for k in hide):
            break
        force = hide
    summary_masks = masks["summary"]
    # the rows comparing with a published figure repeat their stratum's counts: hidden the same way
    keyed = s_own.assign(_n=summary_masks.hide_n, _e=summary_masks.hide_events).set_index(
        ["dimension", "stratum", "metric"])[["_n", "_e"]]
    full = keyed.reindex(pd.MultiIndex.from_frame(raw_summary[["dimension", "stratum", "metric"]]))
    summary = render_suppressed(raw_summary, SuppressionMasks(full["_n"].to_numpy(dtype=bool),
                                                               full["_e"].to_numpy(dtype=bool)), derived=_DERIVED)
    return (summary, *(render_suppressed(frames[k], masks[k], derived=_DERIVED)
                       for k in ("trend", "safety", "completeness")))


_HASH_KEYS = ("kind", "sha256", "fingerprint")


def hashed_source(source: dict | None) -> dict:
    """The data source as the manifest records it: kind and SHA-256 hashes only, never a file or path name.

    ``{"kind": "file", "sha256": ...}`` for a file; for the store its
    fingerprint and each import's id and SHA-256.
    """
    source = source or {}
    out = {k: source[k] for k in _HASH_KEYS if k in source and isinstance(source[k], (str, int))}
    if isinstance(source.get("imports"), list):
        out["imports"] = [{k: i[k] for k in ("id", "sha256") if k in i} for i in source["imports"]
                          if isinstance(i, dict)]
    return out


def _counts(p) -> dict:
    return {"n": p.n, "events": p.events, "ci_low": p.ci_low, "ci_high": p.ci_high}


def _share(events, n):
    return None if not n else events / n


# ----------------------------------------------------------------------------- files

def write_quarterly_export(export: QuarterlyExport, out_dir, *, formats=EXPORT_FORMATS) -> list[Path]:
    """Write the export's files into ``out_dir`` (created); manifest.json always.

    Returns the paths written, manifest last.
    """
    unknown = set(formats) - set(EXPORT_FORMATS)
    if unknown:
        raise AnalyticsError(f"unknown export format(s) {', '.join(sorted(unknown))}; use {', '.join(EXPORT_FORMATS)}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    q = export.quarter
    written = []
    tables = {"Summary": export.summary, "Trend": export.trend, "Safety": export.safety,
              "Completeness": export.completeness, "Quality measures": export.quality,
              "Definitions": export.definitions_table}
    if not export.suppression:
        tables = {k: v.assign(notice=INTERNAL_NOTICE) for k, v in tables.items()}
    if "csv" in formats:
        path = out / "summary.csv"
        neutralise_formulas(tables["Summary"]).to_csv(path, index=False, encoding="utf-8-sig")
        written.append(path)
    if "xlsx" in formats:
        path = out / f"outcomes_{q}.xlsx"
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            for name, frame in tables.items():
                start = 0
                if not export.suppression:
                    pd.DataFrame([[INTERNAL_NOTICE]]).to_excel(xl, sheet_name=name, index=False, header=False)
                    start = 2
                neutralise_formulas(frame).to_excel(xl, sheet_name=name, index=False, startrow=start)
        written.append(path)
    if "html" in formats:
        path = out / f"report_{q}.html"
        path.write_text(html_report(export), encoding="utf-8")
        written.append(path)
    manifest = dict(export.manifest)
    manifest["files"] = [p.name for p in written]
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    written.append(path)
    return written
