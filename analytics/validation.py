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

from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np
import pandas as pd

from .deidentification import (
    DEIDENTIFIED_ONLY,
    identifier_column_reason,
    identifying_ages,
    is_age_column,
    patient_id_reasons,
)
from .definitions import AGE_TOP_CODE, BASELINE_WINDOW_DAYS, DAY_LIMIT, EPISODE_LIMIT, OLDEST_EXACT_AGE
from .episodes import assign_episodes
from .errors import PROBLEM_COLUMNS, QuestionnaireValidationError
from .instruments import GAD7, PHQ9, Instrument
from .loading import RawTable, raw_table_from_frame, read_table

__all__ = [
    "ValidationReport",
    "validate_questionnaires",
    "load_questionnaires",
    "DAY_LIMIT",
    "MAX_PROBLEMS_PER_KIND",
]

#: Rows kept per (column, problem) in a report; the rest are counted in one line.
MAX_PROBLEMS_PER_KIND = 200

_TIME_COLUMNS = ("day", "assessment_date", "treatment_start_date", "episode")
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"


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
    # what a subclass (the sessions report) changes: the error raised and the words of its text
    error_class: ClassVar[type] = QuestionnaireValidationError
    unit: ClassVar[str] = "questionnaires"
    container: ClassVar[str] = "file"

    @property
    def ok(self) -> bool:
        """True when the input is usable (no errors; warnings allowed)."""
        return self.errors.empty

    def raise_if_invalid(self) -> None:
        """Raise :attr:`error_class` (a :class:`QuestionnaireValidationError`) carrying every error."""
        if not self.ok:
            raise self.error_class(self.errors, self.source)

    def to_text(self) -> str:
        """The report for a person: verdict, counts, then every problem."""
        out = []
        if self.ok:
            out.append(f"{self.source}: usable. {self.counts.get(self.unit, 0)} {self.unit} from "
                       f"{self.counts.get('patients', 0)} patients.")
        else:
            out.append(f"{self.source}: REFUSED, {len(self.errors)} error row(s); nothing was loaded. "
                       f"Fix the {self.container} and validate it again.")
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
    owned = isinstance(source, (str, Path, pd.DataFrame))
    if isinstance(source, (str, Path)):
        raw = read_table(source)
    elif isinstance(source, pd.DataFrame):
        raw = raw_table_from_frame(source)
    else:
        raw = source
    schema = _check_schema(raw)
    if len(schema):
        return ValidationReport(raw.source, _cap(schema), _empty(), {"rows_read": len(raw.frame)}, None, raw.sha256)
    return _check_data(raw, consume=owned)


# ----------------------------------------------------------------------------- schema

def _reserved_columns() -> frozenset:
    """Column names the tool computes: a source column of the same name would be confused with them later.

    Taken from the engine itself (the canonical frame's own columns and every column
    :func:`analytics.outcomes.patient_outcomes` adds), plus the labels the store and comparisons add.
    """
    global _RESERVED
    if _RESERVED is None:
        from .outcomes import patient_outcomes

        probe = pd.DataFrame({"patient_id": ["p"], "day": pd.array([0], dtype="Int16"),
                              "phq9_total": pd.array([10], dtype="Int16"), "phq9_9": pd.array([1], dtype="Int8"),
                              "complete": [True], "line": np.array([2], np.int32),
                              # with an infusion count the engine adds its by-infusions columns too
                              "infusion_number": pd.array([1], dtype="Int16")})
        outputs = set(patient_outcomes(probe, attributes=False).columns) | {"complete", "line"}
        inputs = {"patient_id", "day", "infusion_number", *_TIME_COLUMNS}
        _RESERVED = frozenset(c for c in outputs - inputs if not c.startswith(("phq9_", "gad7_"))) | \
            {"occasion", "attributes", "cohort", "group"}
    return _RESERVED


_RESERVED = None


def _check_schema(raw: RawTable) -> pd.DataFrame:
    cols = set(raw.frame.columns)
    header = raw.headers
    rows = list(raw.problems.itertuples(index=False, name=None))
    reserved = _reserved_columns()
    for col in raw.frame.columns:
        rows.extend(_identifier_column_problems(col, header.get(col, col)))
        if col in reserved:
            rows.append((1, header.get(col, col), "",
                         f"the column name '{col}' is one the tool computes ({', '.join(sorted(reserved))}); a "
                         f"source column of that name would be mistaken for it. Rename it (for example to "
                         f"source_{col}) or leave it out"))
    if "patient_id" not in cols:
        rows.append((1, "patient_id", "", "required column is missing: a de-identified patient pseudonym"))
    if not cols & {"day", "assessment_date"}:
        rows.append((1, "assessment_date", "",
                     "required column is missing: give 'assessment_date' (ISO date, YYYY-MM-DD) or 'day' (study day)"))
    items = set(PHQ9.items)
    has_items = items <= cols
    has_total = PHQ9.total in cols  # spec v2: a total alone is scored; item 9 is optional
    if not (has_items or has_total):
        missing = sorted(items - cols, key=PHQ9.items.index)
        want = ", ".join(missing) if (cols & items) else "phq9_1 ... phq9_9"
        rows.append((1, want if len(want) < 60 else "phq9_*", "",
                     "PHQ-9 columns are missing: give all nine items phq9_1 ... phq9_9, "
                     "or phq9_total (with phq9_9, item 9, when known)"))
    if raw.frame.empty and not rows:
        rows.append((2, "", "", "the file has a header but no data rows; add at least one questionnaire"))
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def _identifier_column_problems(name: str, written: str) -> list[tuple]:
    """The header as written in the file and the name it was mapped to are both checked:
    a mapping must not turn "Patient Name" into ``site``."""
    mapped = str(written).strip().lower() != name
    what = identifier_column_reason(written) or (identifier_column_reason(name) if mapped else None)
    if not what:
        return []
    renamed = f" (mapped to '{name}')" if mapped else ""
    return [(1, written, "",
             f"the column{renamed} looks like {what}, a direct identifier; {DEIDENTIFIED_ONLY}. "
             "Remove the column from the file (or replace it with a coded value) and load the file again; "
             "free-text columns are refused too, never loaded in part")]


# ----------------------------------------------------------------------------- cell parsers
# Text cells are factorised first: each distinct value is parsed once and mapped
# back by its code.  A 20-million-row file has a few thousand distinct dates and
# four distinct item scores, so this is what keeps validation fast and small.

def _text_codes(col: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes into the column's distinct stripped values; -1 where the cell is blank."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, cats = col.cat.codes.to_numpy(), col.cat.categories
    else:
        codes, cats = pd.factorize(col)
    text = pd.Series(np.asarray(cats, dtype=object)).astype("str").str.strip()
    if isinstance(col.dtype, pd.CategoricalDtype) and (text != "").all() and \
            (text.to_numpy() == np.asarray(cats, dtype=object)).all():
        return codes, pd.Index(text, dtype="str")  # already clean text: keep the codes as they are
    new_codes, uniques = pd.factorize(text.mask(text == ""))
    return np.append(new_codes, -1).astype(np.int32)[codes], pd.Index(uniques, dtype="str")


def _cells(col: pd.Series, mask: np.ndarray) -> np.ndarray:
    """The cells at ``mask`` as text, for problem reports (only the few flagged rows)."""
    part = col[mask]
    return part.astype("str").where(part.notna(), "").to_numpy()


def _is_text(col: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))


def _parse_integer(col: pd.Series):
    """Numbers as float64 (NaN = blank) plus masks for blank and not-a-whole-number."""
    if _is_text(col):
        codes, uniques = _text_codes(col)
        parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype="float64")
        vals = np.append(parsed, np.nan)[codes]
        blank = codes < 0
    else:
        vals = col.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        blank = np.isnan(vals)
    with np.errstate(invalid="ignore"):
        bad = ~blank & (~np.isfinite(vals) | (vals != np.floor(vals)))
    return vals, blank, bad


def _parse_date(col: pd.Series):
    """Dates as days since 1970-01-01 (float64, NaN = blank) plus blank/bad masks."""
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_localize(None)
        blank = col.isna().to_numpy()
        days = col.to_numpy(dtype="datetime64[D]").astype("int64").astype("float64")
        days[blank] = np.nan
        bad = np.zeros(len(col), bool)
    else:
        codes, uniques = _text_codes(col)
        text = pd.Series(uniques, dtype="str")
        shaped = text.str.match(_ISO_DATE).to_numpy(dtype=bool, na_value=False)
        parsed = pd.to_datetime(text.str.slice(0, 10).where(shaped), format="%Y-%m-%d", errors="coerce")
        u_days = np.full(len(text), np.nan)
        ok = parsed.notna().to_numpy()
        u_days[ok] = parsed[ok].to_numpy(dtype="datetime64[D]").astype("int64")
        days = np.append(u_days, np.nan)[codes]
        blank = codes < 0
        bad = ~blank & np.isnan(days)
    with np.errstate(invalid="ignore"):
        bad |= (days < _epoch_day("1900-01-01")) | (days > _epoch_day("2100-12-31"))
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

    def add(self, mask, column: str, problem, values=None, kind: str | None = None):
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if values is None:
            values = _cells(self.raw.frame[column], mask) if column in self.raw.frame else ""
        self.parts.append(pd.DataFrame({
            "line": self.raw.lines[mask],
            "column": self.raw.headers.get(column, column),
            "value": values,
            "problem": problem,
            "kind": kind or (problem if isinstance(problem, str) else column),
        }))

    def add_rows(self, frame: pd.DataFrame, kind: str | None = None):
        if len(frame):
            self.parts.append(frame[PROBLEM_COLUMNS].assign(
                kind=kind if kind else frame["kind"] if "kind" in frame else frame["problem"]))

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return _empty()
        table = pd.concat(self.parts, ignore_index=True)
        table["value"] = table["value"].astype("str")
        return _cap(table.sort_values(["line", "column"], kind="stable", ignore_index=True))


def _cap(table: pd.DataFrame) -> pd.DataFrame:
    """Keep the first rows of each kind of problem; count the rest in one row per kind."""
    if "kind" not in table:
        table = table.assign(kind=table["problem"])
    if len(table) <= MAX_PROBLEMS_PER_KIND:
        return table[PROBLEM_COLUMNS].reset_index(drop=True)
    rank = table.groupby(["column", "kind"], sort=False).cumcount()
    kept = table[rank < MAX_PROBLEMS_PER_KIND]
    over = table[rank >= MAX_PROBLEMS_PER_KIND].groupby(["column", "kind"], sort=False).size()
    extra = pd.DataFrame([
        (None, col, "", f"... and {n} more rows with the problem: {kind}") for (col, kind), n in over.items()
    ], columns=PROBLEM_COLUMNS)
    return pd.concat([kept[PROBLEM_COLUMNS], extra], ignore_index=True)


# ----------------------------------------------------------------------------- data

def _check_data(raw: RawTable, consume: bool = False) -> ValidationReport:
    """Cell checks and the canonical frame.  ``consume`` frees raw score columns once parsed
    (only for a table this module read itself), which lowers peak memory on large files."""
    df = raw.frame
    n = len(df)
    err = _Collector(raw)
    warn = _Collector(raw)

    # patient_id: present, and not a direct identifier itself
    pcodes, pnames = _text_codes(df["patient_id"])
    err.add(pcodes < 0, "patient_id", "patient_id is blank; every row needs the patient's pseudonym")
    reasons = patient_id_reasons(pnames)  # one check per distinct value, mapped back by code
    for what in reasons[reasons != ""].unique():
        hit = (reasons == what).to_numpy()
        err.add(np.append(hit, False)[pcodes], "patient_id",
                f"the patient_id {what}; {DEIDENTIFIED_ONLY}: use a study pseudonym such as P0001 (plain "
                "numbers are fine unless shaped like a telephone or social security number)")

    # scores as int8 with -1 for blank (or refused) cells: two bytes a cell at most
    scores: dict[str, np.ndarray] = {}
    for inst in (PHQ9, GAD7):
        for col in inst.items + [inst.total]:
            if col in df:
                hi = inst.item_max if col != inst.total else inst.total_max
                what = "item" if col != inst.total else "total"
                scores[col] = _parse_bounded(df[col], col, 0, hi, err,
                                             f"{inst.name} {what} is not a whole number; allowed: a whole number "
                                             f"from 0 to {hi}, or blank",
                                             f"{inst.name} {what} is out of range; allowed: 0 to {hi}, or blank")
                if consume and not err.parts:
                    del df[col]  # parsed into ``scores``; later checks compare scores there
    infusion = None
    if "infusion_number" in df:
        infusion = _parse_bounded(df["infusion_number"], "infusion_number", 1, 10_000, err,
                                  "infusion_number is not a whole number; allowed: 1, 2, 3, ... or blank",
                                  "infusion_number is out of range; allowed: 1 to 10000 (the infusion the "
                                  "questionnaire was completed before), or blank", dtype=np.int16)
    for col in df.columns:
        if is_age_column(col) or is_age_column(raw.headers.get(col, col)):
            err.add(identifying_ages(df[col]), col,
                    f"ages over {OLDEST_EXACT_AGE} (and bands above {OLDEST_EXACT_AGE}, such as 90-94 or 95+) are "
                    f"direct identifiers under HIPAA Safe Harbor; {DEIDENTIFIED_ONLY}: write every age over "
                    f"{OLDEST_EXACT_AGE} as '{AGE_TOP_CODE}'")

    # time
    day = np.full(n, np.nan)
    time_blank = np.ones(n, bool)
    if "day" in df:
        day, blank, bad = _parse_integer(df["day"])
        err.add(bad, "day", "day is not a whole number; allowed: the study day as a whole number, e.g. -3, 0, 14")
        with np.errstate(invalid="ignore"):
            far = ~bad & ~blank & (np.abs(day) > DAY_LIMIT)
        err.add(far, "day", f"day is out of range; allowed: -{DAY_LIMIT} to {DAY_LIMIT}")
        day[bad | far] = np.nan
        time_blank &= blank
    date, blank = _checked_date(df, "assessment_date", err)
    time_blank &= blank
    start, _ = _checked_date(df, "treatment_start_date", err)
    episode, ep_start = _episodes(df, pcodes, start, date, err)
    err.add(time_blank, "assessment_date" if "assessment_date" in df else "day",
            "the row has no time: give the assessment_date (YYYY-MM-DD) or the study day")

    phq_total, complete = _score(PHQ9, scores, err, n)
    gad_total = _score(GAD7, scores, err, n)[0] if any(c in scores for c in GAD7.items + [GAD7.total]) else None

    # study day within the episode: given day, else from the episode's start, else from its first
    # scored questionnaire
    from_start = np.isnan(day) & ~np.isnan(date) & ~np.isnan(ep_start)
    day[from_start] = date[from_start] - ep_start[from_start]
    rest = np.isnan(day) & ~np.isnan(date)
    if rest.any():
        unit = pcodes.astype(np.int64) * (EPISODE_LIMIT + 1) + episode
        first = pd.Series(np.where(complete, date, np.nan), copy=False).groupby(unit).transform("min").to_numpy()
        day[rest] = date[rest] - first[rest]
    with np.errstate(invalid="ignore"):
        far = np.abs(day) > DAY_LIMIT
    err.add(far, "assessment_date", f"the assessment is more than {DAY_LIMIT} days from the treatment start; "
                                    "check both dates")
    day[far] = np.nan

    counts = {"rows_read": n + raw.blank_rows, "blank_rows_skipped": raw.blank_rows}
    if err.parts:
        return ValidationReport(raw.source, err.table(), warn.table(), counts, None, raw.sha256)
    if consume:  # parsed into ``date`` and ``start``; the duplicate check compares those
        for col in ("assessment_date", "treatment_start_date"):
            if col in df:
                del df[col]

    # one questionnaire per patient and time; rows sorted by patient then time
    # by episode, then study day; no study day (no scored one yet): by date, after
    when = np.where(np.isnan(day), date + 1e7, day + (episode - 1) * _EPISODE_STRIDE)
    order = _sort_order(pcodes, when)
    parsed = {**scores, "assessment_date": date, "treatment_start_date": start}
    keep, dup_errors, collapsed = _duplicates(df, raw, pcodes, when, order, parsed)
    if len(dup_errors):
        err.add_rows(dup_errors)
        return ValidationReport(raw.source, err.table(), warn.table(), counts, None, raw.sha256)
    warn.add_rows(collapsed)

    # hand the working arrays over so each is released as soon as it is gathered
    work = {"patient_id": pcodes, "episode": episode, "day": day, "complete": complete, "line": raw.lines,
            **scores,
            PHQ9.total: phq_total}
    if "assessment_date" in raw.headers:
        work["assessment_date"] = date
    if "treatment_start_date" in raw.headers:
        work["treatment_start_date"] = start
    if gad_total is not None:
        work[GAD7.total] = gad_total
    if infusion is not None:
        work["infusion_number"] = infusion
    del pcodes, day, date, start, scores, parsed, phq_total, gad_total, complete, infusion, when, episode, ep_start
    frame = _assemble(df, keep, pnames, work)
    incomplete = ~frame["complete"].to_numpy()
    if incomplete.any():
        warn.add_rows(pd.DataFrame({
            "line": frame["line"].to_numpy()[incomplete],
            "column": _blank_item_names(frame.loc[incomplete, [c for c in PHQ9.items + [PHQ9.total] if c in frame]]),
            "value": "",
            "problem": "incomplete PHQ-9 (blank answer and no total): not scored (no prorating); left out of "
                       "outcomes",
            "kind": "incomplete PHQ-9",
        }))
    no_base = _patients_without_baseline(frame)
    warn.add_rows(no_base)
    if "infusion_number" in frame:
        warn.add_rows(_infusion_decreases(frame))
    counts.update({
        "questionnaires": len(frame),
        "complete": int((~incomplete).sum()),
        "incomplete": int(incomplete.sum()),
        "duplicates_collapsed": len(collapsed),
        "patients": int(frame["patient_id"].nunique()),
        "episodes": _count_units(frame),
        "patients_without_baseline": len(no_base),
    })
    return ValidationReport(raw.source, _empty(), warn.table(), counts, frame, raw.sha256)


def _parse_bounded(col, name, lo, hi, err, not_whole, out_of_range, dtype=np.int8) -> np.ndarray:
    """Whole numbers in [lo, hi] as ``dtype`` with -1 for blank or refused cells."""
    if pd.api.types.is_integer_dtype(col):  # typed (Parquet): no text or float round trip
        blank = col.isna().to_numpy()
        vals = col.to_numpy(dtype=col.dtype.numpy_dtype if hasattr(col.dtype, "numpy_dtype") else col.dtype,
                            na_value=lo)
        outside = ~blank & ((vals < lo) | (vals > hi))
        err.add(outside, name, out_of_range)
        return np.where(blank | outside, -1, vals).astype(dtype, copy=False)
    vals, blank, bad = _parse_integer(col)
    with np.errstate(invalid="ignore"):
        outside = ~bad & ~blank & ((vals < lo) | (vals > hi))
    err.add(bad, name, not_whole)
    err.add(outside, name, out_of_range)
    ok = ~(blank | bad | outside)
    return np.where(ok, np.nan_to_num(vals), -1).astype(dtype)


def _checked_date(df, col, err):
    """Parsed dates of ``col`` (NaN where blank or refused) and the blank mask; all NaN when absent."""
    if col not in df:
        return np.full(len(df), np.nan), np.ones(len(df), bool)
    days, blank, bad = _parse_date(df[col])
    err.add(bad, col, f"{col} is not a valid date; allowed: an ISO date YYYY-MM-DD between 1900 and 2100")
    days[bad] = np.nan
    return days, blank


_EPISODE_STRIDE = 20_000  # sort key: episode blocks never overlap (|day| <= DAY_LIMIT)


def _episodes(df, pcodes, start, date, err):
    """Episode of every row and its start date (spec v2; see :mod:`analytics.episodes`).

    The day layout's ``episode`` column, when given, names the episode of its rows;
    a row with both a start date and an episode number must agree with the start's rank."""
    episode, ep_start = assign_episodes(pcodes, start, date)
    if "episode" not in df:
        return episode, ep_start
    given = _parse_bounded(df["episode"], "episode", 1, EPISODE_LIMIT, err,
                           "episode is not a whole number; allowed: 1, 2, 3, ... (the patient's treatment "
                           "course), or blank for 1",
                           f"episode is out of range; allowed: 1 to {EPISODE_LIMIT}, or blank", dtype=np.int16)
    labelled = given > 0
    clash = labelled & ~np.isnan(start) & (given != episode)
    err.add(clash, "episode", [f"this row's treatment_start_date is the patient's start number {k}, not episode "
                               f"{g}; give one of them or make them agree" for k, g in
                               zip(episode[clash], given[clash])], kind="episode and treatment_start_date disagree")
    dated_label = labelled & np.isnan(start)
    episode = np.where(labelled, given, episode).astype(np.int16)
    ep_start = np.where(dated_label & (given != 1), np.nan, ep_start)  # its start is not known: day or first scored
    return episode, ep_start


def _score(inst: Instrument, scores: dict, err: _Collector, n: int):
    """Totals (-1 = none), completeness and item/total agreement for one instrument."""
    have = [c for c in inst.items if c in scores]
    all_items = np.full(n, len(have) == inst.n_items)
    item_sum = np.zeros(n, np.int8)  # at most 27
    for c in have:  # nine columns, not rows
        all_items &= scores[c] >= 0
        item_sum += np.maximum(scores[c], 0)
    given = scores.get(inst.total)
    has_total = given >= 0 if given is not None else np.zeros(n, bool)
    disagree = all_items & has_total & (item_sum != given)
    err.add(disagree, inst.total, f"{inst.name} total does not equal the sum of its items; correct the total or "
                                  "the items", values=given[disagree].astype(str) if disagree.any() else None)
    if have and given is not None:
        over = ~all_items & has_total & (item_sum > given)
        err.add(over, inst.total, f"{inst.name} total is smaller than the sum of the answered items; correct one "
                                  "of them", values=given[over].astype(str) if over.any() else None)
    total = np.where(all_items, item_sum, np.int8(-1))
    # spec v2: a known total is scored whatever the items (item 9 may be unknown: SI then is too)
    by_total = ~all_items & has_total
    if by_total.any():
        total[by_total] = given[by_total]
    return total, total >= 0


def _sort_order(pcodes: np.ndarray, when: np.ndarray):
    """Row order by patient then time, or None when the rows already are."""
    if pcodes.size < 2:
        return None
    dp = np.diff(pcodes)
    if (dp > 0).all() or ((dp >= 0).all() and ((dp > 0) | (np.diff(when) >= 0)).all()):
        return None
    return np.lexsort((when, pcodes))


def _duplicates(df, raw, pcodes, when, order, parsed):
    """Rows to keep (in order); errors for conflicting duplicates; warnings for exact ones.

    ``parsed`` holds the parsed score and date arrays: they are compared there (the
    raw columns may already be freed); every other column is compared as read."""
    p, w = (pcodes, when) if order is None else (pcodes[order], when[order])
    same = np.zeros(p.size, bool)
    same[1:] = (p[1:] == p[:-1]) & (w[1:] == w[:-1])
    if not same.any():
        return order, _empty(), _empty()
    start_of_group = np.flatnonzero(~same)
    at = np.flatnonzero(same)
    first = start_of_group[np.searchsorted(start_of_group, at, side="right") - 1]
    dup = at if order is None else order[at]
    first = first if order is None else order[first]
    lines, first_lines = raw.lines[dup], raw.lines[first]
    score_differs = np.zeros(dup.size, bool)
    other_differs = np.zeros(dup.size, bool)
    for c, values in parsed.items():
        if c.startswith(("phq9_", "gad7_")):
            score_differs |= values[dup] != values[first]
        else:  # dates: NaN on both sides is equal
            other_differs |= ~((values[dup] == values[first]) | (np.isnan(values[dup]) & np.isnan(values[first])))
    rest = [c for c in df.columns if c not in parsed]
    a, b = df[rest].iloc[dup].reset_index(drop=True), df[rest].iloc[first].reset_index(drop=True)
    other_differs |= ~((a == b) | (a.isna() & b.isna())).all(axis=1).to_numpy()
    other_differs &= ~score_differs
    shown_day = (np.nan_to_num(w[same]) + _EPISODE_STRIDE // 2) % _EPISODE_STRIDE - _EPISODE_STRIDE // 2
    when_text = np.where(w[same] > 1e6, "the same date",
                         "study day " + pd.Series(shown_day, copy=False).astype("int64").astype("str"))
    pid = df["patient_id"].iloc[dup].astype("str").to_numpy()
    errors = pd.concat([
        pd.DataFrame({"line": lines[score_differs], "column": "patient_id", "value": pid[score_differs],
                      "problem": [f"the same patient has another questionnaire on {t} (line {line}) with different "
                                  "scores; keep only the correct one"
                                  for t, line in zip(when_text[score_differs], first_lines[score_differs])],
                      "kind": "the same patient and time twice with different scores"}),
        pd.DataFrame({"line": lines[other_differs], "column": "patient_id", "value": pid[other_differs],
                      "problem": [f"the same questionnaire as line {line} (same patient, {t}, same scores) but with "
                                  "other columns different; keep one row"
                                  for t, line in zip(when_text[other_differs], first_lines[other_differs])],
                      "kind": "the same questionnaire twice with other columns different"}),
    ], ignore_index=True)
    collapsed = pd.DataFrame({"line": lines, "column": "", "value": "",
                              "problem": [f"exact duplicate of line {line}; collapsed into one questionnaire"
                                          for line in first_lines],
                              "kind": "exact duplicate rows collapsed"})
    return (~same if order is None else order[~same]), errors, collapsed


def _nullable(values: np.ndarray, missing: np.ndarray, dtype) -> pd.arrays.IntegerArray:
    # values under the mask are ignored by pandas, so the -1 sentinels can stay
    return pd.arrays.IntegerArray(values.astype(dtype, copy=False), missing)


def _assemble(df, keep, pnames, work: dict) -> pd.DataFrame:
    """The canonical frame, gathering each column once in the final row order.

    ``work`` holds the parsed arrays; each is popped as it is gathered so the
    working copy and the canonical copy of a column do not both stay alive.
    """
    def take(name):
        a = work.pop(name)
        return a if keep is None else a[keep]

    cols = {"patient_id": pd.Categorical.from_codes(take("patient_id"), categories=pnames),
            "episode": take("episode").astype(np.int16)}
    d = take("day")
    missing_day = np.isnan(d)
    cols["day"] = _nullable(np.where(missing_day, 0, d), missing_day, np.int16)
    del d
    for name in ("assessment_date", "treatment_start_date"):
        if name in work:
            cols[name] = _to_datetime(take(name))
    for inst in (PHQ9, GAD7):
        for c in inst.items + [inst.total]:
            if c in work:
                v = take(c)
                cols[c] = _nullable(v, v < 0, np.int16 if c == inst.total else np.int8)
    cols["complete"] = take("complete")
    if "infusion_number" in work:
        v = take("infusion_number")
        cols["infusion_number"] = _nullable(v, v < 0, np.int16)
    skip = set(_TIME_COLUMNS) | {"patient_id", "infusion_number", "line", "episode"}
    for c in df.columns:
        if c not in skip and not c.startswith(("phq9_", "gad7_")):
            codes, uniques = _text_codes(df[c])
            cols[c] = pd.Categorical.from_codes(codes if keep is None else codes[keep], categories=uniques)
    cols["line"] = take("line").astype(np.int32)
    return pd.DataFrame(cols, copy=False)


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Days since 1970 (NaN = missing) as datetime64[s]; NaT is int64's minimum."""
    whole = np.where(np.isnan(days), np.iinfo(np.int64).min, days).astype(np.int64)
    return whole.view("datetime64[D]").astype("datetime64[s]")


def _blank_item_names(rows: pd.DataFrame) -> np.ndarray:
    """'phq9_2' or 'phq9_2, phq9_7' for each incomplete questionnaire (column-wise, not per row)."""
    names = np.full(len(rows), "", dtype=object)
    for c in PHQ9.items + [PHQ9.total]:
        if c in rows and (c != PHQ9.total or PHQ9.items[0] not in rows):
            names = np.where(rows[c].isna().to_numpy(), names + c + ", ", names)
    return pd.Series(names, dtype="str").str.rstrip(", ").to_numpy()


def _unit_codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(patient, episode) unit of each row of the canonical frame (sorted by both) and each unit's first row."""
    codes = frame["patient_id"].cat.codes.to_numpy().astype(np.int64)
    episode = frame["episode"].to_numpy().astype(np.int64)
    new = np.r_[True, (codes[1:] != codes[:-1]) | (episode[1:] != episode[:-1])] if codes.size else np.zeros(0, bool)
    return np.cumsum(new) - 1, np.flatnonzero(new)


def _count_units(frame: pd.DataFrame) -> int:
    return int(_unit_codes(frame)[1].size)


def _patients_without_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """One warning per episode (per patient in spec v1 data) with no scored baseline questionnaire."""
    lo, hi = BASELINE_WINDOW_DAYS
    units, firsts = _unit_codes(frame)
    day = frame["day"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        has = frame["complete"].to_numpy() & (day >= lo) & (day <= hi)
    with_base = np.bincount(units[has], minlength=firsts.size) > 0
    rows = firsts[~with_base]
    if rows.size == 0:
        return _empty()
    episode = frame["episode"].to_numpy()[rows]
    return pd.DataFrame({
        "line": frame["line"].to_numpy()[rows],
        "column": "patient_id",
        "value": frame["patient_id"].cat.categories[frame["patient_id"].cat.codes.to_numpy()[rows]].to_numpy(),
        "problem": np.where(episode > 1, pd.Series(episode).astype("str").radd("episode ").add(": ").to_numpy(), "")
        + f"no scored questionnaire on study days {lo} to {hi}: no baseline, so the "
        + np.where(episode > 1, "episode", "patient") + " is in no outcome denominator",
    })


def _infusion_decreases(frame: pd.DataFrame) -> pd.DataFrame:
    """Warnings for an infusion_number lower than an earlier one in the same episode (naming both lines)."""
    units, _ = _unit_codes(frame)
    inf = frame["infusion_number"].to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(inf)
    idx = np.flatnonzero(known)
    if idx.size < 2:
        return _empty()
    u, v = units[idx], inf[idx]
    drop = (u[1:] == u[:-1]) & (v[1:] < v[:-1])
    if not drop.any():
        return _empty()
    at, before = idx[1:][drop], idx[:-1][drop]
    lines = frame["line"].to_numpy()
    return pd.DataFrame({
        "line": lines[at],
        "column": "infusion_number",
        "value": inf[at].astype(np.int64).astype(str),
        "problem": [f"infusion_number falls from {int(a)} (line {int(b)}) to {int(c)} in the same episode; check "
                    "both lines (a new course needs its own treatment_start_date)"
                    for a, b, c in zip(inf[before], lines[before], inf[at])],
        "kind": "infusion_number decreases within an episode",
    })
