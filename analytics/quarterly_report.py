"""The quarterly report as a board reads it: HTML from ``templates/quarterly_report.html`` with static SVG charts.

Pure rendering of a :class:`analytics.quarterly.QuarterlyExport` (every number
comes from its tables, already suppressed); no Streamlit.  Order: the clinic's
name and the quarter, a plain-language summary (headline outcomes against the
previous quarter and the published figures), volume, retention and drop-out,
outcomes with 95% intervals (overall, published comparisons, by site, protocol
and baseline severity, trend), safety, quality measures, and methods last.
The same HTML prints to the PDF (:mod:`analytics.report_pdf`).
"""
from __future__ import annotations

import html
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import pandas as pd

from .definitions import ANALYSIS_MODE_LABELS, SMALL_CELL_MAX, SPEC_VERSION
from .quarterly_charts import HIDDEN_RULE, HIDDEN_SMALL, ChartPoint, ChartRow, forest_svg, funnel_svg, trend_svg
from .suppression import SUPPRESSED_COUNT, SUPPRESSED_VALUE
from .wording import NO_DATA, percent, percent_interval, points, points_interval, readable_header

if TYPE_CHECKING:  # the tables' module imports this one to write the files
    from .quarterly import QuarterlyExport

__all__ = ["html_report", "TEMPLATE", "quarter_title", "hidden_label", "figure_text", "summary_sentences", "item_name"]

TEMPLATE = Path(__file__).with_name("templates") / "quarterly_report.html"
_HIDDEN = {SUPPRESSED_COUNT, SUPPRESSED_VALUE}
_STRATA_TITLES = {"site": "By site", "protocol": "By protocol", "baseline_band": "By baseline severity"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def quarter_title(quarter: str) -> str:
    """``"2025Q4"`` -> ``"2025 Q4"``."""
    return quarter.replace("Q", " Q")


def item_name(item) -> str:
    """A parameter's name as words, capitalised: ``window_days`` -> "Window days", "analysis mode" -> "Analysis mode"."""
    text = readable_header(item)
    return text[:1].upper() + text[1:]


def _day(text: str) -> str:
    year, month, day = (int(x) for x in text.split("-"))
    return f"{day} {_MONTHS[month - 1]} {year}"


def _is_hidden(value) -> bool:
    return isinstance(value, str) and value in _HIDDEN


def _num(value) -> float | None:
    if value is None or isinstance(value, str) or pd.isna(value):
        return None
    return float(value)


def hidden_label(row: dict, prefix: str = "") -> str:
    """The chart and table label of a suppressed figure; "" when the figure is shown.

    "hidden: fewer than 11 patients" where the published label is ``<11`` (its n or events); any other
    hidden figure says "hidden: small-cell rule" (its label, ``suppressed``, tells a reader no more than
    that: a complement or a count that would reveal a small one).
    """
    n, events, rate = row.get(f"{prefix}n"), row.get(f"{prefix}events"), row.get(f"{prefix}rate")
    if not any(_is_hidden(v) for v in (n, events, rate)):
        return ""
    return HIDDEN_SMALL if SUPPRESSED_COUNT in (n, events) else HIDDEN_RULE


def _point(row: dict, prefix: str = "") -> ChartPoint:
    hidden = hidden_label(row, prefix)
    n = row.get(f"{prefix}n")
    return ChartPoint(rate=None if hidden else _num(row.get(f"{prefix}rate")),
                      low=_num(row.get(f"{prefix}ci_low")), high=_num(row.get(f"{prefix}ci_high")),
                      n=None if _is_hidden(n) or _num(n) is None else int(_num(n)), hidden=hidden)


def figure_text(row: dict, prefix: str = "", *, unit: str = "patients") -> str:
    """``"28.2% (95% CI 18.0–42.6%) of 86 patients"``, the hidden label, or "no data" for n = 0."""
    hidden = hidden_label(row, prefix)
    if hidden:
        return hidden
    n, rate = _num(row.get(f"{prefix}n")), _num(row.get(f"{prefix}rate"))
    if not n or rate is None:
        return f"{NO_DATA} (no patient in the denominator)"
    low, high = row.get(f"{prefix}ci_low"), row.get(f"{prefix}ci_high")
    interval = f" (95% CI {percent_interval(low, high)})" if _num(low) is not None else ""
    small = f" — fewer than {SMALL_CELL_MAX + 1} patients: read with care" if n <= SMALL_CELL_MAX else ""
    return f"{percent(rate)}{interval} of {int(n)} {unit}{small}"


def _overlap(row: dict) -> bool:
    lows = [_num(row.get("ci_low")), _num(row.get("previous_ci_low"))]
    highs = [_num(row.get("ci_high")), _num(row.get("previous_ci_high"))]
    if None in lows or None in highs:
        return True
    return max(lows) <= min(highs)


def summary_sentences(export: QuarterlyExport) -> list[str]:
    """One plain-language sentence per headline outcome: this quarter, last quarter, the published figure."""
    out = []
    for row in export.headline.to_dict("records"):
        text = f"{row['title']}: {figure_text(row)}."
        if row["previous_quarter"]:
            before = quarter_title(row["previous_quarter"])
            if row["change"] is not None and not pd.isna(row["change"]):
                chance = ("the two quarters' 95% intervals overlap, so the change may be chance"
                          if _overlap(row) else "the two quarters' 95% intervals do not overlap")
                text += (f" Previous quarter ({before}): {percent(row['previous_rate'])}, a change of "
                         f"{points(row['change'])}; {chance}.")
            else:
                text += f" Previous quarter ({before}): {figure_text(row, 'previous_')}."
        else:
            text += " No earlier quarter to compare with (the clinic's first patients started in this one)."
        if row["benchmark_id"]:
            published = f"{percent(row['benchmark_rate'], decimals=0 if round(row['benchmark_rate'] * 100, 1) % 1 == 0 else 1)} ({row['published_source']})"  # noqa: E501
            if row["comparable"] is True and _num(row["diff_ci_low"]) is not None:
                low, high = _num(row["diff_ci_low"]), _num(row["diff_ci_high"])
                verdict = ("consistent with the published figure" if low <= 0 <= high else
                           "above the published figure" if low > 0 else "below the published figure")
                text += (f" Published: {published}, measured the same way: a difference of "
                         f"{points(row['difference'])} (95% CI {points_interval(low, high)}), {verdict}.")
            elif row["comparable"] is True and _num(row["difference"]) is not None:
                text += (f" Published: {published}, measured the same way: a difference of "
                         f"{points(row['difference'])} (no interval could be computed).")
            elif _is_hidden(row["difference"]):
                text += f" Published: {published}; the comparison is hidden with the figure."
            else:
                text += (f" Published: {published}, not measured the same way, so only indicative "
                         f"({_first_reason(row['reason'])}).")
        else:
            text += " No published figure for this outcome."
        out.append(text)
    return out


def _first_reason(reason) -> str:
    text = str(reason or "").split(";")[0].strip()
    return text or "see the comparison table"


def _table(frame: pd.DataFrame, *, numeric=(), css: str = "") -> str:
    """A readable HTML table: escaped text, numbers right-aligned, "—" for missing."""
    head = "".join(f'<th{" class=num" if c in numeric else ""}>{html.escape(str(c))}</th>' for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for c, v in zip(frame.columns, record):
            text = "—" if v is None or (isinstance(v, float) and pd.isna(v)) or v == "" else str(v)
            hidden = text.startswith("hidden:")
            cls = " class=num" if c in numeric else (" class=hidden" if hidden else "")
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _count(value) -> str:
    if _is_hidden(value):
        return HIDDEN_SMALL if value == SUPPRESSED_COUNT else HIDDEN_RULE
    v = _num(value)
    return "—" if v is None else f"{int(v):,}"


def _count_in_words(value) -> str:
    """A count inside a sentence: "fewer than 11" for a hidden small count, never the table's label."""
    if _is_hidden(value):
        return f"fewer than {SMALL_CELL_MAX + 1}" if value == SUPPRESSED_COUNT else "a hidden number of"
    return _count(value)


def _completeness(export: QuarterlyExport) -> dict:
    return {r["key"]: r for r in export.completeness.to_dict("records")}


def _volume(export: QuarterlyExport) -> str:
    c = _completeness(export)
    prev = next((r["measure"].split("(")[-1].rstrip(")") for k, r in c.items() if k == "starts_previous"), "")
    rows = [("New treatment starts", "starts", "starts_previous"),
            ("Infusions recorded (a questionnaire numbered with the infusion)", "infusions", "infusions_previous"),
            ("Questionnaires completed or started", "incomplete", "questionnaires_previous"),
            ("Patients with a questionnaire in the quarter", "active", None)]
    table = pd.DataFrame([{"Measure": label, quarter_title(export.quarter): _count(c[now]["n"]),
                           **({quarter_title(prev): _count(c[before]["n"]) if before else "—"} if prev else {})}
                          for label, now, before in rows])
    return _table(table, numeric=table.columns[1:].tolist(), css="keep")


def _retention(export: QuarterlyExport) -> tuple[str, str]:
    c, week = _completeness(export), export.definitions.week
    starts = _num(c["starts"]["n"])

    def step(label, value):
        hidden = _is_hidden(value)
        share = None if hidden or not starts or _num(value) is None else _num(value) / starts
        return (label, ChartPoint(rate=share, hidden=_count(value) if hidden else ""), _count(value))

    steps = [step("Started treatment in the quarter", c["starts"]["n"]),
             step("Had a baseline questionnaire", c["baseline"]["events"]),
             step(f"Eligible for the week-{week} outcome", c["endpoint"]["n"]),
             step(f"Had a week-{week} questionnaire", c["endpoint"]["events"])]
    chart = funnel_svg(steps, title=f"From treatment start to the week-{week} questionnaire "
                                    f"(share of the quarter's {_count_in_words(c['starts']['n'])} new starts)")
    e = c["endpoint"]
    if any(_is_hidden(e[k]) for k in ("n", "events")):
        text = (f"How many eligible patients had a week-{week} questionnaire is hidden: fewer than "
                f"{SMALL_CELL_MAX + 1} patients in one of the groups.")
    elif not _num(e["n"]):
        text = f"No patient of this quarter is eligible for the week-{week} outcome yet."
    else:
        n, w = int(e["n"]), int(e["events"])
        text = (f"Of {n} eligible patients, {w} ({percent(w / n)}) had a questionnaire in the week-{week} window; "
                f"{n - w} ({percent((n - w) / n)}) had none: they stopped treatment, missed the visit, or (for "
                "patients who started late in the quarter) are not yet due.")
    return chart, text


def _outcome_rows(export: QuarterlyExport, dimension: str = "overall") -> list[dict]:
    s = export.summary
    return s[(s["dimension"] == dimension) & (s["benchmark_id"] == "")].to_dict("records")


def _forest(export: QuarterlyExport) -> str:
    bench = export.summary[(export.summary["dimension"] == "overall") & (export.summary["benchmark_id"] != "")]
    rows = []
    for r in _outcome_rows(export):
        pub = bench[bench["metric"] == r["metric"]]
        rows.append(ChartRow(label=r["label"], point=_point(r),
                             published=tuple((_num(b["benchmark_rate"]), b["comparable"] is True,
                                              f"{b['published_source']} ({b['benchmark_id']})")
                                             for b in pub.to_dict("records"))))
    return forest_svg(rows, title=f"All patients who started in {quarter_title(export.quarter)}: estimates and "
                                  "95% intervals")


def _outcomes_table(export: QuarterlyExport) -> str:
    table = pd.DataFrame([{"Outcome": r["label"], "Patients (n)": _count(r["n"]), "Reached it": _count(r["events"]),
                           "Rate (95% CI)": _rate_cell(r), "How it is computed": r["method"]}
                          for r in _outcome_rows(export)])
    return _table(table, numeric=["Patients (n)", "Reached it"])


def _rate_cell(r: dict, prefix: str = "") -> str:
    hidden = hidden_label(r, prefix)
    if hidden:
        return hidden
    rate = _num(r.get(f"{prefix}rate"))
    if rate is None or not _num(r.get(f"{prefix}n")):
        return f"{NO_DATA} (no patients)"
    low, high = r.get(f"{prefix}ci_low"), r.get(f"{prefix}ci_high")
    if _num(low) is None or _num(high) is None:  # e.g. a Kaplan-Meier estimate of 100%: log-log has no interval
        return f"{percent(rate)} (95% CI not defined)"
    return f"{percent(rate)} ({percent_interval(low, high)})"


def _comparison_rows(export: QuarterlyExport) -> list[dict]:
    s = export.summary
    return s[(s["dimension"] == "overall") & (s["benchmark_id"] != "")].to_dict("records")


def _comparison_table(export: QuarterlyExport) -> str:
    """One row per published figure: the clinic's, the published, the difference and the main thing that differs."""
    rows = []
    for b in _comparison_rows(export):
        diff = "hidden with the figure" if _is_hidden(b["difference"]) else points(b["difference"])
        if _num(b["diff_ci_low"]) is not None:
            diff += f" ({points_interval(b['diff_ci_low'], b['diff_ci_high'])})"
        rows.append({"Outcome": b["label"], "Published figure": b["published_source"],
                     "This clinic (95% CI)": _rate_cell(b), "Published": percent(b["benchmark_rate"]),
                     "Difference (95% CI)": diff,
                     "Measured the same way?": "yes" if b["comparable"] is True else "no: " + _first_reason(b["reason"])})
    return _table(pd.DataFrame(rows), css="small")


def _comparison_details(export: QuarterlyExport) -> str:
    """Every published figure's differences and its own uncertainty, in full (the methods section)."""
    rows = [{"Published figure": f"{b['published_source']}: {b['label']}", "What differs": b["reason"] or "—",
             "Published figure's own uncertainty": b["published_uncertainty"] or "not stated"}
            for b in _comparison_rows(export)]
    return _table(pd.DataFrame(rows), css="small")


def _strata(export: QuarterlyExport) -> tuple[str, str]:
    """A table per dimension (group × headline outcome) and a forest chart of the sites."""
    parts, chart_rows = [], []
    s = export.summary
    own = s[(s["benchmark_id"] == "") & (s["dimension"] != "overall")]
    titles = {r["metric"]: r["title"] for r in export.headline.to_dict("records")}
    for dim, title in _STRATA_TITLES.items():
        part = own[own["dimension"] == dim]
        if part.empty:
            continue
        table = []
        for stratum, rows in part.groupby("stratum", sort=False):
            by_metric = {r["metric"]: r for r in rows.to_dict("records")}
            table.append({readable_header(dim): stratum,
                          **{titles.get(m, m): (_rate_cell(by_metric[m]) + (
                              f", n = {_count(by_metric[m]['n'])}" if not hidden_label(by_metric[m]) and _num(by_metric[m]["n"])
                              else ""))
                             for m in titles if m in by_metric}})
        parts.append(f"<h3>{html.escape(title)}</h3>" + _table(pd.DataFrame(table)))
    sites = own[own["dimension"] == "site"]
    for metric in titles:
        for r in sites[sites["metric"] == metric].to_dict("records"):
            chart_rows.append(ChartRow(label=str(r["stratum"]), point=_point(r), group=titles.get(metric, metric)))
    chart = forest_svg(chart_rows, title="By site: estimates and 95% intervals", label_width=200) if chart_rows else ""
    return "".join(parts), chart


def _trend(export: QuarterlyExport) -> tuple[str, str]:
    titles = {r["metric"]: r["title"] for r in export.headline.to_dict("records")}
    t = export.trend
    quarters = list(dict.fromkeys(t["quarter"]))
    series, table = {}, {q: {"Quarter of treatment start": quarter_title(q)} for q in quarters}
    for metric, title in titles.items():
        rows = {r["quarter"]: r for r in t[t["metric"] == metric].to_dict("records")}
        series[title] = [_point(rows[q]) if q in rows else ChartPoint(rate=None) for q in quarters]
        for q in quarters:
            if q in rows:
                table[q][title] = _rate_cell(rows[q]) + (
                    f", n = {_count(rows[q]['n'])}" if not hidden_label(rows[q]) and _num(rows[q]["n"]) else "")
    chart = trend_svg([quarter_title(q) for q in quarters], series,
                      title="Each quarter's new patients (95% intervals as vertical lines)")
    return chart, _table(pd.DataFrame(list(table.values())))


def _safety(export: QuarterlyExport) -> str:
    rows = []
    for r in export.safety.to_dict("records"):
        pub = ""
        if isinstance(r.get("benchmark_id"), str) and r["benchmark_id"]:
            pub = f"{percent(r['benchmark_rate'])} ({r['published_source']}); not measured the same way"
        rows.append({"Measure": r["measure"], "Patients (n)": _count(r["n"]), "With it": _count(r["events"]),
                     "Share (95% CI)": _rate_cell(r) if _num(r.get("ci_low")) is not None or hidden_label(r)
                     else (percent(r["rate"]) if _num(r["n"]) else NO_DATA),
                     "Published figure": pub or "—"})
    return _table(pd.DataFrame(rows), numeric=["Patients (n)", "With it"], css="keep")


def _tolerability(export: QuarterlyExport) -> str:
    """The tolerability section, when the export has a sessions table (analytics.tolerability)."""
    if export.tolerability is None:
        return ""
    rows = [{"Measure": r["measure"], "Per": r["unit"], "Route": r["route"],
             "Count (n)": _count(r["n"]),
             "With it": _count(r["events"]), "Share (95% CI)": _rate_cell(r), "How it is counted": r["definition"]}
            for r in export.tolerability.to_dict("records")]
    return ('<section id="tolerability"><h2>Tolerability of the cohort\'s sessions</h2><p class="muted">Every session '
            "on record of the patients whose treatment started in the quarter, counted per session or per patient as "
            "each row says. Thresholds are clinic conventions (see methods).</p>"
            + _table(pd.DataFrame(rows), numeric=["Count (n)", "With it"], css="keep") + "</section>")


def _quality(export: QuarterlyExport) -> tuple[str, str]:
    rows = [{"Measure": r["measure"], "Age group": r["stratum"], "Patients (n)": _count(r["n"]),
             "Met": _count(r["events"]), "Rate (95% CI)": _rate_cell(r)} for r in export.quality.to_dict("records")]
    defs = export.quality.drop_duplicates("measure")
    dl = "".join(f"<dt>{html.escape(str(r['measure']))}</dt><dd>{html.escape(str(r['definition']))} "
                 f"<span class=muted>({html.escape(str(r['specification']))})</span></dd>"
                 for r in defs.to_dict("records"))
    return _table(pd.DataFrame(rows), numeric=["Patients (n)", "Met"]), f"<dl>{dl}</dl>"


def _methods(export: QuarterlyExport) -> str:
    rows = [{"Item": item_name(r["item"]), "Value": r["value"]}
            for r in export.definitions_table.to_dict("records")]
    return _table(pd.DataFrame(rows), css="small")


def html_report(export: QuarterlyExport) -> str:
    """The self-contained HTML report of ``export`` (no script, prints cleanly)."""
    e, d = export, export.definitions
    esc = html.escape
    params = e.manifest["parameters"]
    internal = not e.suppression
    notice = (f'<p class="notice">{esc(e.manifest.get("notice", ""))}. Figures for groups of fewer than '
              f"{SMALL_CELL_MAX + 1} patients are shown: for the clinic's director only.</p>") if internal else ""
    c = _completeness(e)
    volume_line = (f"{_count_in_words(c['starts']['n'])} patients started treatment, "
                   f"{_count_in_words(c['infusions']['n'])} infusions and {_count_in_words(c['incomplete']['n'])} "
                   "questionnaires were recorded in the quarter.")
    volume_line = volume_line[0].upper() + volume_line[1:]
    summary = "".join(f"<li>{esc(t)}</li>" for t in summary_sentences(e))
    retention_chart, retention_text = _retention(e)
    strata_tables, site_chart = _strata(e)
    trend_chart, trend_table = _trend(e)
    quality_table, quality_defs = _quality(e)
    suppression_note = (f"Counts from 1 to {SMALL_CELL_MAX}, and figures from which one could be worked out, are "
                        f"hidden. Tables and charts mark them \u201c{HIDDEN_SMALL}\u201d where the hidden count is "
                        f"from 1 to {SMALL_CELL_MAX}, and \u201c{HIDDEN_RULE}\u201d where it is hidden so that "
                        "such a count cannot be worked out from the others (CMS cell-size rule)." if not internal else
                        "Nothing is hidden in this internal version; hollow markers have fewer than "
                        f"{SMALL_CELL_MAX + 1} patients.")
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        title=esc(f"{e.clinic_name} — outcome report {quarter_title(e.quarter)}"),
        notice=notice, clinic=esc(e.clinic_name), quarter=esc(quarter_title(e.quarter)),
        period=esc(f"{_day(params['quarter_start'])} to {_day(params['quarter_end'])}"),
        spec_version=esc(SPEC_VERSION), generated_at=esc(e.manifest["generated_at"][:10]),
        analysis=esc(ANALYSIS_MODE_LABELS[d.analysis]), week=d.week, internal_class=" internal" if internal else "",
        summary=summary, volume_line=esc(volume_line), volume_table=_volume(e),
        retention_chart=retention_chart, retention_text=esc(retention_text),
        forest_chart=_forest(e), outcomes_table=_outcomes_table(e), comparison_table=_comparison_table(e),
        site_chart=site_chart, strata_tables=strata_tables, trend_chart=trend_chart, trend_table=trend_table,
        safety_table=_safety(e), quality_table=quality_table, quality_definitions=quality_defs,
        methods=esc(d.describe()), suppression_note=esc(suppression_note), methods_table=_methods(e),
        comparison_details=_comparison_details(e), tolerability_section=_tolerability(e))
