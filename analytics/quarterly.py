"""The quarterly outcome export: the tables of a report a clinic can send to a board, payer or registry.

Safe by default: aggregate figures only (no pseudonym, no patient-level date, no
free text), small cells suppressed (:mod:`analytics.suppression`, across tables
by :mod:`analytics.quarterly_suppression`), spreadsheet formulas neutralised
(:mod:`analytics.exports`).  Files: ``summary.csv``, ``outcomes_<quarter>.xlsx``
(:mod:`analytics.quarterly_workbook`), ``report_<quarter>.html``
(:mod:`analytics.quarterly_report`, charts in :mod:`analytics.quarterly_charts`),
optionally ``report_<quarter>.pdf`` (:mod:`analytics.report_pdf`), and
``manifest.json`` (everything needed to reproduce it).  The director's internal
version (``suppression=False``) is marked on every page and in every file name.

Over 400 lines because one function builds every table of the export, so each
count is computed once and the cross-table suppression sees them all; rendering
lives in the modules named above.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .published import compare_with_benchmarks
from .comparisons import holm_adjust
from .cohorts import patient_start_dates, quarter_bounds, select_patients
from .definitions import (
    ANALYSIS_MODE_LABELS,
    DEFAULT_CLINIC_NAME,
    QUALITY_12M_WINDOW_DAYS,
    REPORT_TREND_QUARTERS,
    SMALL_CELL_MAX,
    SPEC_VERSION,
    OutcomeDefinitions,
)
from .errors import AnalyticsError, NoDataForQuarterError
from .exports import neutralise_formulas
from .outcomes import METRICS, cumulative_rate, patient_outcomes, remission_rate, response_rate, si_resolution_rate
from .quality import quality_measures
from .headline import author_year
from .quarterly_report import html_report
from .quarterly_workbook import write_workbook
from .report_pdf import PdfUnavailableError, pdf_status, print_pdf
from .safety import si_change_rates
from .tolerability import tolerability_table
from .settings import checked_clinic_name
from .quarterly_suppression import suppress_together
from .suppression import SUPPRESSED_COUNT, SUPPRESSED_VALUE, suppress_small_cells

__all__ = ["NoDataForQuarterError", "QuarterlyExport", "quarterly_export", "write_quarterly_export", "hashed_source",
           "INTERNAL_NOTICE", "EXPORT_FORMATS", "DEFAULT_FORMATS", "HEADLINE_OUTCOMES", "export_file_names"]

INTERNAL_NOTICE = "INTERNAL — not for release: contains small cells"
#: The board summary's outcomes: the figure comparable to the published method first (Kaplan-Meier
#: "reached by" for response and remission, as in :mod:`analytics.headline`), then its title.
HEADLINE_OUTCOMES = {"cumulative_response": "Response by week W", "cumulative_remission": "Remission by week W",
                     "si_resolution": "Suicidal thoughts resolved at week W (among patients with them at the start)"}
EXPORT_FORMATS = ("csv", "xlsx", "html", "pdf")
#: Written unless asked otherwise: the PDF needs a Chromium (:mod:`analytics.report_pdf`), so it is asked for.
DEFAULT_FORMATS = ("csv", "xlsx", "html")
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
    clinic_name: str = DEFAULT_CLINIC_NAME
    #: One row per headline outcome: this quarter, the previous quarter and the published figure (suppressed
    #: exactly as the summary and trend it is read from).
    headline: pd.DataFrame = field(default=None, repr=False)
    #: With a sessions table: analytics.tolerability.tolerability_table (suppressed like the rest).
    tolerability: pd.DataFrame | None = field(default=None, repr=False)


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
_COMPARISON_COLUMNS = ["benchmark_rate", "published_source", "published_uncertainty", "difference", "diff_ci_low",
                       "diff_ci_high", "p_value", "p_holm", "test", "comparable", "reason"]
#: Columns computed from a row's counts, hidden with its events.
_DERIVED = ("rate", "ci_low", "ci_high", "difference", "diff_ci_low", "diff_ci_high", "p_value", "p_holm")


def _comparison_fields(b: dict) -> dict:
    n = b.get("published_n")
    size = f", {int(n)} patients" if n is not None and not pd.isna(n) else ", denominator not published"
    return {"benchmark_id": b["id"], "benchmark_rate": b["rate"],
            "published_source": author_year(b.get("citation") or "", b.get("study") or "") + size,
            "published_uncertainty": b["uncertainty_note"],
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
                     source: dict | None = None, software_version: str = "",
                     clinic_name: str = DEFAULT_CLINIC_NAME,
                     sessions: pd.DataFrame | None = None) -> QuarterlyExport:
    """Build every table of a quarter's export.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame with calendar dates.
    quarter : str
        ``"2026Q3"``: the cohort is the patients whose treatment started in it.
    suppression : bool
        Small-cell suppression (default).  False is for internal use only (the director's version, with
        every site's figures) and marks every output with :data:`INTERNAL_NOTICE`.
    source : dict, optional
        Where the data came from (file and SHA-256, or store and import ids), for the manifest.
        Only hashes reach the manifest (:func:`hashed_source`): a file or folder
        name can carry a patient's name or birth date.
    clinic_name : str
        Printed at the top of the report (:mod:`analytics.settings` keeps the clinic's choice).
    sessions : pandas.DataFrame, optional
        Canonical sessions frame: adds the tolerability table of the cohort's sessions.

    Raises
    ------
    DefinitionError
        Malformed quarter.
    SettingsError
        An empty, over-long or control-character clinic name.
    NoDataForQuarterError
        No patient started treatment in the quarter.
    """
    d = definitions or OutcomeDefinitions()
    lo, hi = quarter_bounds(quarter)
    label = _quarter_label(lo)
    clinic_name = checked_clinic_name(clinic_name)
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

    # trend: the cohorts of the last eight quarters, this one last, none before the clinic's first patient
    first_start = patient_start_dates(questionnaires).min()
    trend_rows, starts = [], {}
    for k in range(REPORT_TREND_QUARTERS - 1, -1, -1):
        q_lo = (lo - pd.DateOffset(months=3 * k))
        if q_lo + pd.offsets.QuarterEnd(0) < first_start:
            continue
        q_label = _quarter_label(q_lo)
        part = select_patients(questionnaires, start_from=q_lo, start_to=q_lo + pd.offsets.QuarterEnd(0))
        pats = patient_outcomes(part, definitions=d, attributes=False) if len(part) else patients.iloc[0:0]
        starts[q_label] = len(pats)
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

    q_in = questionnaires[questionnaires["assessment_date"].between(lo, hi)]
    p_lo = lo - pd.DateOffset(months=3)
    p_label, p_hi = _quarter_label(p_lo), p_lo + pd.offsets.QuarterEnd(0)
    q_prev = questionnaires[questionnaires["assessment_date"].between(p_lo, p_hi)]
    eligible = patients[patients["eligible"]]
    active = int(q_in["patient_id"].nunique())
    rows = [
        ("starts", "New treatment starts (the quarter's cohort)", len(patients), len(patients)),
        ("baseline", "Cohort patients with a baseline", len(patients), int(patients["baseline_day"].notna().sum())),
        ("endpoint", f"Eligible patients with a week-{d.week} endpoint in the window", len(eligible),
         int(eligible["endpoint_day"].notna().sum() if d.analysis != "locf" else
             (eligible["endpoint_source"] == "window").sum())),
        ("incomplete", "Questionnaires in the quarter that were incomplete", len(q_in), int((~q_in["complete"]).sum())),
        ("active", "Patients with a questionnaire in the quarter (activity)", active, active),
        ("infusions", "Infusions recorded in the quarter (questionnaires numbered with an infusion)", _infusions(q_in),
         _infusions(q_in)),
    ]
    if p_label in starts:  # volume of the previous quarter, for the board's comparison (none before the first patient)
        rows += [
            ("starts_previous", f"New treatment starts in the previous quarter ({p_label})", starts[p_label],
             starts[p_label]),
            ("questionnaires_previous", f"Questionnaires in the previous quarter ({p_label})", len(q_prev),
             len(q_prev)),
            ("infusions_previous", f"Infusions recorded in the previous quarter ({p_label})", _infusions(q_prev),
             _infusions(q_prev)),
        ]
    completeness = pd.DataFrame(rows, columns=["key", "measure", "n", "events"])
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
        summary, trend_out, safety, completeness = suppress_together(raw_summary, trend, safety, completeness,
                                                                     label, derived=_DERIVED)
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
                           f"'{SUPPRESSED_VALUE}' any other hidden value"
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
    tolerability = None
    if sessions is not None:
        tolerability = tolerability_table(sessions, patients=patients["patient_id"].astype("str").unique(),
                                          suppression=suppression)
        manifest["row_counts"]["tolerability"] = len(tolerability)
    return QuarterlyExport(label, d, suppression, summary, trend_out, safety, completeness, quality,
                           definitions_table, manifest, raw_summary, clinic_name,
                           _headline(summary, trend_out, label, p_label, d),
                           tolerability=tolerability)


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


def _quarter_label(start: pd.Timestamp) -> str:
    return f"{start.year}Q{(start.month - 1) // 3 + 1}"


def _infusions(questionnaires: pd.DataFrame) -> int:
    """Infusions with a numbered questionnaire: one per (patient, episode, infusion number)."""
    if "infusion_number" not in questionnaires:
        return 0
    numbered = questionnaires[questionnaires["infusion_number"].notna()]
    keys = [c for c in ("patient_id", "episode", "infusion_number") if c in numbered]
    return int(len(numbered.drop_duplicates(keys)))


_RATE_FIELDS = ("n", "events", "rate", "ci_low", "ci_high", "suppressed")


def _headline(summary: pd.DataFrame, trend: pd.DataFrame, quarter: str, previous: str,
              d: OutcomeDefinitions) -> pd.DataFrame:
    """The board summary's rows, read from the (suppressed) summary and trend: no figure of its own.

    Per headline outcome: this quarter's figure, the previous quarter's, the change in percentage points
    (only when both are shown) and the published figure the Overview's headline card would pick (like
    for like first, then the one at this week).
    """
    overall = summary[summary["dimension"] == "overall"]
    rows = []
    for metric, title in HEADLINE_OUTCOMES.items():
        own = overall[(overall["metric"] == metric) & (overall["benchmark_id"] == "")]
        if own.empty:
            continue
        now = own.iloc[0]
        row = {"metric": metric, "title": title.replace("week W", f"week {d.week}"), "label": now["label"],
               "quarter": quarter, "method": now["method"], **{k: now[k] for k in _RATE_FIELDS}}
        before = trend[(trend["quarter"] == previous) & (trend["metric"] == metric)]
        if len(before):
            b = before.iloc[0]
            row.update({"previous_quarter": previous, **{f"previous_{k}": b[k] for k in _RATE_FIELDS}})
        else:
            row.update({"previous_quarter": "", **{f"previous_{k}": None for k in _RATE_FIELDS}})
        shown = [_number(row["rate"]), _number(row["previous_rate"])]
        row["change"] = shown[0] - shown[1] if None not in shown else None
        bench = overall[(overall["metric"] == metric) & (overall["benchmark_id"] != "")].to_dict("records")
        pick = next((b for test in (lambda b: b["comparable"] is True,
                                    lambda b: str(b["benchmark_id"]).endswith(f"-{d.week}w"), lambda b: True)
                     for b in bench if test(b)), None)
        for k in ("benchmark_id", "benchmark_rate", "published_source", "comparable", "reason", "difference",
                  "diff_ci_low", "diff_ci_high"):
            row[k] = None if pick is None else pick[k]
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value) -> float | None:
    """A shown number, or None for a missing or suppressed one."""
    if value is None or isinstance(value, str) or pd.isna(value):
        return None
    return float(value)


def _counts(p) -> dict:
    return {"n": p.n, "events": p.events, "ci_low": p.ci_low, "ci_high": p.ci_high}


def _share(events, n):
    return None if not n else events / n


# ----------------------------------------------------------------------------- files

def export_file_names(export: QuarterlyExport) -> dict[str, str]:
    """Format -> file name; the internal (unsuppressed) version's names say so."""
    q = export.quarter + ("_INTERNAL" if not export.suppression else "")
    return {"csv": f"summary{'_INTERNAL' if not export.suppression else ''}.csv", "xlsx": f"outcomes_{q}.xlsx",
            "html": f"report_{q}.html", "pdf": f"report_{q}.pdf"}


def write_quarterly_export(export: QuarterlyExport, out_dir, *, formats=DEFAULT_FORMATS) -> list[Path]:
    """Write the export's files into ``out_dir`` (created); manifest.json always.

    ``formats`` from :data:`EXPORT_FORMATS`; "pdf" prints the HTML report with Chromium
    (:mod:`analytics.report_pdf`) and raises :class:`~analytics.report_pdf.PdfUnavailableError`
    where there is none.  Returns the paths written, manifest last.
    """
    unknown = set(formats) - set(EXPORT_FORMATS)
    if unknown:
        raise AnalyticsError(f"unknown export format(s) {', '.join(sorted(unknown))}; use {', '.join(EXPORT_FORMATS)}.")
    if "pdf" in formats:
        status = pdf_status()  # before any file is written: a missing browser leaves no half export
        if not status.available:
            raise PdfUnavailableError(f"the PDF cannot be made on this machine: {status.reason}. Leave pdf out of "
                                      "the formats; the HTML report prints to PDF from any browser.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = export_file_names(export)
    written = []
    if "csv" in formats:
        summary = export.summary if export.suppression else export.summary.assign(notice=INTERNAL_NOTICE)
        path = out / names["csv"]
        neutralise_formulas(summary).to_csv(path, index=False, encoding="utf-8-sig")
        written.append(path)
    if "xlsx" in formats:
        written.append(write_workbook(export, out / names["xlsx"]))
    if "html" in formats or "pdf" in formats:
        path = out / names["html"]
        path.write_text(html_report(export), encoding="utf-8")
        if "html" in formats:
            written.append(path)
        if "pdf" in formats:
            footer = f"{export.clinic_name} · outcome report {export.quarter}" + \
                ("" if export.suppression else f" · {INTERNAL_NOTICE}")
            try:
                written.append(print_pdf(path, out / names["pdf"], footer=footer, status=status))
            finally:
                if "html" not in formats:
                    path.unlink(missing_ok=True)
    manifest = dict(export.manifest)
    manifest["files"] = [p.name for p in written]
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    written.append(path)
    return written
