"""Study days: each questionnaire's episode and its day within that episode.

A row's study day is the file's ``day`` when given; else its assessment date
minus its episode's start (:func:`analytics.episodes.assign_episodes`); else,
when the episode has no start date, days since the episode's first scored
questionnaire.  Days more than :data:`DAY_LIMIT` from the start are refused.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cell_parsing import parse_bounded, parse_integer
from .definitions import DAY_LIMIT, EPISODE_LIMIT
from .episodes import assign_episodes
from .problems import ProblemCollector

__all__ = ["EPISODE_STRIDE", "given_study_days", "episode_of_rows",
           "derive_study_days", "time_key", "shown_day"]

#: Time key: episode blocks never overlap (|day| <= DAY_LIMIT); undated study days sort after by date.
EPISODE_STRIDE = 20_000
_DATE_AFTER = 1e7


def given_study_days(df: pd.DataFrame, err: ProblemCollector) -> tuple[np.ndarray, np.ndarray]:
    """The ``day`` column parsed (NaN where blank or refused) and its blank mask; all NaN when absent."""
    n = len(df)
    if "day" not in df:
        return np.full(n, np.nan, dtype=np.float32), np.ones(n, bool)
    day, blank, bad = parse_integer(df["day"])
    err.add(bad, "day", "day is not a whole number; allowed: the study day as a whole number, e.g. -3, 0, 14")
    with np.errstate(invalid="ignore"):
        far = ~bad & ~blank & (np.abs(day) > DAY_LIMIT)
    err.add(far, "day", f"day is out of range; allowed: -{DAY_LIMIT} to {DAY_LIMIT}")
    day[bad | far] = np.nan
    return day.astype(np.float32), blank  # whole days within DAY_LIMIT: exact in float32, half the memory


def episode_of_rows(df, pcodes, start, date, err: ProblemCollector):
    """Episode of every row and its start date (spec v2; see :mod:`analytics.episodes`).

    The day layout's ``episode`` column, when given, names the episode of its rows;
    a row with both a start date and an episode number must agree with the start's rank."""
    episode, ep_start = assign_episodes(pcodes, start, date)
    if "episode" not in df:
        return episode, ep_start
    given = parse_bounded(df["episode"], "episode", 1, EPISODE_LIMIT, err,
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


def derive_study_days(day, date, ep_start, episode, pcodes, complete, err: ProblemCollector) -> np.ndarray:
    """Study day within the episode: given day, else from the episode's start, else from its first scored
    questionnaire.  Days over :data:`DAY_LIMIT` are refused (NaN).  ``day`` is filled in place."""
    from_start = np.isnan(day) & ~np.isnan(date) & ~np.isnan(ep_start)
    np.subtract(date, ep_start, out=day, where=from_start)  # in place: no copies of the rows selected
    rest = np.isnan(day) & ~np.isnan(date)
    if rest.any():
        # only the rows of patients with such a row: the whole file's unit keys and group minima are
        # float64/int64 arrays the size of the file, at the engine's peak of memory
        wanted = np.zeros(int(pcodes.max()) + 2, bool)  # the last one: blank ids (code -1), as their own group
        wanted[pcodes[rest]] = True
        rows = np.flatnonzero(wanted[pcodes])
        del wanted
        unit = pcodes[rows].astype(np.int64) * (EPISODE_LIMIT + 1) + episode[rows]
        first = pd.Series(np.where(complete[rows], date[rows], np.nan), copy=False).groupby(unit).transform(
            "min").to_numpy()
        at = rest[rows]
        day[rows[at]] = date[rows[at]] - first[at]
    with np.errstate(invalid="ignore"):
        far = (day > DAY_LIMIT) | (day < -DAY_LIMIT)  # no temporary of absolute values the size of the file
    values, raw = None, getattr(err, "raw", None)
    if far.any() and raw is not None and "assessment_date" not in raw.frame and "assessment_date" in raw.headers:
        # the raw column was freed once parsed (whole days only): each cell's text is its ISO date
        values = np.datetime_as_string(date[far].astype(np.int64).astype("datetime64[D]"))
    err.add(far, "assessment_date", f"the assessment is more than {DAY_LIMIT} days from the treatment start; "
                                    "check both dates", values=values)
    day[far] = np.nan
    return day


def time_key(day: np.ndarray, date: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """One number ordering a patient's rows: by episode, then study day; rows with no study day (no scored
    questionnaire yet) after them, by date."""
    # in float64 and int64: episode blocks reach 2e7 (past float32's whole numbers, and int16 would wrap
    # from episode 3 on, sorting a third course before the first)
    key = episode.astype(np.float64)  # built in place: one float64 array, no temporaries of its size
    key -= 1
    key *= EPISODE_STRIDE
    key += day
    undated = np.isnan(key)
    key[undated] = date[undated] + _DATE_AFTER
    return key


def shown_day(key: np.ndarray) -> np.ndarray:
    """Text for a time key in messages: 'the same date' or 'study day N'."""
    day = (np.nan_to_num(key) + EPISODE_STRIDE // 2) % EPISODE_STRIDE - EPISODE_STRIDE // 2
    return np.where(key > 1e6, "the same date", "study day " + pd.Series(day, copy=False).astype("int64").astype("str"))
