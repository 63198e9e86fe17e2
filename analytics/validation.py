"""Validation of questionnaire files and their canonical frame.

Schema problems (the header: missing or identifying columns) are reported on
their own, before any cell is read, because a wrong header makes every cell
check noise.  Data problems are then collected for every cell at once and
returned as one table (line, column, value, problem), pandera style.

The canonical frame has one row per questionnaire, sorted by patient then
study day, with these columns: ``patient_id`` (text), ``day`` (study day),
``assessment_date`` and ``treatment_start_date`` when given, ``phq9_1`` ...
``phq9_9``, ``phq9_total``, ``complete``, GAD-7 columns when given, any other
columns as text attributes, and ``line`` (the file line it came from).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .definitions import BASELINE_WINDOW_DAYS
from .errors import PROBLEM_COLUMNS, QuestionnaireValidationError
from .instruments import GAD7, PHQ9, Instrument
from .loading import RawTable, raw_table_from_frame, read_table

__all__ = [
    "ValidationReport",
    "validate_questionnaires",
    "load_questionnaires",
    "identifier_column_reason",
    "DAY_LIMIT",
    "MAX_PROBLEMS_PER_KIND",
]

#: Study days (and date differences) allowed: about ten years either side of the start.
DAY_LIMIT = 3650
#: Rows kept per (column, problem) in a report; the rest are counted in one line.
MAX_PROBLEMS_PER_KIND = 200

_DEIDENTIFIED = "this tool only accepts de-identified data"

# HIPAA Safe Harbor identifiers, matched against the header split into words.
_IDENTIFIER_COLUMNS = [
    (r"^name$|(first|last|middle|full|given|family|maiden|patient|sur|fore|nick)_?name", "a person's name"),
    (r"dob|birth", "a date of birth"),
    (r"ssn|social_security|social_insurance|nhs_(number|no)|national_id", "a social security or national number"),
    (r"mrn|medical_record|chart_(number|no)|hospital_number", "a medical record number"),
    (r"phone|telephone|mobile|cell|fax", "a telephone or fax number"),
    (r"e_?mail", "an e-mail address"),
    (r"address|street|addr|city|town|county|zip|zipcode|postcode|postal", "an address or geographic unit smaller than a state"),
    (r"health_plan|insurance|member_(id|number)|policy_(id|number)|beneficiary|account|acct", "a health plan or account number"),
    (r"licen[cs]e|driver", "a licence number"),
    (r"vehicle|vin|plate", "a vehicle identifier"),
    (r"device_(id|serial)|serial", "a device identifier or serial number"),
    (r"url|website|ip|ip_address", "a web address or IP address"),
    (r"photo|photograph|face|fingerprint|biometric|voiceprint", "a photograph or biometric identifier"),
]
_IDENTIFIER_RES = [(re.compile(rf"(^|_)({pat})($|_)"), what) for pat, what in _IDENTIFIER_COLUMNS]

_ID_VALUE_PATTERNS = [
    (r"^\d{3}-\d{2}-\d{4}$", "looks like a social security number (###-##-####)"),
    (r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "looks like an e-mail address"),
    (r"^\(\d{3}\)\s*\d{3}-\d{4}$|^\d{3}-\d{3}-\d{4}$|^\+\d[\d\s().-]{8,}$", "looks like a telephone number"),
]

_TIME_COLUMNS = ("day", "assessment_date", "treatment_start_date")
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
_AGE_COLUMNS = ("age", "age_years", "age_at_start", "age_at_treatment")


def identifier_column_reason(header: str) -> str | None:
    """Why a header names a direct identifier (HIPAA Safe Harbor), or ``None``.

    >>> identifier_column_reason("Date of Birth")
    'a date of birth'
    >>> identifier_column_reason("site") is None
    True
    """
    words = re.sub(r"[^a-z0-9]+", "_", str(header).lower()).strip("_")
    for rx, what in _IDENTIFIER_RES:
        if rx.search(words):
            return what
    return None


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of validating one file.

    Attributes
    ----------
    source : str
        File name.
    errors : pandas.DataFrame
        Problems that refuse the file (line, column, value, problem).
    warnings : pandas.DataFrame
        Problems that leave the file usable, with what was done about them.
    counts : dict
        Rows read, questionnaires, complete and incomplete, duplicates collapsed,
        patients, patients without baseline, blank rows skipped.
    frame : pandas.DataFrame or None
        The canonical frame when there are no errors.
    sha256 : str
        SHA-256 of the file's bytes.
    """

    source: str
    errors: pd.DataFrame
    warnings: pd.DataFrame
    counts: dict = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    sha256: str = ""

    @property
    def ok(self) -> bool:
        """True when the file is usable (no errors; warnings allowed)."""
        return self.errors.empty

    def raise_if_invalid(self) -> None:
        """Raise :class:`QuestionnaireValidationError` carrying every error."""
        if not self.ok:
            raise QuestionnaireValidationError(self.errors, self.source)

    def to_text(self) -> str:
        """The report for a person: verdict, counts, then every problem."""
        out = []
        if self.ok:
            out.append(f"{self.source}: usable. {self.counts.get('questionnaires', 0)} questionnaires from "
                       f"{self.counts.get('patients', 0)} patients.")
        else:
            out.append(f"{self.source}: REFUSED, {len(self.errors)} error row(s); nothing was loaded. "
                       "Fix the file and validate it again.")
        if self.counts:
            out.append("  " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.counts.items()))
        for title, table in (("Errors", self.errors), ("Warnings", self.warnings)):
            if len(table):
                out.append(f"\n{title} ({len(table)}):")
                out.append(_format_problems(table))
        return "\n".join(out)


def _format_problems(table: pd.DataFrame) -> str:
    shown = table.assign(
        line=table["line"].map(lambda v: "" if pd.isna(v) else str(int(v))),
        value=table["value"].map(lambda v: (v[:37] + "...") if len(str(v)) > 40 else str(v)),
    )
    return shown.to_string(index=False, justify="left")


def load_questionnaires(source, **kwargs) -> pd.DataFrame:
    """Read and validate a file (or frame); return the canonical frame.

    Parameters
    ----------
    source : str, pathlib.Path, RawTable or pandas.DataFrame
    **kwargs
        Passed to :func:`validate_questionnaires`.

    Raises
    ------
    QuestionnaireValidationError
        With every problem found, when the file is refused.
    UnreadableFileError
        When the file cannot be read at all.
    """
    report = validate_questionnaires(source, **kwargs)
    report.raise_if_invalid()
    return report.frame


def validate_questionnaires(source) -> ValidationReport:
    """Validate questionnaire data and build the canonical frame.

    Parameters
    ----------
    source : str, pathlib.Path, RawTable or pandas.DataFrame
        A file path (CSV, XLSX, Parquet), a table already read, or a frame
        whose row ``i`` is reported as line ``i + 2``.

    Returns
    -------
    ValidationReport
        ``report.ok`` tells whether the data are usable; ``report.frame`` is
        the canonical frame when they are.

    Raises
    ------
    UnreadableFileError
        When a path cannot be read at all (the only problem not tabulated).
    """
    if isinstance(source, (str, Path)):
        raw = read_table(source)
    elif isinstance(source, pd.DataFrame):
        raw = raw_table_from_frame(source)
    else:
        raw = source
    schema = _check_schema(raw)
    if len(schema):
        return ValidationReport(raw.source, _cap(schema), _empty(), {"rows_read": len(raw.frame)}, None, raw.sha256)
    return _check_data(raw)


# ----------------------------------------------------------------------------- schema

def _check_schema(raw: RawTable) -> pd.DataFrame:
    cols = set(raw.frame.columns)
    header = raw.headers
    rows = list(raw.problems.itertuples(index=False, name=None))
    for col in raw.frame.columns:
        what = identifier_column_reason(col)
        if what:
            rows.append((1, header.get(col, col), "",
                         f"the column looks like {what}, a direct identifier; {_DEIDENTIFIED}. "
                         "Remove the column (or replace it with a coded value) and load the file again"))
    if "patient_id" not in cols:
        rows.append((1, "patient_id", "", "required column is missing: a de-identified patient pseudonym"))
    if not cols & {"day", "assessment_date"}:
        rows.append((1, "assessment_date", "",
                     "required column is missing: give 'assessment_date' (ISO date, YYYY-MM-DD) or 'day' (study day)"))
    items = set(PHQ9.items)
    has_items = items <= cols
    has_total = {PHQ9.total, "phq9_9"} <= cols
    if not (has_items or has_total):
        missing = sorted(items - cols, key=PHQ9.items.index)
        want = ", ".join(missing) if (cols & items) else "phq9_1 ... phq9_9"
        rows.append((1, want if len(want) < 60 else "phq9_*", "",
                     "PHQ-9 columns are missing: give all nine items phq9_1 ... phq9_9, "
                     "or phq9_total with phq9_9 (item 9)"))
    if raw.frame.empty and not rows:
        rows.append((2, "", "", "the file has a header but no data rows; add at least one questionnaire"))
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


# ----------------------------------------------------------------------------- cell parsers

def _as_text(col: pd.Series) -> pd.Series:
    """Cells as stripped text; missing cells become ""."""
    return col.astype("str").where(col.notna(), "").str.strip()


def _parse_integer(col: pd.Series):
    """Numbers as float64 (NaN = blank) plus masks for blank and not-a-whole-number."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        vals = col.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        blank = np.isnan(vals)
    else:
        text = _as_text(col)
        blank = (text == "").to_numpy()
        vals = pd.to_numeric(text.mask(blank), errors="coerce").to_numpy(dtype="float64", na_value=np.nan, copy=True)
    with np.errstate(invalid="ignore"):
        bad = ~blank & (~np.isfinite(vals) | (vals != np.round(vals)))
    return vals, blank, bad


def _parse_date(col: pd.Series):
    """Dates as int days since 1970-01-01 (float64, NaN = blank) plus blank/bad masks."""
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_localize(None)
        blank = col.isna().to_numpy()
        days = col.dt.floor("D").to_numpy(dtype="datetime64[D]").astype("int64").astype("float64")
        days[blank] = np.nan
        bad = np.zeros(len(col), bool)
    else:
        text = _as_text(col)
        blank = (text == "").to_numpy()
        shaped = text.str.match(_ISO_DATE).to_numpy(dtype=bool, na_value=False)
        parsed = pd.to_datetime(text.str.slice(0, 10).where(shaped), format="%Y-%m-%d", errors="coerce")
        ok = parsed.notna().to_numpy()
        days = np.full(len(col), np.nan)
        days[ok] = parsed[ok].to_numpy(dtype="datetime64[D]").astype("int64")
        bad = ~blank & ~ok
    with np.errstate(invalid="ignore"):
        lo, hi = _epoch_day("1900-01-01"), _epoch_day("2100-12-31")
        bad |= ~np.isnan(days) & ((days < lo) | (days > hi))
    return days, blank, bad


def _epoch_day(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype("int64"))


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=PROBLEM_COLUMNS)


class _Collector:
    """Gathers problem rows for one file, vectorised over masks."""

    def __init__(self, raw: RawTable):
        self.raw = raw
        self.parts: list[pd.DataFrame] = []

    def add(self, mask, column: str, problem: str, values=None):
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if values is None:
            values = _as_text(self.raw.frame[column])[mask].to_numpy() if column in self.raw.frame else ""
        self.parts.append(pd.DataFrame({
            "line": self.raw.lines[mask],
            "column": self.raw.headers.get(column, column),
            "value": values,
            "problem": problem,
        }))

    def add_rows(self, frame: pd.DataFrame):
        if len(frame):
            self.parts.append(frame[PROBLEM_COLUMNS])

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return _empty()
        table = pd.concat(self.parts, ignore_index=True)
        table["value"] = table["value"].astype("str")
        return _cap(table.sort_values(["line", "column"], kind="stable", ignore_index=True))


def _cap(table: pd.DataFrame) -> pd.DataFrame:
    """Keep the first rows of each (column, problem); count the rest in one row."""
    if len(table) <= MAX_PROBLEMS_PER_KIND:
        return table.reset_index(drop=True)
    rank = table.groupby(["column", "problem"], sort=False).cumcount()
    kept = table[rank < MAX_PROBLEMS_PER_KIND]
    over = table[rank >= MAX_PROBLEMS_PER_KIND].groupby(["column", "problem"], sort=False).size()
    extra = pd.DataFrame([
        (None, col, "", f"... and {n} more rows with the problem: {prob}") for (col, prob), n in over.items()
    ], columns=PROBLEM_COLUMNS)
    return pd.concat([kept, extra], ignore_index=True)


# ----------------------------------------------------------------------------- data

def _check_data(raw: RawTable) -> ValidationReport:
    df = raw.frame
    n = len(df)
    err = _Collector(raw)
    warn = _Collector(raw)

    # patient_id: present, and not a direct identifier itself
    pid = _as_text(df["patient_id"])
    err.add(pid.eq("").to_numpy(), "patient_id", "patient_id is blank; every row needs the patient's pseudonym")
    codes, uniques = pd.factorize(pid)
    for pattern, what in _ID_VALUE_PATTERNS:
        hit_unique = pd.Series(uniques).str.match(pattern).to_numpy(dtype=bool)
        if hit_unique.any():
            err.add(hit_unique[codes], "patient_id",
                    f"the patient_id {what}; {_DEIDENTIFIED}: use a study pseudonym (plain numbers are fine)")

    out = {"patient_id": pid}
    scores = {}
    for inst in (PHQ9, GAD7):
        for col in inst.items + [inst.total]:
            if col not in df:
                continue
            hi = inst.item_max if col != inst.total else inst.total_max
            vals, blank, bad = _parse_integer(df[col])
            what = "item" if col != inst.total else "total"
            err.add(bad, col, f"{inst.name} {what} is not a whole number; allowed: a whole number from 0 to {hi}, or blank")
            out_of_range = ~bad & ~blank & ((vals < 0) | (vals > hi))
            err.add(out_of_range, col, f"{inst.name} {what} is out of range; allowed: 0 to {hi}, or blank")
            vals[bad | out_of_range] = np.nan
            scores[col] = vals

    if "infusion_number" in df:
        vals, blank, bad = _parse_integer(df["infusion_number"])
        bad |= ~blank & (vals < 0)
        err.add(bad, "infusion_number", "infusion_number is not a whole number; allowed: 0, 1, 2, ... or blank")
        vals[bad] = np.nan
        out["infusion_number"] = vals
    for col in _AGE_COLUMNS:
        if col in df:
            vals, blank, bad = _parse_integer(df[col])
            err.add(~np.isnan(vals) & (vals > 89), col,
                    f"ages over 89 are direct identifiers under HIPAA Safe Harbor; {_DEIDENTIFIED}: "
                    "use an age band with '90+' as its top")

    # time
    day_given = np.full(n, np.nan)
    if "day" in df:
        day_given, day_blank, bad = _parse_integer(df["day"])
        err.add(bad, "day", "day is not a whole number; allowed: the study day as a whole number, e.g. -3, 0, 14")
        far = ~bad & ~day_blank & (np.abs(day_given) > DAY_LIMIT)
        err.add(far, "day", f"day is out of range; allowed: -{DAY_LIMIT} to {DAY_LIMIT}")
        day_given[bad | far] = np.nan
    date = np.full(n, np.nan)
    if "assessment_date" in df:
        date, _, bad = _parse_date(df["assessment_date"])
        err.add(bad, "assessment_date", "assessment_date is not a valid date; allowed: an ISO date YYYY-MM-DD between 1900 and 2100")
        date[bad] = np.nan
    start = np.full(n, np.nan)
    if "treatment_start_date" in df:
        start, _, bad = _parse_date(df["treatment_start_date"])
        err.add(bad, "treatment_start_date",
                "treatment_start_date is not a valid date; allowed: an ISO date YYYY-MM-DD between 1900 and 2100")
        start[bad] = np.nan
        start = _check_one_start(start, codes, raw, err)
    # a bad time cell is reported above; here only rows with every time cell blank
    no_time = _all_blank(df, ["day", "assessment_date"])
    err.add(no_time, "assessment_date" if "assessment_date" in df else "day",
            "the row has no time: give the assessment_date (YYYY-MM-DD) or the study day")

    # PHQ-9 completeness and agreement of items with the total
    phq, phq_complete = _score(PHQ9, scores, err, raw)
    out.update(phq)
    if any(c in scores for c in GAD7.items + [GAD7.total]):
        gad, _ = _score(GAD7, scores, err, raw)
        out.update(gad)

    # study day: given day, else from treatment start, else from first complete questionnaire
    day = day_given.copy()
    from_start = np.isnan(day) & ~np.isnan(date) & ~np.isnan(start)
    day[from_start] = date[from_start] - start[from_start]
    first_complete = (pd.Series(np.where(phq_complete, date, np.nan)).groupby(codes).transform("min").to_numpy()
                      if n else np.array([]))
    from_first = np.isnan(day) & ~np.isnan(date) & ~np.isnan(first_complete)
    day[from_first] = date[from_first] - first_complete[from_first]
    far = np.abs(np.nan_to_num(day)) > DAY_LIMIT
    err.add(far, "assessment_date",
            f"the assessment is more than {DAY_LIMIT} days from the treatment start; check both dates")
    day[far] = np.nan

    errors = err.table()
    counts = {"rows_read": n + raw.blank_rows, "blank_rows_skipped": raw.blank_rows}
    if len(errors):
        return ValidationReport(raw.source, errors, warn.table(), counts, None, raw.sha256)

    frame = _assemble(df, out, codes, day, date, start, phq_complete, raw)
    frame, dup_errors, collapsed = _check_duplicates(frame, date, raw)
    if len(dup_errors):
        err.add_rows(dup_errors)
        return ValidationReport(raw.source, err.table(), warn.table(), counts, None, raw.sha256)
    if collapsed is not None and len(collapsed):
        warn.add_rows(collapsed)

    incomplete = ~frame["complete"].to_numpy()
    if incomplete.any():
        blank_items = frame.loc[incomplete, PHQ9.items].isna() if set(PHQ9.items) <= set(frame) else None
        which = (blank_items.apply(lambda r: ", ".join(r.index[r]), axis=1).to_numpy() if blank_items is not None
                 else np.where(frame.loc[incomplete, PHQ9.total].isna(), "phq9_total", "phq9_9"))
        warn.add_rows(pd.DataFrame({
            "line": frame.loc[incomplete, "line"].to_numpy(),
            "column": which,
            "value": "",
            "problem": "incomplete PHQ-9 (blank answer): no total computed; left out of outcomes",
        }))
    no_base = _patients_without_baseline(frame)
    if len(no_base):
        warn.add_rows(no_base)

    counts.update({
        "questionnaires": len(frame),
        "complete": int((~incomplete).sum()),
        "incomplete": int(incomplete.sum()),
        "duplicates_collapsed": 0 if collapsed is None else len(collapsed),
        "patients": int(frame["patient_id"].nunique()),
        "patients_without_baseline": len(no_base),
    })
    return ValidationReport(raw.source, _empty(), warn.table(), counts, frame, raw.sha256)


def _all_blank(df, cols):
    mask = np.ones(len(df), bool)
    for c in cols:
        if c in df:
            mask &= (_as_text(df[c]) == "").to_numpy()
    return mask


def _check_one_start(start, codes, raw, err):
    """One treatment start per patient; blank rows take the patient's date."""
    s = pd.Series(start)
    first = s.groupby(codes).transform("first").to_numpy()
    differs = ~np.isnan(start) & ~np.isnan(first) & (start != first)
    if differs.any():
        first_line = pd.Series(np.where(np.isnan(start), np.nan, raw.lines)).groupby(codes).transform("first").to_numpy()
        first_date = pd.to_datetime(first[differs], unit="D").strftime("%Y-%m-%d")
        err.add_rows(pd.DataFrame({
            "line": raw.lines[differs],
            "column": raw.headers.get("treatment_start_date", "treatment_start_date"),
            "value": _as_text(raw.frame["treatment_start_date"])[differs].to_numpy(),
            "problem": [f"this patient already has treatment_start_date {d} (line {int(l)}); "
                        "a patient has one start date" for d, l in zip(first_date, first_line[differs])],
        }))
    return first


def _score(inst: Instrument, scores: dict, err: _Collector, raw: RawTable):
    """Totals, completeness and item/total agreement for one instrument."""
    n = len(raw.frame)
    have_items = [c for c in inst.items if c in scores]
    items = np.column_stack([scores[c] for c in have_items]) if have_items else np.empty((n, 0))
    if len(have_items) == inst.n_items:
        all_items = ~np.isnan(items).any(axis=1)
    else:
        all_items = np.zeros(n, bool)
    item_sum = np.nansum(items, axis=1)
    given_total = scores.get(inst.total, np.full(n, np.nan))
    has_total = ~np.isnan(given_total)

    disagree = all_items & has_total & (item_sum != given_total)
    err.add(disagree, inst.total,
            f"{inst.name} total does not equal the sum of its items; correct the total or the items")
    if have_items:
        over = ~all_items & has_total & (item_sum > given_total)
        err.add(over, inst.total, f"{inst.name} total is smaller than the sum of the answered items; correct one of them")

    total = np.where(all_items, item_sum, np.nan)
    # PHQ-9 may come as total + item 9 (the SI item); a total without item 9 is incomplete
    usable_total = ~np.isnan(scores.get("phq9_9", np.full(n, np.nan))) if inst is PHQ9 else np.ones(n, bool)
    total = np.where(~all_items & has_total & usable_total, given_total, total)
    complete = ~np.isnan(total)
    out = {c: scores[c] for c in have_items}
    out[inst.total] = total
    if inst is PHQ9 and "phq9_9" not in out:
        out["phq9_9"] = scores["phq9_9"]
    return out, complete


def _assemble(df, out, codes, day, date, start, complete, raw) -> pd.DataFrame:
    cols = {"patient_id": out["patient_id"].to_numpy(), "day": day}
    if "assessment_date" in df:
        cols["assessment_date"] = _to_datetime(date)
    if "treatment_start_date" in df:
        cols["treatment_start_date"] = _to_datetime(start)
    for inst in (PHQ9, GAD7):
        for c in inst.items + [inst.total]:
            if c in out:
                cols[c] = out[c]
    cols["complete"] = complete
    known = set(cols) | set(_TIME_COLUMNS) | {"line"}
    for c in df.columns:
        if c == "infusion_number":
            cols[c] = out[c]
        elif c not in known and not c.startswith(("phq9_", "gad7_")):
            text = _as_text(df[c])
            cols[c] = text.mask(text == "").to_numpy()
    cols["line"] = raw.lines
    frame = pd.DataFrame(cols)
    for c in frame.columns:
        if c.startswith(("phq9_", "gad7_")) or c in ("day", "infusion_number"):
            frame[c] = frame[c].astype("Int16" if c.endswith("_total") or c in ("day", "infusion_number") else "Int8")
    frame["patient_id"] = frame["patient_id"].astype("str")
    return frame


def _to_datetime(days: np.ndarray) -> pd.Series:
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[s]")
    ok = ~np.isnan(days)
    out[ok] = days[ok].astype("int64").astype("datetime64[D]")
    return pd.Series(out)


def _check_duplicates(frame: pd.DataFrame, date: np.ndarray, raw: RawTable):
    """Sort by patient and time; collapse exact duplicates, refuse conflicting ones."""
    codes, _ = pd.factorize(frame["patient_id"])
    day = frame["day"].to_numpy(dtype="float64", na_value=np.nan)
    # a questionnaire with no study day (patient with no complete one) is keyed by its date
    when = np.where(np.isnan(day), date + 10 * DAY_LIMIT + 1e6, day)
    when = np.nan_to_num(when, nan=-1e9)
    order = np.lexsort((when, codes))
    frame = frame.iloc[order].reset_index(drop=True)
    key_code, key_when = codes[order], when[order]
    same = np.zeros(len(frame), bool)
    same[1:] = (key_code[1:] == key_code[:-1]) & (key_when[1:] == key_when[:-1])
    if not same.any():
        return frame, _empty(), None
    in_group = same | np.r_[same[1:], False]
    group = np.cumsum(~same)[in_group]
    sub = frame.loc[in_group]
    content = sub.drop(columns="line")
    first = content.groupby(group).transform("first")
    # compare with missing values equal to each other
    differ = ~((content == first) | (content.isna() & first.isna())).fillna(False)
    score_cols = [c for c in content.columns if c.startswith(("phq9_", "gad7_"))]
    first_line = sub["line"].groupby(group).transform("first").to_numpy()
    dup_rows = same[in_group]
    score_conflict = differ[score_cols].any(axis=1).to_numpy() & dup_rows
    other_conflict = differ.any(axis=1).to_numpy() & dup_rows & ~score_conflict
    when_text = np.where(sub["day"].isna(), "the same date", "study day " + sub["day"].astype("str"))
    errors = pd.concat([
        pd.DataFrame({
            "line": sub["line"].to_numpy()[score_conflict],
            "column": "patient_id",
            "value": sub["patient_id"].to_numpy()[score_conflict],
            "problem": [f"the same patient has another questionnaire on {w} (line {int(l)}) with different scores; "
                        "keep only the correct one"
                        for w, l in zip(when_text[score_conflict], first_line[score_conflict])],
        }),
        pd.DataFrame({
            "line": sub["line"].to_numpy()[other_conflict],
            "column": "patient_id",
            "value": sub["patient_id"].to_numpy()[other_conflict],
            "problem": [f"the same questionnaire as line {int(l)} (same patient, {w}, same scores) but with other "
                        "columns different; keep one row" for w, l in zip(when_text[other_conflict], first_line[other_conflict])],
        }),
    ], ignore_index=True)
    if len(errors):
        return frame, errors, None
    collapsed = pd.DataFrame({
        "line": sub["line"].to_numpy()[dup_rows],
        "column": "",
        "value": "",
        "problem": [f"exact duplicate of line {int(l)}; collapsed into one questionnaire" for l in first_line[dup_rows]],
    })
    return frame.loc[~same].reset_index(drop=True), _empty(), collapsed


def _patients_without_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    lo, hi = BASELINE_WINDOW_DAYS
    day = frame["day"]
    has = (frame["complete"] & day.between(lo, hi)).fillna(False)
    per_patient = has.groupby(frame["patient_id"], sort=False).any()
    missing = per_patient.index[~per_patient.to_numpy()]
    firsts = frame.drop_duplicates("patient_id").set_index("patient_id").loc[missing, "line"]
    return pd.DataFrame({
        "line": firsts.to_numpy(),
        "column": "patient_id",
        "value": missing.to_numpy(),
        "problem": f"no complete questionnaire on study days {lo} to {hi}: no baseline, so the patient is in no "
                   "outcome denominator",
    })
