"""Problem tables: the (line, column, value, problem) rows a validator reports.

Every validator (questionnaires, sessions, instrument items) collects its
problems here, vectorised over row masks, and caps each kind of problem so a
file with a million bad cells gives a readable report.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS
from .loading import RawTable

__all__ = ["MAX_PROBLEMS_PER_KIND", "ProblemCollector", "no_problems", "cap_problems", "format_problems"]

#: Rows kept per (column, problem) in a report; the rest are counted in one line.
MAX_PROBLEMS_PER_KIND = 200


def no_problems() -> pd.DataFrame:
    """An empty problem table."""
    return pd.DataFrame(columns=PROBLEM_COLUMNS)


def format_problems(table: pd.DataFrame) -> str:
    """A problem table as aligned text (long values shortened)."""
    shown = table.assign(
        line=table["line"].map(lambda v: "" if pd.isna(v) else str(int(v))),
        value=table["value"].map(lambda v: (v[:37] + "...") if len(str(v)) > 40 else str(v)),
    )
    return shown.to_string(index=False, justify="left")


def cells_as_text(col: pd.Series, mask: np.ndarray) -> np.ndarray:
    """The cells at ``mask`` as text, for problem reports (only the few flagged rows)."""
    part = col[mask]
    return part.astype("str").where(part.notna(), "").to_numpy()


class ProblemCollector:
    """Gathers problem rows for one file, vectorised over masks."""

    def __init__(self, raw: RawTable):
        self.raw = raw
        self.parts: list[pd.DataFrame] = []

    def add(self, mask, column: str, problem, values=None, kind: str | None = None):
        """One problem row for every row at ``mask`` (``problem``: one text, or one per flagged row)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if values is None:
            values = cells_as_text(self.raw.frame[column], mask) if column in self.raw.frame else ""
        self.parts.append(pd.DataFrame({
            "line": self.raw.lines[mask],
            "column": self.raw.headers.get(column, column),
            "value": values,
            "problem": problem,
            "kind": kind or (problem if isinstance(problem, str) else column),
        }))

    def add_rows(self, frame: pd.DataFrame, kind: str | None = None):
        """Problem rows already tabulated (``kind`` groups them for the cap)."""
        if len(frame):
            self.parts.append(frame[PROBLEM_COLUMNS].assign(
                kind=kind if kind else frame["kind"] if "kind" in frame else frame["problem"]))

    def table(self) -> pd.DataFrame:
        """Every problem, by line then column, capped per kind."""
        if not self.parts:
            return no_problems()
        table = pd.concat(self.parts, ignore_index=True)
        table["value"] = table["value"].astype("str")
        return cap_problems(table.sort_values(["line", "column"], kind="stable", ignore_index=True))


def cap_problems(table: pd.DataFrame) -> pd.DataFrame:
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
