"""Item validation and scoring of the scales beyond PHQ-9: one table of every problem.

A frame (or file) holding one instrument's item columns is checked cell by cell,
every problem at once, in the same problem table as questionnaire files (line,
column, value, problem), and the instrument's total is scored once by
:func:`analytics.instruments.score_instrument`.  Rules:

* every item column of the instrument must be present (a missing column refuses
  the table; a partial questionnaire is a blank cell, not a missing column);
* a cell is a whole number from 0 to the item maximum, or blank;
* a blank item leaves that questionnaire without a total (a warning: it is kept,
  and left out of totals and outcomes);
* a given total (``<key>_total``) must equal the score of complete items;
* C-SSRS screener cells are yes/no (spellings in ``CSSRS_YES_NO``); items 3-5
  must be blank unless item 2 is yes, and ``cssrs_6_recent`` unless item 6 is yes;
  items 1, 2 and 6 are always asked, so a blank there is a warning.

The checks reuse the cell parsers and problem collector of
:mod:`analytics.validation`, so messages and caps match questionnaire files.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS, QuestionnaireValidationError
from .instruments import Instrument, Screener, parse_yes_no, score_cssrs_screener, score_instrument
from .loading import RawTable, raw_table_from_frame
from .cell_parsing import parse_bounded
from .problems import ProblemCollector, no_problems

__all__ = ["ItemValidation", "validate_instrument_items", "validate_screener_items", "screener_answers"]


@dataclass(frozen=True)
class ItemValidation:
    """Outcome of checking one instrument's items.

    ``frame`` (``None`` when there are errors) holds the parsed items as nullable
    integers (booleans for a screener), the total (or the screener's flags) and ``line``.
    """

    instrument: str
    errors: pd.DataFrame
    warnings: pd.DataFrame
    frame: pd.DataFrame | None

    @property
    def ok(self) -> bool:
        return self.errors.empty

    def raise_if_invalid(self, source: str = "input") -> None:
        """Raise :class:`QuestionnaireValidationError` with every error."""
        if not self.ok:
            raise QuestionnaireValidationError(self.errors, source)


def _raw(source) -> RawTable:
    return source if isinstance(source, RawTable) else raw_table_from_frame(source)


def _missing_columns(raw: RawTable, wanted: list[str], name: str) -> pd.DataFrame:
    missing = [c for c in wanted if c not in raw.frame.columns]
    return pd.DataFrame([(1, c, "", f"required {name} column is missing; give all of "
                          f"{wanted[0]} ... {wanted[-1]} (blank cells are allowed)") for c in missing],
                        columns=PROBLEM_COLUMNS)


def validate_instrument_items(source, instrument: Instrument) -> ItemValidation:
    """Check and score one instrument's items (QIDS-SR16, PCL-5, MADRS, GAD-7, PHQ-9).

    Parameters
    ----------
    source : pandas.DataFrame or RawTable
        Rows of questionnaires; row ``i`` of a frame is reported as line ``i + 2``.
    instrument : Instrument

    Returns
    -------
    ItemValidation
    """
    raw = _raw(source)
    schema = _missing_columns(raw, instrument.items, instrument.name)
    if len(schema):
        return ItemValidation(instrument.key, schema, no_problems(), None)
    df, err, warn = raw.frame, ProblemCollector(raw), ProblemCollector(raw)
    hi = instrument.item_max
    parsed = {}
    for col in instrument.items:  # item columns, not rows
        parsed[col] = parse_bounded(
            df[col], col, 0, hi, err,
            f"{instrument.name} item is not a whole number; allowed: a whole number from 0 to {hi}, or blank",
            f"{instrument.name} item is out of range; allowed: 0 to {hi}, or blank")
    items = pd.DataFrame({c: pd.arrays.IntegerArray(v.astype(np.int8), v < 0) for c, v in parsed.items()})
    total = score_instrument(items, instrument)
    if instrument.total in df:
        given = parse_bounded(df[instrument.total], instrument.total, 0, instrument.total_max, err,
                               f"{instrument.name} total is not a whole number; allowed: a whole number from 0 "
                               f"to {instrument.total_max}, or blank",
                               f"{instrument.name} total is out of range; allowed: 0 to {instrument.total_max}, "
                               "or blank", dtype=np.int16)
        scored = total.to_numpy(dtype="float64", na_value=np.nan)
        disagree = (given >= 0) & ~np.isnan(scored) & (given != scored)
        rule = "the highest item of each domain, summed" if instrument.domains else "the sum of its items"
        err.add(disagree, instrument.total,
                f"{instrument.name} total does not equal {rule}; correct the total or the items")
    blank = items.isna().any(axis=1).to_numpy()
    if blank.any():
        names = np.full(len(items), "", dtype=object)
        for c in instrument.items:  # item columns, not rows
            names = np.where(items[c].isna().to_numpy(), names + c + ", ", names)
        warn.add_rows(pd.DataFrame({
            "line": raw.lines[blank], "column": pd.Series(names[blank], dtype="str").str.rstrip(", ").to_numpy(),
            "value": "", "problem": f"incomplete {instrument.name} (blank item): no total computed; left out of "
                                    "totals and outcomes", "kind": f"incomplete {instrument.name}"}))
    if err.parts:
        return ItemValidation(instrument.key, err.table(), warn.table(), None)
    frame = items.assign(**{instrument.total: total.to_numpy(), "line": raw.lines.astype(np.int32)})
    return ItemValidation(instrument.key, no_problems(), warn.table(), frame)


def screener_answers(df: pd.DataFrame, screener: Screener, err: ProblemCollector) -> dict[str, pd.Series]:
    """The screener's answers as nullable booleans (an absent item is all blank), with every answer that is
    not yes/no and every item answered although its gate question was no added to ``err``."""
    answers = {}
    for col in screener.items:
        if col not in df:
            answers[col] = pd.Series(pd.NA, index=df.index, dtype="boolean")
            continue
        answers[col], bad = parse_yes_no(df[col])
        err.add(bad, col, f"{screener.name} answer is not yes or no; allowed: yes/no, y/n, 1/0, true/false, "
                          "or blank when the item was not asked")
    for item, gate in screener.asked_if_yes:  # four rules, not rows
        not_asked = (answers[gate] == False).fillna(False).to_numpy()  # noqa: E712 (nullable boolean)
        answered = answers[item].notna().to_numpy()
        err.add(not_asked & answered, item,
                f"{item} is asked only when {gate} is yes, but {gate} is no here; leave {item} blank or "
                f"correct {gate}", kind=f"{item} answered although {gate} is no")
    return answers


def validate_screener_items(source, screener: Screener) -> ItemValidation:
    """Check the C-SSRS screener's yes/no items and skip logic, then flag each screener.

    Returns
    -------
    ItemValidation
        ``frame`` holds the items as nullable booleans, the flags of
        :func:`analytics.instruments.score_cssrs_screener` and ``line``.
    """
    raw = _raw(source)
    schema = _missing_columns(raw, screener.always_asked, screener.name)
    if len(schema):
        return ItemValidation(screener.key, schema, no_problems(), None)
    df, err, warn = raw.frame, ProblemCollector(raw), ProblemCollector(raw)
    answers = screener_answers(df, screener, err)
    for item, gate in screener.asked_if_yes:
        answered = answers[item].notna().to_numpy()
        opened = (answers[gate] == True).fillna(False).to_numpy()  # noqa: E712
        warn.add(opened & ~answered, item, f"{gate} is yes but {item} is blank: the screener is incomplete, "
                                           "so flags that need it are unknown", values="",
                 kind=f"{item} blank after a yes to {gate}")
    for col in screener.always_asked:
        warn.add(answers[col].isna().to_numpy(), col,
                 f"{col} is always asked but is blank: flags that need it are unknown", values="",
                 kind=f"{col} blank")
    if err.parts:
        return ItemValidation(screener.key, err.table(), warn.table(), None)
    items = pd.DataFrame(answers, index=df.index)
    frame = pd.concat([items, score_cssrs_screener(items, screener)], axis=1).reset_index(drop=True)
    frame["line"] = raw.lines.astype(np.int32)
    return ItemValidation(screener.key, no_problems(), warn.table(), frame)
