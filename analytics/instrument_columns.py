"""Optional columns of the other instruments in a questionnaire file: checked, scored once, kept.

A questionnaire file always needs the PHQ-9 (see :mod:`analytics.questionnaire_schema`); beside it
a row may carry the QIDS-SR16 (``qids_sr16_1`` ... ``qids_sr16_16``, ``qids_sr16_total``), MADRS
(``madrs_1`` ... ``madrs_10``, ``madrs_total``), PCL-5 (``pcl5_1`` ... ``pcl5_20``, ``pcl5_total``)
and the C-SSRS screener (``cssrs_1`` ... ``cssrs_6``, ``cssrs_6_recent``).  GAD-7 columns are parsed
with the PHQ-9 by :mod:`analytics.score_parsing`.  The rules are those of
:mod:`analytics.instrument_validation` and of the PHQ-9 (spec v2), in the same problem table:

* an instrument is given as all of its items, or its total, or both (a file with some item
  columns and no total column is refused at line 1, naming what is missing);
* an item is a whole number from 0 to the item maximum, or blank; a total from 0 to the total
  maximum, or blank;
* a row's total is scored from complete items (QIDS-SR16: the highest item of each of its nine
  domains, summed); a given total must equal it, and may not be smaller than what the answered
  items already score; a given total with blank items is kept (as for the PHQ-9);
* a row with a blank item and no total has no total: a warning, left out of that instrument's outcomes;
* C-SSRS answers are yes/no; items 3-5 only after a yes to item 2, ``cssrs_6_recent`` only after
  a yes to item 6; its flags (:func:`analytics.instruments.score_cssrs_screener`) are computed once.

The stage works on whole columns (no loop over rows) and returns arrays in file order; the
validation module gathers them into the canonical frame in its row order.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .cell_parsing import parse_bounded
from .instrument_validation import screener_answers
from .instruments import CSSRS_SCREENER, MADRS, PCL5, QIDS_SR16, Instrument, score_cssrs_screener
from .problems import ProblemCollector, no_problems

__all__ = ["OPTIONAL_INSTRUMENTS", "CSSRS_FLAGS", "instrument_columns", "other_instruments_in",
           "parse_instrument_columns", "without_instrument_columns", "attach_instrument_columns",
           "incomplete_instrument_rows"]

#: Instruments a questionnaire file may carry beside the PHQ-9 (GAD-7 is parsed with the PHQ-9).
OPTIONAL_INSTRUMENTS = (QIDS_SR16, MADRS, PCL5)
#: C-SSRS screener flags kept in the canonical frame (computed, never read from a file).
CSSRS_FLAGS = ("recent_ideation", "recent_behaviour", "positive_screen")
_PREFIXES = tuple(f"{i.key}_" for i in OPTIONAL_INSTRUMENTS) + (f"{CSSRS_SCREENER.key}_",)
_KNOWN = {c for i in OPTIONAL_INSTRUMENTS for c in i.items + [i.total]} | set(CSSRS_SCREENER.items)
#: Spellings of QIDS columns without the "sr16" of the registry's names (refused with the right name).
_SHORT_QIDS = re.compile(r"^qids_(\d+|total)$")


def instrument_columns(columns) -> list[str]:
    """The columns among ``columns`` that belong to an optional instrument (items, totals, screener answers)."""
    return [c for c in columns if c in _KNOWN]


def _unknown_instrument_columns(df: pd.DataFrame, err: ProblemCollector) -> None:
    """Line-1 problems for a column named like an instrument's but not one of its columns (a typo, a computed
    flag, or QIDS items written ``qids_1``): it would otherwise be kept as text and never scored."""
    rows = []
    for c in df.columns:
        if not isinstance(c, str) or c in _KNOWN:
            continue
        if _SHORT_QIDS.match(c):
            rows.append((1, c, "", f"QIDS-SR16 columns are named {QIDS_SR16.key}_1 ... {QIDS_SR16.key}_16 and "
                                   f"{QIDS_SR16.total}; rename '{c}' (or map it) to "
                                   f"{QIDS_SR16.key}_{c.split('_', 1)[1]}"))
        elif c.startswith(_PREFIXES):
            inst = next(i for i in (*OPTIONAL_INSTRUMENTS, CSSRS_SCREENER) if c.startswith(f"{i.key}_"))
            allowed = ", ".join(CSSRS_SCREENER.items) if inst is CSSRS_SCREENER else \
                f"{inst.items[0]} ... {inst.items[-1]}, {inst.total}"
            rows.append((1, c, "", f"'{c}' is not a {inst.name} column; allowed: {allowed} (the tool computes "
                                   "totals it is not given and the screener's flags itself)"))
    if rows:
        err.add_rows(pd.DataFrame([(*r, "column named like an instrument's but not one") for r in rows],
                                  columns=["line", "column", "value", "problem", "kind"]))


def other_instruments_in(columns) -> list[str]:
    """Names of the non-PHQ-9 instruments with a column among ``columns`` (for the missing-PHQ-9 message)."""
    cols = set(columns)
    found = [i.name for i in (*OPTIONAL_INSTRUMENTS,) if cols & set(i.items + [i.total])]
    if any(c.startswith("gad7_") for c in cols):
        found.insert(0, "GAD-7")
    if cols & set(CSSRS_SCREENER.items):
        found.append(CSSRS_SCREENER.name)
    return found


def without_instrument_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without the optional instruments' raw columns (they are parsed, not text attributes)."""
    drop = instrument_columns(df.columns)
    return df.drop(columns=drop) if drop else df


def parse_instrument_columns(df: pd.DataFrame, err: ProblemCollector) -> dict[str, np.ndarray]:
    """Every optional instrument column present, parsed and checked; its totals and flags scored.

    Returns ``{column: array}`` in file order: items as int8 and totals as int16 with -1 for
    blank or none, C-SSRS answers and flags as int8 (1 yes, 0 no, -1 blank/unknown).
    Problems go to ``err`` (line, column, value, what is allowed).
    """
    _unknown_instrument_columns(df, err)
    out: dict[str, np.ndarray] = {}
    for inst in OPTIONAL_INSTRUMENTS:
        present = [c for c in inst.items + [inst.total] if c in df]
        if present:
            out.update(_scored_instrument(df, inst, err))
    if any(c in df for c in CSSRS_SCREENER.items):
        out.update(_screener(df, err))
    return out


def _scored_instrument(df: pd.DataFrame, inst: Instrument, err: ProblemCollector) -> dict[str, np.ndarray]:
    n = len(df)
    have = [c for c in inst.items if c in df]
    if have and len(have) < inst.n_items and inst.total not in df:
        missing = [c for c in inst.items if c not in df]
        err.add_rows(pd.DataFrame([(1, missing[0] if len(missing) == 1 else f"{missing[0]} ... {missing[-1]}", "",
                                    f"{inst.name} columns are incomplete: give all {inst.n_items} items "
                                    f"{inst.items[0]} ... {inst.items[-1]}, or {inst.total} (or both); missing: "
                                    f"{', '.join(missing)}", f"{inst.name} columns incomplete")],
                                  columns=["line", "column", "value", "problem", "kind"]))
        return {}
    arrays = {}
    for c in have:  # item columns, not rows
        arrays[c] = parse_bounded(df[c], c, 0, inst.item_max, err,
                                  f"{inst.name} item is not a whole number; allowed: a whole number from 0 to "
                                  f"{inst.item_max}, or blank",
                                  f"{inst.name} item is out of range; allowed: 0 to {inst.item_max}, or blank")
    given = None
    if inst.total in df:
        given = parse_bounded(df[inst.total], inst.total, 0, inst.total_max, err,
                              f"{inst.name} total is not a whole number; allowed: a whole number from 0 to "
                              f"{inst.total_max}, or blank",
                              f"{inst.name} total is out of range; allowed: 0 to {inst.total_max}, or blank",
                              dtype=np.int16)
    all_items = np.full(n, len(have) == inst.n_items)
    for c in have:
        all_items &= arrays[c] >= 0
    partial = _score(arrays, inst, n) if have else np.zeros(n, np.int16)  # blank items count 0: a lower bound
    total = np.where(all_items, partial, np.int16(-1)).astype(np.int16)
    if given is not None:
        has_total = given >= 0
        rule = "the highest item of each domain, summed" if inst.domains else "the sum of its items"
        disagree = all_items & has_total & (partial != given)
        err.add(disagree, inst.total, f"{inst.name} total does not equal {rule}; correct the total or the items",
                values=given[disagree].astype(str) if disagree.any() else None)
        if have:
            over = ~all_items & has_total & (partial > given)
            err.add(over, inst.total, f"{inst.name} total is smaller than the answered items already score; "
                                      "correct one of them", values=given[over].astype(str) if over.any() else None)
        total = np.where(~all_items & has_total, given, total).astype(np.int16)
    arrays[inst.total] = total
    return arrays


def _score(arrays: dict, inst: Instrument, n: int) -> np.ndarray:
    """Total with blank items counted as 0 (the score when every item is known)."""
    if inst.domains:  # QIDS-SR16: the highest item of each domain
        total = np.zeros(n, np.int16)
        for _, numbers in inst.domains:  # nine domains, not rows
            total += np.max(np.stack([np.maximum(arrays[f"{inst.key}_{i}"], 0) for i in numbers]), axis=0)
        return total
    total = np.zeros(n, np.int16)
    for c in inst.items:
        total += np.maximum(arrays[c], 0)
    return total


def _screener(df: pd.DataFrame, err: ProblemCollector) -> dict[str, np.ndarray]:
    s = CSSRS_SCREENER
    missing = [c for c in s.always_asked if c not in df]
    if missing:
        err.add_rows(pd.DataFrame([(1, ", ".join(missing), "",
                                    f"{s.name} columns are incomplete: {', '.join(s.always_asked)} are always asked, "
                                    f"so give them whenever any {s.key}_ column is given (blank cells are allowed)",
                                    f"{s.name} columns incomplete")],
                                  columns=["line", "column", "value", "problem", "kind"]))
        return {}
    answers = screener_answers(df, s, err)
    items = pd.DataFrame(answers, index=df.index)
    flags = score_cssrs_screener(items, s)
    out = {c: _int8(answers[c]) for c in s.items if c in df}
    out.update({f"{s.key}_{f}": _int8(flags[f]) for f in CSSRS_FLAGS})
    return out


def _int8(values: pd.Series) -> np.ndarray:
    return values.astype("Int8").fillna(-1).to_numpy(dtype=np.int8)


def attach_instrument_columns(frame: pd.DataFrame, arrays: dict, keep) -> pd.DataFrame:
    """The canonical frame with the parsed instrument columns gathered in its row order (``keep``; None = as is).

    Items and screener answers become nullable ``Int8``/``boolean``, totals ``Int16``.
    """
    if not arrays:
        return frame
    cols = {}
    for c, v in arrays.items():
        v = v if keep is None else v[keep]
        if c.startswith(f"{CSSRS_SCREENER.key}_"):
            cols[c] = pd.arrays.BooleanArray(v == 1, v < 0)
        else:
            cols[c] = pd.arrays.IntegerArray(v.astype(np.int16 if c.endswith("_total") else np.int8), v < 0)
    extra = pd.DataFrame(cols, index=frame.index, copy=False)
    line = frame.pop("line")
    return pd.concat([frame, extra], axis=1).assign(line=line)


def incomplete_instrument_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Warnings: a row with a blank item and no total of an optional instrument (left out of its outcomes), and
    a C-SSRS screener left incomplete (an always-asked item blank, or a gated item blank after a yes)."""
    parts = [_incomplete_screeners(frame)]
    for inst in OPTIONAL_INSTRUMENTS:
        have = [c for c in inst.items if c in frame]
        if not have or inst.total not in frame:
            continue
        blank_any = frame[have].isna().any(axis=1).to_numpy()
        answered_any = frame[have].notna().any(axis=1).to_numpy()
        hit = blank_any & answered_any & frame[inst.total].isna().to_numpy()
        if hit.any():
            parts.append(pd.DataFrame({
                "line": frame["line"].to_numpy()[hit], "column": f"{inst.items[0]} ... {inst.items[-1]}", "value": "",
                "problem": f"incomplete {inst.name} (blank item and no total): not scored; left out of {inst.name} "
                           "outcomes", "kind": f"incomplete {inst.name}"}))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else no_problems()


def _incomplete_screeners(frame: pd.DataFrame) -> pd.DataFrame:
    s = CSSRS_SCREENER
    if not all(c in frame for c in s.always_asked):
        return no_problems()
    answered = frame[[c for c in s.items if c in frame]].notna().any(axis=1).to_numpy()
    lines = frame["line"].to_numpy()
    parts = []
    for col in s.always_asked:
        hit = answered & frame[col].isna().to_numpy()
        parts.append(pd.DataFrame({"line": lines[hit], "column": col, "value": "",
                                   "problem": f"{col} is always asked but is blank: the screener's flags that need "
                                              "it are unknown", "kind": f"{col} blank"}))
    for item, gate in s.asked_if_yes:  # four rules, not rows
        opened = frame[gate].fillna(False).to_numpy(dtype=bool)
        blank = frame[item].isna().to_numpy() if item in frame else np.ones(len(frame), bool)
        hit = opened & blank
        parts.append(pd.DataFrame({"line": lines[hit], "column": item, "value": "",
                                   "problem": f"{gate} is yes but {item} is blank: the screener is incomplete, so "
                                              "flags that need it are unknown",
                                   "kind": f"{item} blank after a yes to {gate}"}))
    return pd.concat(parts, ignore_index=True)
