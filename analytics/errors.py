"""Exceptions raised by the analytics package.

Every exception says what is wrong and what to do about it.  Input problems
are collected, never raised one at a time: :class:`QuestionnaireValidationError`
carries all of them as a table (line, column, value, problem).
"""
from __future__ import annotations

import pandas as pd

__all__ = [
    "AnalyticsError",
    "DefinitionError",
    "QuestionnaireValidationError",
    "UnreadableFileError",
    "StoreUnusableError",
    "StoreBusyError",
    "ImportConflictError",
    "SmallCohortError",
    "SessionValidationError",
    "SessionAlignmentError",
    "SettingsError",
    "SessionImportConflictError",
    "NoDataForQuarterError",
    "ImpossibleCountError",
    "PublishedFiguresError",
    "PROBLEM_COLUMNS",
]

#: Columns of every problem table (errors and warnings alike).
PROBLEM_COLUMNS = ["line", "column", "value", "problem"]


class AnalyticsError(Exception):
    """Base class: every error this package raises on purpose."""


class DefinitionError(AnalyticsError, ValueError):
    """An outcome definition or option is out of its allowed range.

    The message names the option, the value given and the values allowed.
    """


class QuestionnaireValidationError(AnalyticsError):
    """The questionnaire file was refused; nothing from it was loaded.

    Attributes
    ----------
    problems : pandas.DataFrame
        One row per problem with columns ``line`` (file line, header = 1),
        ``column``, ``value`` and ``problem``.
    source : str
        The file name, for messages.
    """

    def __init__(self, problems: pd.DataFrame, source: str = "input"):
        self.problems = problems.reset_index(drop=True)
        self.source = source
        n = len(self.problems)
        first = self.problems.iloc[0] if n else None
        head = (
            f"{source}: refused, {n} problem{'s' if n != 1 else ''} found; nothing was loaded."
        )
        if first is not None:
            where = f"line {first['line']}" if pd.notna(first["line"]) else "file"
            col = f", column {first['column']}" if first["column"] else ""
            head += f" First: {where}{col}: {first['problem']}"
        head += " Fix the file and load it again (run `python -m analytics validate FILE` for the full list)."
        super().__init__(head)


class UnreadableFileError(QuestionnaireValidationError):
    """The file cannot be read at all (missing, wrong type, corrupt, empty).

    A :class:`QuestionnaireValidationError` too, so one ``except`` catches every
    refusal; ``problems`` holds the single problem (with its line when known).
    """

    def __init__(self, message: str, *, line: int | None = None, source: str = "input"):
        AnalyticsError.__init__(self, message)
        self.problems = pd.DataFrame([(line, "", "", message)], columns=PROBLEM_COLUMNS)
        self.source = source


class StoreUnusableError(AnalyticsError):
    """The clinic store cannot be used as it is: read-only, disk full, damaged, or not a file.

    ``reason`` is one of ``"read-only"``, ``"disk full"``, ``"damaged"``, ``"folder"``, ``"unreadable"``,
    ``"unreachable"`` (a PostgreSQL server that cannot be reached or refuses the sign-in);
    the message says what happened to the data (nothing was written) and what to do.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class StoreBusyError(AnalyticsError):
    """Another import holds the store; nothing was written."""


class ImportConflictError(AnalyticsError):
    """The file changes questionnaires already in the store; nothing was written.

    Attributes
    ----------
    conflicts : pandas.DataFrame
        One row per changed value: ``line``, ``patient_id``, ``occasion``,
        ``column``, ``stored``, ``new``.
    """

    def __init__(self, conflicts: pd.DataFrame, source: str):
        self.conflicts = conflicts
        n = conflicts[["patient_id", "occasion"]].drop_duplicates().shape[0]
        super().__init__(
            f"{source}: {n} questionnaire(s) already in the store have different values in this file; nothing was "
            "imported. Check the rows listed; if the file holds corrections, import it again with "
            "--accept-corrections (the old values are kept in the correction history)."
        )


class SessionImportConflictError(ImportConflictError):
    """The sessions table changes sessions already in the store; nothing was written (``conflicts`` as above)."""

    def __init__(self, conflicts: pd.DataFrame, source: str):
        self.conflicts = conflicts
        n = conflicts[["patient_id", "occasion"]].drop_duplicates().shape[0]
        AnalyticsError.__init__(
            self, f"{source}: {n} session(s) already in the store have different values in this table; nothing "
                  "was imported. Check the rows listed; if the table holds corrections, import it again with "
                  "--accept-corrections (the old values are kept in the correction history).")


class SmallCohortError(AnalyticsError):
    """A research export of a cohort of 0 to ``SMALL_CELL_MAX`` patients was refused; nothing was written."""


class SessionValidationError(QuestionnaireValidationError):
    """The sessions table was refused; nothing from it was loaded.

    A :class:`QuestionnaireValidationError` too (same ``problems`` table of line,
    column, value and problem), so one ``except`` catches every refused input.
    """

    def __init__(self, problems: pd.DataFrame, source: str = "sessions"):
        self.problems = problems.reset_index(drop=True)
        self.source = source
        n = len(self.problems)
        head = f"{source}: sessions table refused, {n} problem{'s' if n != 1 else ''} found; nothing was loaded."
        if n:
            first = self.problems.iloc[0]
            where = f"line {first['line']}" if pd.notna(first["line"]) else "file"
            col = f", column {first['column']}" if first["column"] else ""
            head += f" First: {where}{col}: {first['problem']}"
        head += " Fix the table and load it again; the report lists every problem."
        AnalyticsError.__init__(self, head)


class SessionAlignmentError(AnalyticsError, ValueError):
    """Sessions and questionnaires share no time axis (dates or study days).

    The message says which columns each table has and what to add.
    """


class SettingsError(AnalyticsError, ValueError):
    """A setting (the clinic's name, say) or the settings file is not usable; the message says what to change."""
class NoDataForQuarterError(AnalyticsError):
    """No patient started treatment in the quarter asked for (or the data carry no calendar dates).

    The message names the quarter and its dates and says which quarters the data do cover.
    """


class ImpossibleCountError(AnalyticsError, ValueError):
    """A rate was asked for with an impossible count: events below 0 or above the denominator.

    A :class:`ValueError` too, for callers that check arguments that way.  It means the numerator
    counted units outside the denominator: a fault in the calling code, not in the user's data.
    """


class PublishedFiguresError(AnalyticsError):
    """The published-figures file (``analytics/data/published_benchmarks.toml``) is incomplete.

    A packaging fault, not the user's input: the message names the entry and what it lacks.
    """
