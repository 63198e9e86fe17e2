"""The quarterly workbook (XLSX) as a person opens it: a readable summary sheet, then one sheet per table.

Number columns hold only numbers (counts as whole numbers, rates formatted as
percentages, differences in percentage points); a hidden value leaves its cell
empty and the row's Status column says what was hidden (``<11``: a count from
1 to 10; ``suppressed``: a value hidden so that such a count cannot be worked
out).  Headers are readable and frozen, columns are as wide as their contents
(long text wraps), and every text cell is formula-neutralised
(:func:`analytics.exports.neutralise_formulas`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .definitions import SMALL_CELL_MAX
from .exports import neutralise_formulas
from .quarterly_report import item_name, quarter_title, summary_sentences
from .suppression import SUPPRESSED_COUNT, SUPPRESSED_VALUE

if TYPE_CHECKING:
    from .quarterly import QuarterlyExport

__all__ = ["write_workbook", "SHEETS", "STATUS_HEADER"]

STATUS_HEADER = "Status"
PERCENT = "0.0%"
POINTS = '+0.0" pp";-0.0" pp";0.0" pp"'
COUNT = "#,##0"
P_VALUE = "0.000"
_HIDDEN = (SUPPRESSED_COUNT, SUPPRESSED_VALUE)
_LONG_TEXT = 60  # wider text wraps at this many characters
_HEADER_FILL = PatternFill("solid", fgColor="DDE8F3")
_NOTICE_FILL = PatternFill("solid", fgColor="FDE8E4")

#: Source column -> (header, number format or None for text, multiplier).  Differences are stored in
#: percentage points (x 100) so the number and its header agree.
_COLUMNS = {
    "dimension": ("Grouped by", None, 1), "stratum": ("Group", None, 1), "quarter": ("Quarter of treatment start",
                                                                                     None, 1),
    "label": ("Outcome", None, 1), "measure": ("Measure", None, 1), "n": ("Patients (n)", COUNT, 1),
    "events": ("Reached it (events)", COUNT, 1), "rate": ("Rate", PERCENT, 1), "ci_low": ("95% CI low", PERCENT, 1),
    "ci_high": ("95% CI high", PERCENT, 1), "method": ("Method", None, 1),
    "benchmark_id": ("Published figure (id)", None, 1), "published_source": ("Published by", None, 1),
    "benchmark_rate": ("Published rate", PERCENT, 1), "published_uncertainty": ("Published uncertainty", None, 1),
    "difference": ("Difference (pp)", POINTS, 100), "diff_ci_low": ("Difference, 95% CI low (pp)", POINTS, 100),
    "diff_ci_high": ("Difference, 95% CI high (pp)", POINTS, 100), "p_value": ("p", P_VALUE, 1),
    "p_holm": ("p (Holm-adjusted)", P_VALUE, 1), "test": ("Test", None, 1),
    "comparable": ("Measured the same way", None, 1), "reason": ("What differs", None, 1),
    "specification": ("Specification", None, 1), "definition": ("Definition", None, 1),
    "item": ("Item", None, 1), "value": ("Value", None, 1),
    # the tolerability sheet counts sessions or patients, as its "Counted per" column says
    "unit": ("Counted per", None, 1), "route": ("Route", None, 1), "count_n": ("Count (n)", COUNT, 1),
    "count_events": ("With it (events)", COUNT, 1),
}
#: The tolerability sheet (only when the export has a sessions table), placed before Definitions.
TOLERABILITY_COLUMNS = ["measure", "unit", "route", "count_n", "count_events", "rate", "ci_low", "ci_high",
                        "definition"]
_DIMENSIONS = {"overall": "all patients", "site": "site", "protocol": "protocol", "baseline_band": "baseline severity"}

#: Sheet -> (table attribute, columns in order).
SHEETS = {
    "Outcomes": ("summary_own", ["dimension", "stratum", "label", "n", "events", "rate", "ci_low", "ci_high",
                                 "method"]),
    "Published comparisons": ("summary_bench", ["dimension", "stratum", "label", "published_source",
                                                "benchmark_id", "benchmark_rate", "rate", "ci_low", "ci_high",
                                                "difference", "diff_ci_low", "diff_ci_high", "p_value", "p_holm",
                                                "test", "comparable", "reason", "published_uncertainty"]),
    "Trend": ("trend", ["quarter", "label", "n", "events", "rate", "ci_low", "ci_high", "method"]),
    "Safety": ("safety", ["measure", "n", "events", "rate", "ci_low", "ci_high", "published_source",
                          "benchmark_rate", "difference", "comparable", "reason"]),
    "Volume and completeness": ("completeness", ["measure", "n", "events", "rate"]),
    "Quality measures": ("quality", ["measure", "stratum", "n", "events", "rate", "ci_low", "ci_high",
                                     "specification", "definition"]),
    "Definitions": ("definitions_table", ["item", "value"]),
}


def _table(export: QuarterlyExport, attribute: str) -> pd.DataFrame:
    s = export.summary
    if attribute == "summary_own":
        return s[s["benchmark_id"] == ""]
    if attribute == "summary_bench":
        return s[s["benchmark_id"] != ""]
    return getattr(export, attribute)


def _status(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """What each row hides, by readable header: ``"<11: Patients (n); suppressed: Rate, 95% CI low"``."""
    parts = []
    for label in _HIDDEN:
        hit = pd.DataFrame({_COLUMNS[c][0]: frame[c].astype(object).map(lambda v, lab=label: v == lab)
                            for c in columns if c in frame})
        parts.append(hit.apply(lambda r, lab=label: (f"{lab}: " + ", ".join(r.index[r.to_numpy(dtype=bool)]))
                               if r.any() else "", axis=1) if len(hit) else pd.Series([], dtype=object))
    joined = [("; ".join(p for p in ps if p)) for ps in zip(*parts)] if len(frame) else []
    return pd.Series(joined, index=frame.index, dtype=object)


def _sheet_frame(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list]:
    """The sheet's cells: numbers only in number columns (hidden -> empty), a Status column, readable text."""
    columns = [c for c in columns if c in frame]
    out = pd.DataFrame(index=frame.index)
    formats = []
    for c in columns:
        header, fmt, scale = _COLUMNS[c]
        values = frame[c].astype(object)
        if fmt is None:
            if c == "dimension":
                values = values.map(lambda v: _DIMENSIONS.get(v, v))
            elif c == "item":  # parameter names as words: "window_days" -> "Window days"
                values = values.map(item_name)
            elif c == "comparable":
                values = values.map(lambda v: "yes" if v is True else "no" if v is False else None)
            values = values.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) or v == ""
                                else str(v))
        else:
            numbers = pd.to_numeric(values.where(~values.isin(_HIDDEN), None), errors="coerce")
            values = (numbers * scale).astype(object).where(numbers.notna(), None)
        out[header] = values
        formats.append(fmt)
    out[STATUS_HEADER] = _status(frame, columns)
    formats.append(None)
    return out.reset_index(drop=True), formats


def _write(ws, frame: pd.DataFrame, formats: list, *, start_row: int, freeze: bool = True) -> None:
    """A header row (bold, filled, frozen, filtered) and the rows, each column as wide as its contents."""
    frame = neutralise_formulas(frame)
    for j, header in enumerate(frame.columns, start=1):
        cell = ws.cell(row=start_row, column=j, value=header)
        cell.font, cell.fill = Font(bold=True), _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, row in enumerate(frame.itertuples(index=False), start=start_row + 1):
        for j, (value, fmt) in enumerate(zip(row, formats), start=1):
            if value is None or (isinstance(value, float) and pd.isna(value)):
                continue
            cell = ws.cell(row=i, column=j, value=value)
            if fmt:
                cell.number_format = fmt
            elif isinstance(value, str) and len(value) > _LONG_TEXT:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    for j, header in enumerate(frame.columns, start=1):
        shown = [len(str(header)) / 1.3] + [_shown_length(v, formats[j - 1]) for v in frame.iloc[:, j - 1]]
        ws.column_dimensions[get_column_letter(j)].width = min(max(shown) + 2, _LONG_TEXT + 2)
    if freeze:
        ws.freeze_panes = ws.cell(row=start_row + 1, column=1)
    if len(frame):
        ws.auto_filter.ref = f"A{start_row}:{get_column_letter(len(frame.columns))}{start_row + len(frame)}"


def _shown_length(value, fmt) -> float:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return 0
    if fmt in (PERCENT, POINTS):
        return 9
    if fmt == COUNT:
        return len(f"{int(value):,}")
    return len(str(value))


def _notice(ws, export: QuarterlyExport) -> int:
    """The internal notice in A1 of every sheet of the unsuppressed version; the row the table starts on."""
    if export.suppression:
        return 1
    cell = ws.cell(row=1, column=1, value=export.manifest.get("notice", ""))
    cell.font, cell.fill = Font(bold=True, color="B03A00", size=12), _NOTICE_FILL
    return 3


def _summary_sheet(ws, export: QuarterlyExport) -> None:
    """Title, the plain-language summary, and the headline figures as a small table."""
    row = _notice(ws, export)
    params = export.manifest["parameters"]
    lines = [(export.clinic_name, Font(bold=True, size=16)),
             (f"Outcome report, {quarter_title(export.quarter)}: patients whose treatment started from "
              f"{params['quarter_start']} to {params['quarter_end']}", Font(size=12)),
             ("", None), ("Summary", Font(bold=True, size=13))]
    lines += [(f"• {t}", None) for t in summary_sentences(export)]
    lines += [("", None), ("This report informs clinical review; it does not give clinical advice. "
                           + (f"Counts from 1 to {SMALL_CELL_MAX} (and values that would reveal them) are hidden: "
                              "the Status column says which." if export.suppression else
                              "Small cells are NOT hidden: internal use only."), Font(italic=True)), ("", None)]
    text = neutralise_formulas(pd.DataFrame({"line": [t for t, _ in lines]}))["line"].tolist()
    for t, (_, font) in zip(text, lines):
        cell = ws.cell(row=row, column=1, value=t or None)
        if font:
            cell.font = font
        if len(t) > 100:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=8)
            ws.row_dimensions[row].height = 15 * (len(t) // 120 + 1)
        row += 1
    h = export.headline
    table = pd.DataFrame({
        "title": h["title"], "n": h["n"], "events": h["events"], "rate": h["rate"], "ci_low": h["ci_low"],
        "ci_high": h["ci_high"], "previous_rate": h["previous_rate"], "change": h["change"],
        "published_source": h["published_source"], "benchmark_rate": h["benchmark_rate"],
        "comparable": h["comparable"]})
    cells, formats = _sheet_frame(table.rename(columns={"title": "label"}),
                                  ["label", "n", "events", "rate", "ci_low", "ci_high", "published_source",
                                   "benchmark_rate", "comparable"])
    previous = pd.to_numeric(h["previous_rate"].astype(object).where(~h["previous_rate"].isin(_HIDDEN), None),
                             errors="coerce")
    change = pd.to_numeric(h["change"], errors="coerce") * 100
    cells.insert(6, "Previous quarter rate", previous.astype(object).where(previous.notna(), None).tolist())
    cells.insert(7, "Change (pp)", change.astype(object).where(change.notna(), None).tolist())
    formats[6:6] = [PERCENT, POINTS]
    status = _status(h.rename(columns={"previous_rate": "rate_previous"}), ["n", "events", "rate", "ci_low", "ci_high"])
    prev_hidden = h["previous_rate"].isin(_HIDDEN)
    cells[STATUS_HEADER] = [("; ".join(x for x in (s, "previous quarter hidden" if p else "") if x))
                            for s, p in zip(status, prev_hidden)]
    _write(ws, cells, formats, start_row=row, freeze=False)  # a page to read, not a list to scroll
    widths = {k: v.width for k, v in ws.column_dimensions.items()}
    _volume_table(ws, export, start_row=row + len(cells) + 2)
    for k, w in widths.items():  # the headline table sets the widths; the volume table only fits in them
        ws.column_dimensions[k].width = max(w, ws.column_dimensions[k].width if k != "A" else 0)
    ws.column_dimensions["A"].width = max(widths.get("A", 0), 40)


def _volume_table(ws, export: QuarterlyExport, *, start_row: int) -> None:
    """New starts, infusions and questionnaires: this quarter and the previous one (counts only)."""
    c = {r["key"]: r for r in export.completeness.to_dict("records")}
    previous = next((r["measure"].split("(")[-1].rstrip(")") for k, r in c.items() if k == "starts_previous"), "")
    rows = [("New treatment starts", "starts", "starts_previous"),
            ("Infusions recorded", "infusions", "infusions_previous"),
            ("Questionnaires", "incomplete", "questionnaires_previous")]
    frame = pd.DataFrame([{"measure": label, "n": c[now]["n"], "events": c[before]["n"] if before in c else None}
                          for label, now, before in rows])
    cells, formats = _sheet_frame(frame, ["measure", "n", "events"])
    cells.columns = ["Volume", quarter_title(export.quarter),
                     quarter_title(previous) if previous else "Previous quarter", STATUS_HEADER]
    cells[STATUS_HEADER] = cells[STATUS_HEADER].str.replace("Patients (n)", "this quarter") \
        .str.replace("Reached it (events)", "previous quarter")
    _write(ws, cells, formats, start_row=start_row, freeze=False)


def write_workbook(export: QuarterlyExport, path) -> Path:
    """Write the workbook to ``path``: Summary first, then one sheet per table (see :data:`SHEETS`)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    _summary_sheet(ws, export)
    sheets = {name: (_table(export, attribute), columns) for name, (attribute, columns) in SHEETS.items()}
    if export.tolerability is not None:
        tolerability = export.tolerability.rename(columns={"n": "count_n", "events": "count_events"})
        sheets = {**{k: v for k, v in sheets.items() if k != "Definitions"},
                  "Tolerability": (tolerability, TOLERABILITY_COLUMNS), "Definitions": sheets["Definitions"]}
    for name, (frame, columns) in sheets.items():
        ws = wb.create_sheet(name)
        start = _notice(ws, export)
        cells, formats = _sheet_frame(frame, columns)
        _write(ws, cells, formats, start_row=start)
    path = Path(path)
    wb.save(path)
    return path
