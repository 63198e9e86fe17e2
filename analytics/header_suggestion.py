"""Suggest a column mapping from the headers of an export, so a director can load it without writing one.

One job: look at the top of a file and say (1) which row holds the headers (a spreadsheet often has a
title block above them), (2) which header most likely holds each column of the input contract, from the
common spellings EHRs and spreadsheets use ("Patient ID", "Date of Service", "PHQ-9 Total Score", "Q9",
"Thoughts that you would be better off dead..."), and (3) how the dates are written.  Suggestions only:
the person confirms them on the Data page, and the validator still checks every cell.

A header that looks like a direct identifier (:mod:`analytics.deidentification`) is never suggested for
any column; the file is refused while it holds one, whatever the mapping says.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .deidentification import header_key, identifier_column_reason
from .definitions import HEADER_SEARCH_ROWS
from .errors import UnreadableFileError
from .instruments import GAD7, PHQ9

__all__ = [
    "ContractField",
    "CONTRACT_FIELDS",
    "HeaderRowGuess",
    "DateFormatGuess",
    "DATE_FORMATS",
    "read_top_rows",
    "detect_header_row",
    "suggest_columns",
    "suggest_date_format",
]


@dataclass(frozen=True)
class ContractField:
    """One column of the input contract as the mapping screen offers it."""

    column: str
    label: str
    need: str  # "required", "required unless ..." or "optional"
    patterns: tuple = ()  # (regex over the header key, rank): rank 1 a usual spelling, 2 a looser one


def _items(inst, texts: dict[int, str], prefix: str, short: str) -> list[ContractField]:
    out = []
    for k in range(1, inst.n_items + 1):
        numbered = (rf"^({prefix}_|{short}_(?=(item|q|question)_))((item|q|question|number)_)?{k}(_|$)", 1)
        plain = (rf"^((item|q|question|number)_)?{k}$", 2)
        label = f"{inst.name} item {k}"
        last = k == inst.n_items  # the PHQ-9's last item asks about self-harm
        if inst is PHQ9 and last:
            label += " (thoughts of self-harm / better off dead)"
        patterns = [numbered, (texts[k], 2)]
        if inst is PHQ9:
            patterns.append(plain)  # a bare "Q9" is the PHQ-9's far more often than the GAD-7's
        need = "optional" if (inst is GAD7 or last) else "required unless the PHQ-9 total is given"
        out.append(ContractField(f"{short}{inst.n_items}_{k}", label, need, tuple(patterns)))
    return out


_PHQ9_TEXT = {
    1: r"little_interest|interest_or_pleasure", 2: r"down_depressed|depressed_or_hopeless|hopeless",
    3: r"asleep|sleep", 4: r"tired|little_energy", 5: r"appetite|overeating",
    6: r"bad_about_yourself|failure|let_yourself", 7: r"concentrat", 8: r"moving_or_speaking|speaking_so_slowly|fidget",
    9: r"better_off_dead|self_harm|hurting_yourself|harm_yourself|hurt_yourself|suicid|self_injur|off_dead",
}
_GAD7_TEXT = {
    1: r"nervous|anxious|on_edge", 2: r"control_worrying|stop_or_control", 3: r"worrying_too_much",
    4: r"trouble_relaxing|relaxing", 5: r"restless|sit_still", 6: r"annoyed|irritable", 7: r"afraid|awful",
}
_TOTAL_WORDS = r"(_(total|score|sum|raw|result|value))*"

#: The contract's columns in the order the mapping screen lists them.
CONTRACT_FIELDS: tuple[ContractField, ...] = (
    ContractField("patient_id", "Patient pseudonym (patient id)", "required", (
        (r"^((patient|subject|participant|client|study|record|person|research|anon|anonymous|deidentified|"
         r"de_identified|pseudo|unique)_(id|identifier|code|key|ref|reference|pseudonym|number))$"
         r"|^(patient_)?pseudonym$|^pseudo_?id$|^patient$", 1),
        (r"^id$|(^|_)pseudonym($|_)|^(patient|subject|participant|client)_(.*_)?(id|code|key)$", 2))),
    ContractField("assessment_date", "Date of the questionnaire (date of service)",
                  "required unless the study day is given", (
        (r"^(date_of_service|dos|service_date|assessment_date|date_of_assessment|visit_date|date_of_visit|"
         r"encounter_date|questionnaire_date|survey_date|score_date|completed_date|date_completed|completion_date|"
         r"completed_on|administered_date|date_administered|administration_date|observation_date|collection_date|"
         r"appointment_date|session_date|response_date|form_date|assessed_on|date)$", 1),
        (r"^(?!.*(start|birth|first|induction|discharge|admission|created|updated|modified|end|referral|dob))"
         r"(.*_)?(date|datetime|date_time)(_.*)?$|^(completed|administered|submitted|taken|recorded)_(at|on)$", 2))),
    ContractField("day", "Study day (instead of dates)", "required unless dates are given", (
        (r"^(study_day|day|treatment_day|days_since_start|day_number|days_from_start)$", 1),)),
    ContractField("treatment_start_date", "Treatment start date", "optional", (
        (r"^(treatment_start(_date)?|start_date|start_of_treatment|first_infusion(_date)?|date_of_first_infusion|"
         r"induction_start(_date)?|induction_date|course_start(_date)?|series_start(_date)?|episode_start(_date)?|"
         r"tx_start(_date)?|date_started|therapy_start(_date)?|ketamine_start(_date)?|treatment_started)$", 1),
        (r"(^|_)start(ed)?($|_)|(^|_)first_infusion($|_)", 2))),
    ContractField("phq9_total", "PHQ-9 total", "required unless all nine items are given", (
        (rf"^(total_)?phq(_9)?{_TOTAL_WORDS}$", 1),
        (r"(^|_)phq(_9)?_(.*_)?(total|score|sum)($|_)|^depression_(score|total)$", 2))),
    *_items(PHQ9, _PHQ9_TEXT, "phq_9", "phq"),
    ContractField("gad7_total", "GAD-7 total", "optional", (
        (rf"^(total_)?gad(_7)?{_TOTAL_WORDS}$", 1),
        (r"(^|_)gad(_7)?_(.*_)?(total|score|sum)($|_)|^anxiety_(score|total)$", 2))),
    *_items(GAD7, _GAD7_TEXT, "gad_7", "gad"),
    ContractField("infusion_number", "Infusion number", "optional", (
        (r"^(infusion|infusion_number|infusion_count|infusion_index|infusion_seq|infusion_sequence|"
         r"session_number|treatment_number|dose_number|infusion_no)$", 1),
        (r"^(?!.*date)(.*_)?infusion(_.*)?$", 2))),
    ContractField("site", "Site", "optional", (
        (r"^(site|site_name|location|location_name|clinic|clinic_name|clinic_location|facility|facility_name|"
         r"practice|practice_location|office|center|centre|department|service_location)$", 1),)),
    ContractField("clinician", "Clinician", "optional", (
        (r"^(clinician|clinician_name|provider|provider_name|rendering_provider|prescriber|physician|psychiatrist|"
         r"attending|treating_clinician|treating_provider)$", 1),)),
    ContractField("protocol", "Protocol", "optional", (
        (r"^(protocol|protocol_name|treatment_protocol|regimen)$", 1),)),
)
_FIELD_RES = [(f, [(re.compile(p), rank) for p, rank in f.patterns]) for f in CONTRACT_FIELDS]
_INSTRUMENT_OF = {f.column: ("phq" if f.column.startswith("phq") else "gad" if f.column.startswith("gad") else "")
                  for f in CONTRACT_FIELDS}


def _match_rank(field: ContractField, compiled, header: str) -> int | None:
    """0 for the contract's own name, 1 or 2 for a usual or looser spelling, None for no match."""
    if str(header).strip().lower() == field.column:
        return 0
    key = header_key(header)
    words = set(key.split("_"))
    own = _INSTRUMENT_OF[field.column]
    # a header naming one instrument never matches the other's columns
    if own and ({"phq", "gad"} - {own}) & words:
        return None
    if not own and ({"phq", "gad"} & words):
        return None
    ranks = [rank for rx, rank in compiled if rx.search(key)]
    return min(ranks) if ranks else None


def suggest_columns(headers) -> pd.DataFrame:
    """For every contract column, the header of ``headers`` that most likely holds it.

    Each header is suggested for one column at most: the best match wins (the contract's own name, then a
    usual spelling, then a looser one; ties go to the column listed first, then the header met first).
    Headers that look like direct identifiers are never suggested.

    Returns
    -------
    pandas.DataFrame
        One row per :data:`CONTRACT_FIELDS` entry: ``column``, ``label``, ``need``, ``header`` (the header as
        written, or None) and ``match`` ("exact", "usual spelling", "loose" or "").
    """
    headers = [str(h) for h in headers if str(h).strip()]
    usable = [h for h in headers if not identifier_column_reason(h)]
    candidates = []
    for order, (field, compiled) in enumerate(_FIELD_RES):
        for position, header in enumerate(usable):
            rank = _match_rank(field, compiled, header)
            if rank is not None:
                candidates.append((rank, order, position, field.column, header))
    chosen: dict[str, tuple[str, int]] = {}
    taken: set[str] = set()
    for rank, _, _, column, header in sorted(candidates):
        if column not in chosen and header not in taken:
            chosen[column] = (header, rank)
            taken.add(header)
    words = {0: "exact", 1: "usual spelling", 2: "loose"}
    table = pd.DataFrame({
        "column": [f.column for f in CONTRACT_FIELDS], "label": [f.label for f in CONTRACT_FIELDS],
        "need": [f.need for f in CONTRACT_FIELDS],
        "match": [words[chosen[f.column][1]] if f.column in chosen else "" for f in CONTRACT_FIELDS]})
    # None, not NaN, where nothing matches: a text column would turn the gaps into NaN
    table.insert(3, "header", pd.Series([chosen[f.column][0] if f.column in chosen else None
                                         for f in CONTRACT_FIELDS], dtype=object))
    return table


# ----------------------------------------------------------------------------- the header row

@dataclass(frozen=True)
class HeaderRowGuess:
    """Which row of the file names the columns (1 = the first line), and what lies above it."""

    row: int
    title: tuple  # the non-empty cells above the header row, as written
    recognised: int  # headers of that row matched to a contract column
    why: str


_NUMBER = re.compile(r"^[-+]?\d+([.,]\d+)?%?$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?$")


def detect_header_row(rows) -> HeaderRowGuess:
    """The row that names the columns, from the first rows of a file (lists of cells as text).

    A header row has at least two cells, all of them words (no numbers or dates), none repeated. Of
    such rows the one with the most headers recognised as contract columns wins; with none recognised,
    the first row as wide as the widest row below the title.  A title block ("Westlake Clinic - PHQ-9
    report", "Printed 04/01/2026") is one or two cells wide, so it is never chosen.
    """
    cleaned = [[str(c).strip() for c in r] for r in rows]
    filled = [[c for c in r if c] for r in cleaned]
    best = None
    for i, cells in enumerate(filled):
        if len(cells) <= 1 or len(set(c.lower() for c in cells)) < len(cells):  # a title is one cell
            continue
        if any(_NUMBER.match(c) or _DATE_LIKE.match(c) for c in cells):
            continue
        recognised = int(suggest_columns(cells)["header"].notna().sum())
        key = (recognised, len(cells))
        if best is None or key > best[0]:
            best = (key, i)
    if best is None:
        return HeaderRowGuess(1, (), 0, "no row looks like a header (every row has numbers or dates); the first "
                                        "line is taken as the header: choose another if it is not")
    (recognised, _), i = best
    title = tuple(c for r in filled[:i] for c in r)
    if i == 0:
        why = "the first line names the columns"
    else:
        why = (f"line {i + 1} names the columns; the {i} line(s) above it look like a title block and are "
               "skipped")
    return HeaderRowGuess(i + 1, title, recognised, why)


def read_top_rows(path, *, label: str | None = None, sheet: str | None = None,
                  rows: int = HEADER_SEARCH_ROWS) -> list[list[str]]:
    """The first ``rows`` rows of a CSV or XLSX file as lists of text cells, header or not.

    Parquet files name their columns in their schema: the column names, then the first rows.

    Raises
    ------
    UnreadableFileError
        When the file cannot be read (same checks and messages as :func:`analytics.loading.read_table`).
    """
    from .loading import _cell_text, _check_zip, _choose_sheet, _decode, check_input_path, read_table

    path = Path(path)
    name = label or path.name
    check_input_path(path, name)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("rb") as f:
            head = f.read(1 << 20)  # the top of the file is enough; the whole file is read on import
        try:
            text = _decode(head, name)
        except UnreadableFileError:
            if len(head) < (1 << 20):
                raise
            text = head.decode("utf-8-sig", errors="replace")  # a character cut at the 1 MB boundary
        if "\r" in text and "\n" not in text:
            text = text.replace("\r", "\n")
        lines = text.split("\n")[:rows]
        try:
            return [list(r) for r in csv.reader(io.StringIO("\n".join(lines)))]
        except csv.Error as exc:
            raise UnreadableFileError(f"{name}: the first lines cannot be read as CSV ({exc}); save the file again "
                                      "as CSV UTF-8.", source=name) from None
    if suffix == ".xlsx":
        import openpyxl

        data = path.read_bytes()
        _check_zip(data, name)
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for corrupt files
            raise UnreadableFileError(
                f"{name}: the spreadsheet cannot be opened ({type(exc).__name__}). Check that it is an .xlsx workbook "
                "(not .xls or a renamed CSV) and not password-protected.", source=name) from None
        try:
            ws, _ = _choose_sheet(book, name, sheet)
            out = []
            for row in ws.iter_rows(values_only=True, max_row=rows):
                out.append(["" if v is None else _cell_text(v) for v in row])
            return out
        finally:
            book.close()
    raw = read_table(path, label=name)
    written = list(raw.headers.values())
    return [written] + raw.frame.head(rows - 1).astype("str").to_numpy().tolist()


# ----------------------------------------------------------------------------- dates

#: Date formats the mapping screen offers: strftime code -> how a person reads it.
DATE_FORMATS = {
    "": "ISO: 2026-03-25 (no format needed)",
    "%m/%d/%Y": "US: 03/25/2026 (month first)",
    "%d/%m/%Y": "Day first: 25/03/2026",
    "%m/%d/%y": "US, two-digit year: 03/25/26",
    "%d/%m/%y": "Day first, two-digit year: 25/03/26",
    "%d.%m.%Y": "Day first with dots: 25.03.2026",
    "%m-%d-%Y": "US with dashes: 03-25-2026",
    "%d-%m-%Y": "Day first with dashes: 25-03-2026",
    "%Y/%m/%d": "Year first with slashes: 2026/03/25",
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_TIME = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2})?( ?[AaPp][Mm])?$")


@dataclass(frozen=True)
class DateFormatGuess:
    """How the dates of a column are written: ``format`` ("" for ISO), the share of sample values it reads,
    and the other formats that read them all equally well (day and month both 12 or less)."""

    format: str
    share: float
    ambiguous_with: tuple
    why: str


def suggest_date_format(values) -> DateFormatGuess:
    """The date format of ``values`` (text cells; blanks ignored), with why.

    A time of day after the date (``03/25/2026 09:30``) is ignored: the date part decides.  When month
    first and day first both read every value (no day above 12), month first (US) is suggested and the
    ambiguity is said, so the person checks a known date in the preview.
    """
    text = pd.Series([str(v).strip() for v in values if v is not None and str(v).strip()], dtype="str")
    if text.empty:
        return DateFormatGuess("", 0.0, (), "no dates to look at: ISO (YYYY-MM-DD) assumed")
    if text.str.match(_ISO).all():
        return DateFormatGuess("", 1.0, (), "every date is ISO (YYYY-MM-DD)")
    dates = text.str.replace(_TIME, "", regex=True).unique()
    shares = {}
    for fmt in DATE_FORMATS:
        if fmt:
            parsed = pd.to_datetime(pd.Series(dates), format=fmt, errors="coerce")
            shares[fmt] = float(parsed.notna().mean())
    best = max(shares.values())
    if best == 0:
        return DateFormatGuess("", 0.0, (), "the dates are in no format offered; choose one, or export ISO dates")
    winners = [f for f, s in shares.items() if s == best]  # in DATE_FORMATS order: US first
    fmt = winners[0]
    others = tuple(winners[1:])
    read = "every date" if best == 1 else f"{best:.0%} of the dates"
    why = f"{DATE_FORMATS[fmt]} reads {read}"
    if others:
        why += (f"; {DATE_FORMATS[others[0]].split(':')[0].lower()} reads them too (no day above 12 in the "
                "sample): check a date you know in the preview")
    return DateFormatGuess(fmt, best, others, why)
