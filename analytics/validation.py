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

This module runs the stages in order; each job lives in its own module:

* :mod:`analytics.questionnaire_schema`: the header;
* :mod:`analytics.cell_parsing` and :mod:`analytics.score_parsing`: cells to
  arrays (text, whole numbers, dates; items, totals and scoring);
* :mod:`analytics.deidentification`: identifying values (patient ids, ages);
* :mod:`analytics.study_days` (with :mod:`analytics.episodes`): each row's
  episode and study day;
* :mod:`analytics.duplicates`: one questionnaire per patient and time;
* :mod:`analytics.canonical_frame`: the frame itself and its warnings;
* :mod:`analytics.problems`: the problem tables.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np
import pandas as pd

from .canonical_frame import (
    assemble_canonical_frame,
    incomplete_questionnaires_of_arrays,
    infusion_decreases,
    unit_codes,
    units_without_baseline,
)
from .cell_parsing import checked_date, parse_bounded, parse_date, parse_integer, text_codes
from .deidentification import (
    DEIDENTIFIED_ONLY,
    identifier_column_reason,
    identifying_ages,
    is_age_column,
    patient_id_reasons,
)
from .definitions import AGE_TOP_CODE, DAY_LIMIT, OLDEST_EXACT_AGE
from .duplicates import reconcile_duplicates, sort_order
from .errors import QuestionnaireValidationError
from .instrument_columns import (
    attach_instrument_columns,
    incomplete_instrument_rows,
    parse_instrument_columns,
    without_instrument_columns,
)
from .instruments import GAD7, PHQ9
from .loading import RawTable, raw_table_from_frame, read_table, release_freed_memory
from .problems import MAX_PROBLEMS_PER_KIND, ProblemCollector, cap_problems, format_problems, no_problems
from .questionnaire_schema import check_schema
from .score_parsing import parse_scores, score_rows
from .study_days import derive_study_days, episode_of_rows, given_study_days, time_key

__all__ = [
    "ValidationReport",
    "validate_questionnaires",
    "add_frame_warnings",
    "load_questionnaires",
    "DAY_LIMIT",
    "MAX_PROBLEMS_PER_KIND",
]

# the names other validators (sessions, instrument items) imported from here before the split
_Collector, _empty, _cap = ProblemCollector, no_problems, cap_problems
_text_codes, _parse_integer, _parse_date, _parse_bounded = text_codes, parse_integer, parse_date, parse_bounded


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
            units, patients = self.counts.get(self.unit, 0), self.counts.get("patients", 0)
            unit = self.unit[:-1] if units == 1 and self.unit.endswith("s") else self.unit
            out.append(f"{self.source}: usable. {units:,} {unit} from {patients:,} "
                       f"patient{'' if patients == 1 else 's'}.")
        else:
            out.append(f"{self.source}: REFUSED, {len(self.errors)} error row(s); nothing was loaded. "
                       f"Fix the {self.container} and validate it again.")
        if self.counts:
            out.append("  " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.counts.items()))
        for title, table in (("Errors", self.errors), ("Warnings", self.warnings)):
            if len(table):
                out.append(f"\n{title} ({len(table)}):")
                out.append(format_problems(table))
        return "\n".join(out)


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


def add_frame_warnings(warn: ProblemCollector, frame: pd.DataFrame, incomplete: pd.DataFrame, *,
                       collapsed: int = 0) -> dict:
    """Add the warnings read from a canonical frame to ``warn``, in the validator's order (incomplete
    questionnaires, incomplete optional instruments, episodes without a baseline, infusion numbers falling), and
    return the counts they give, in the report's order.  The store's reports derive theirs with it too, so a
    store's report and a validation of its rows cannot drift apart."""
    warn.add_rows(incomplete)
    warn.add_rows(incomplete_instrument_rows(frame))
    units = unit_codes(frame)
    no_base = units_without_baseline(frame, units)
    warn.add_rows(no_base)
    if "infusion_number" in frame:
        warn.add_rows(infusion_decreases(frame, units))
    return {"questionnaires": len(frame), "complete": len(frame) - len(incomplete), "incomplete": len(incomplete),
            "duplicates_collapsed": collapsed, "patients": int(frame["patient_id"].nunique()),
            "episodes": int(units[1].size), "patients_without_baseline": len(no_base)}


def validate_questionnaires(source, *, columns=None) -> ValidationReport:
    """Validate questionnaire data and build the canonical frame.

    Parameters
    ----------
    source : str, pathlib.Path, RawTable or pandas.DataFrame
        A file path (CSV, XLSX, Parquet), a table already read, or a frame
        whose row ``i`` is reported as line ``i + 2``.
    columns : collection of str, optional
        The canonical columns to keep in ``report.frame`` (default: all).  Every
        cell of every column is checked whatever is kept, and the errors, warnings
        and counts are the same; only the frame is narrower, which is what keeps a
        registry of twenty million questionnaires in memory when the caller (a
        summary) reads a few columns.  ``patient_id`` is always kept.

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
        # scores stay Arrow-backed until parsed (one byte a cell); parse_scores reads them from Arrow
        raw = read_table(source, arrow_integers=_SCORE_COLUMNS)
    elif isinstance(source, pd.DataFrame):
        raw = raw_table_from_frame(source)
    else:
        raw = source
    schema = check_schema(raw)
    if len(schema):
        return ValidationReport(raw.source, cap_problems(schema), no_problems(), {"rows_read": len(raw.frame)},
                                None, raw.sha256)
    return _check_data(raw, consume=owned, columns=columns)


_SCORE_COLUMNS = tuple(c for inst in (PHQ9, GAD7) for c in inst.items + [inst.total])


# ----------------------------------------------------------------------------- data

def _check_data(raw: RawTable, consume: bool = False, columns=None) -> ValidationReport:
    """Cell checks and the canonical frame.  ``consume`` frees raw columns once parsed (only for a
    table this module read itself), which lowers peak memory on large files."""
    err, warn = ProblemCollector(raw), ProblemCollector(raw)
    counts = {"rows_read": len(raw.frame) + raw.blank_rows, "blank_rows_skipped": raw.blank_rows}
    rows = _parse_rows(raw, err, consume)
    if err.parts:
        return ValidationReport(raw.source, err.table(), warn.table(), counts, None, raw.sha256)
    if consume:  # parsed into the date arrays; the duplicate check compares those
        for col in ("assessment_date", "treatment_start_date"):
            if col in raw.frame:
                del raw.frame[col]
        release_freed_memory()
    return _reconcile_and_assemble(raw, rows, err, warn, counts, columns, consume)


def _parse_rows(raw: RawTable, err: ProblemCollector, consume: bool) -> dict:
    """Every cell parsed and checked: patient, scores, infusion numbers, ages, time, study day."""
    df = raw.frame
    # The scores are checked on their Arrow buffers (pyarrow.compute releases the GIL) in a second thread while
    # this one checks patients, dates and episodes; the thread has a frame and a problem collector of its own,
    # and its problems join the others afterwards (the problem table is sorted by line and column either way).
    # The infusion numbers and ages are checked there too (they depend on nothing else; the thread is the
    # shorter one): its frame shares those columns, which stay in ``df`` for the duplicate check.
    cols = [c for c in _SCORE_COLUMNS if c in df]
    shared = [c for c in df.columns if c == "infusion_number" or _is_age(c, raw.headers)]
    part = RawTable(frame=pd.DataFrame({c: df[c] for c in cols + shared}, index=df.index, copy=False),
                    lines=raw.lines, headers=raw.headers, source=raw.source)
    if consume:  # the thread's frame holds the score columns now, and frees each once parsed
        for col in cols:
            del df[col]
    with ThreadPoolExecutor(max_workers=1) as pool:
        parsed = pool.submit(_parse_scores_apart, part, consume)
        del part
        pcodes, pnames = _patient_codes(df, err)
        rest = _parse_unscored(df, raw, err, pcodes, consume)
        scores, phq_total, complete, gad_total, infusion, score_problems = parsed.result()
    err.parts.extend(score_problems)
    day, time_blank, date, start, episode, ep_start, instruments = rest
    day = derive_study_days(day, date, ep_start, episode, pcodes, complete, err)
    return {"pcodes": pcodes, "pnames": pnames, "scores": scores, "phq_total": phq_total, "complete": complete,
            "gad_total": gad_total, "infusion": infusion, "day": day, "date": date, "start": start,
            "episode": episode, "instruments": instruments}


def _parse_scores_apart(part: RawTable, consume: bool):
    """:func:`parse_scores` and :func:`score_rows` of a table of the PHQ-9/GAD-7 columns alone, with a
    collector of its own (safe to run beside the other checks): the parsed scores, the PHQ-9 totals and
    completeness, the GAD-7 totals (None without GAD-7 columns) and the problem rows found, in the order the
    checks ran."""
    found, n = ProblemCollector(part), len(part.frame)
    scores = parse_scores(part.frame, found, consume=consume)  # first: each raw score column is freed once parsed
    phq_total, complete = score_rows(PHQ9, scores, found, n)
    gad = any(c in scores for c in GAD7.items + [GAD7.total])
    gad_total = score_rows(GAD7, scores, found, n)[0] if gad else None
    infusion = _infusion_numbers(part.frame, found)
    _check_ages(part.frame, part.headers, found)
    return scores, phq_total, complete, gad_total, infusion, found.parts


def _parse_unscored(df: pd.DataFrame, raw: RawTable, err: ProblemCollector, pcodes, consume: bool):
    """The checks of every column but the scores, infusion numbers and ages: instruments, time, episodes."""
    instruments = parse_instrument_columns(df, err)  # QIDS-SR16, MADRS, PCL-5, C-SSRS when given
    day, time_blank = given_study_days(df, err)
    date, blank = checked_date(df, "assessment_date", err)
    time_blank &= blank
    del blank
    dated = "assessment_date" in df
    if consume and not err.parts and _whole_days(df, "assessment_date"):
        # parsed into ``date``, which holds each cell's text too (a whole day): a later problem on this column
        # writes its value from there (analytics.study_days); on a registry the raw column is 90 MB at the peak
        del df["assessment_date"]
    start = checked_date(df, "treatment_start_date", err)[0]
    if consume and not err.parts and "treatment_start_date" in df:
        del df["treatment_start_date"]  # parsed into ``start``; no later check reports its cells
    episode, ep_start = episode_of_rows(df, pcodes, start, date, err)
    err.add(time_blank, "assessment_date" if dated else "day",
            "the row has no time: give the assessment_date (YYYY-MM-DD) or the study day")
    return day, time_blank, date, start, episode, ep_start, instruments


def _whole_days(df: pd.DataFrame, col: str) -> bool:
    """Whether ``col`` is a Parquet column of whole days (read as Arrow ``date32``), whose cells' text is their
    parsed day's ISO date."""
    return col in df and isinstance(df[col].array, pd.arrays.ArrowExtensionArray) and \
        str(df[col].dtype).startswith("date32")


def _patient_codes(df: pd.DataFrame, err: ProblemCollector):
    """Codes of the patient_id column and its distinct values; blank and identifying ids refused."""
    pcodes, pnames = text_codes(df["patient_id"])
    err.add(pcodes < 0, "patient_id", "patient_id is blank; every row needs the patient's pseudonym")
    reasons = patient_id_reasons(pnames)  # one check per distinct value, mapped back by code
    for what in reasons[reasons != ""].unique():
        hit = (reasons == what).to_numpy()
        err.add(np.append(hit, False)[pcodes], "patient_id",
                f"the patient_id {what}; {DEIDENTIFIED_ONLY}: use a study pseudonym such as P0001 (plain "
                "numbers are fine unless shaped like a telephone or social security number)")
    return pcodes, pnames


def _infusion_numbers(df: pd.DataFrame, err: ProblemCollector):
    if "infusion_number" not in df:
        return None
    return parse_bounded(df["infusion_number"], "infusion_number", 1, 10_000, err,
                         "infusion_number is not a whole number; allowed: 1, 2, 3, ... or blank",
                         "infusion_number is out of range; allowed: 1 to 10000 (the infusion the "
                         "questionnaire was completed before), or blank", dtype=np.int16)


def _is_age(col: str, headers: dict) -> bool:
    return is_age_column(col) or is_age_column(headers.get(col, col))


def _check_ages(df: pd.DataFrame, headers: dict, err: ProblemCollector) -> None:
    for col in df.columns:
        if _is_age(col, headers):
            err.add(identifying_ages(df[col]), col,
                    f"ages over {OLDEST_EXACT_AGE} (and bands above {OLDEST_EXACT_AGE}, such as 90-94 or 95+) are "
                    f"direct identifiers under HIPAA Safe Harbor; {DEIDENTIFIED_ONLY}: write every age over "
                    f"{OLDEST_EXACT_AGE} as '{AGE_TOP_CODE}'")


def _reconcile_and_assemble(raw: RawTable, rows: dict, err, warn, counts: dict, columns=None,
                            consume: bool = False) -> ValidationReport:
    """One questionnaire per patient and time, then the canonical frame and its warnings.  ``consume`` frees
    the raw columns once the frame is built (the warnings below read the frame)."""
    df = raw.frame
    when = time_key(rows["day"], rows["date"], rows["episode"])
    order = sort_order(rows["pcodes"], when)
    parsed = {**rows["scores"], "assessment_date": rows["date"], "treatment_start_date": rows["start"]}
    keep, dup_errors, collapsed = reconcile_duplicates(df, raw, rows["pcodes"], when, order, parsed)
    del when, order, parsed
    release_freed_memory()
    if len(dup_errors):
        err.add_rows(dup_errors)
        return ValidationReport(raw.source, err.table(), warn.table(), counts, None, raw.sha256)
    warn.add_rows(collapsed)
    # the columns the warnings below read are assembled too, then dropped if not asked for
    wanted = None if columns is None else {"patient_id", *columns}
    needed = None if wanted is None else wanted | _WARNING_COLUMNS
    instruments = rows.pop("instruments")  # every one attached: their warnings do not depend on ``columns``
    work = _working_arrays(raw, rows)
    # the incomplete questionnaires from the parsed arrays: the PHQ-9 item columns are then gathered into the
    # frame only when asked for (on a registry, eight columns and their masks: some 350 MB at the peak)
    incomplete = incomplete_questionnaires_of_arrays(work["complete"], raw.lines, work, keep)
    frame = assemble_canonical_frame(without_instrument_columns(df), keep, rows["pnames"], work, columns=needed)
    del work
    frame = attach_instrument_columns(frame, instruments, keep)
    if consume:  # the raw patient ids, attributes and infusion numbers: a few hundred MB on a registry
        for col in list(df.columns):
            del df[col]
        release_freed_memory()
    counts.update(add_frame_warnings(warn, frame, incomplete, collapsed=len(collapsed)))
    if wanted is not None:
        frame = frame.drop(columns=[c for c in frame.columns if c not in wanted])
        release_freed_memory()  # the working arrays and the columns not kept
    return ValidationReport(raw.source, no_problems(), warn.table(), counts, frame, raw.sha256)


#: Canonical columns the validation warnings read from the frame (baselines, infusion numbers; the incomplete
#: questionnaires are found in the parsed arrays).
_WARNING_COLUMNS = frozenset({"patient_id", "episode", "day", "complete", "line", "infusion_number"})


def _working_arrays(raw: RawTable, rows: dict) -> dict:
    """The parsed arrays by canonical column name, emptying ``rows`` so each is freed once gathered."""
    work = {"patient_id": rows.pop("pcodes"), "episode": rows.pop("episode"), "day": rows.pop("day"),
            "complete": rows.pop("complete"), "line": raw.lines, **rows.pop("scores"), PHQ9.total: rows.pop("phq_total")}
    date, start = rows.pop("date"), rows.pop("start")
    if "assessment_date" in raw.headers:
        work["assessment_date"] = date
    if "treatment_start_date" in raw.headers:
        work["treatment_start_date"] = start
    gad_total, infusion = rows.pop("gad_total"), rows.pop("infusion")
    if gad_total is not None:
        work[GAD7.total] = gad_total
    if infusion is not None:
        work["infusion_number"] = infusion
    return work
